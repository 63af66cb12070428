/**
 * Generation stepping in the worker: continues the latest run's tokens with the model it ran, through the same
 * session kind, one token per step on the model's own key/value cache where the graph has one (kv-forward.ts), else
 * re-running the whole sequence each step (src/shared/generate.ts); posts each step's token and the predicting
 * position's attention row as it is chosen, and stops before the next step when asked or superseded.
 */
import { generateSteps, type StepOutput } from '../../src/shared/generate';
import { messageOf } from '../../src/shared/backend-fallback';
import type { PanelToWorker, WorkerToPanel } from '../../src/shared/protocol';
import type { ExplainableRun } from './explain';
import { cachePairs, cachedForward } from '../../src/shared/kv-forward';
import { toFloat32, type SessionLike } from '../../src/shared/tapped-run';
import * as ort from 'onnxruntime-web';
import { getSession, runModel, type PreparedModel } from './session';
import { pagedRowSource, runOnPaged } from './paged-run';

type GenerateMessage = Extract<PanelToWorker, { type: 'generate' }>;

/** What generation needs from the worker: the run to continue, posting, and whether to stop. */
export interface GenerateContext {
  readonly run: (ExplainableRun & { backend: Parameters<typeof getSession>[1] }) | undefined;
  post(msg: WorkerToPanel, transfer?: Transferable[]): void;
  /** True once the panel asked to stop this generation, or a newer run came. */
  stopped(): boolean;
}

/** A macrotask between steps: onnxruntime's run may not yield to this worker's messages, and a 'stopGenerate' must get in. */
const yieldToMessages = () => new Promise((r) => setTimeout(r, 0));

/**
 * The step function for a run: on the model's key/value cache when its graph has one and its attention is read from
 * Softmax taps or Q/K (not fused operators), else a forward pass on the whole sequence each step.
 */
async function steppingOf(model: PreparedModel, run: GenerateContext['run'] & object):
  Promise<{ forward: (ids: readonly number[]) => Promise<StepOutput>; stepping: 'cache' | 'rerun'; dispose(): void }> {
  const pairs = model.plan.fused ? undefined : cachePairs(model.summary);
  const rows = !pairs ? undefined : run.paged ? pagedRowSource(model) : { kind: 'softmax' as const, names: run.layerNames };
  if (!pairs || !rows || !model.logitsName) return { forward: forwardOf(model, run), stepping: 'rerun', dispose: () => undefined };
  const session = await getSession(model, run.backend, run.paged ? 'paged' : 'full');
  const cached = cachedForward(ort, session as unknown as SessionLike, model.summary, pairs, rows, model.logitsName, toFloat32);
  return { forward: async (ids) => { await yieldToMessages(); return cached.forward(ids); }, stepping: 'cache', dispose: () => cached.dispose() };
}

/** One forward pass on the whole sequence: the attention stack and the last position's logits. */
function forwardOf(model: PreparedModel, run: GenerateContext['run'] & object): (ids: readonly number[]) => Promise<StepOutput> {
  return async (ids) => {
    await yieldToMessages();
    const session = await getSession(model, run.backend, run.paged ? 'paged' : 'full');
    const out = run.paged ? await runOnPaged(model, session, ids) : await runModel(model, session, ids);
    if (!out.logits || !out.vocab) throw new Error('This model has no logits output, so it cannot generate.');
    const T = ids.length;
    return { attention: out.attention, lastLogits: out.logits.subarray((T - 1) * out.vocab, T * out.vocab) };
  };
}

/** Runs generation `msg.id` to its end, posting each step and one 'generateEnd'. */
export async function handleGenerate(msg: GenerateMessage, ctx: GenerateContext): Promise<void> {
  const tokens: number[] = [];
  let stepping: 'cache' | 'rerun' | undefined;
  const end = (reason: Extract<WorkerToPanel, { type: 'generateEnd' }>['reason'], error?: string): void =>
    ctx.post({ type: 'generateEnd', id: msg.id, runId: msg.runId, tokens, reason, ...(error ? { error } : {}), ...(stepping ? { stepping } : {}) });
  const run = ctx.run;
  if (!run || run.runId !== msg.runId) return end('error', 'Only the latest run of a decoder model can be continued; run Show Attention again.');
  if (!run.model.logitsName) return end('error', 'This model has no logits output, so it cannot generate.');
  let dispose = () => undefined as void;
  try {
    const s = await steppingOf(run.model, run);
    stepping = s.stepping;
    dispose = () => s.dispose();
    const gen = generateSteps(s.forward, run.inputIds, msg.steps, msg.sampling, { stop: () => ctx.stopped(), maxTokens: msg.maxTokens });
    for await (const s of gen) {
      tokens.push(s.token);
      const row = s.row.buffer as ArrayBuffer;
      ctx.post({ type: 'generateStep', id: msg.id, runId: msg.runId, step: s.step, token: s.token, layers: s.layers, heads: s.heads,
        keys: s.keys, row }, [row]);
    }
  } catch (e) {
    return end('error', messageOf(e));
  } finally {
    dispose();
  }
  if (ctx.stopped()) return end('stopped');
  end(tokens.length < msg.steps ? 'context' : 'done');
}
