/**
 * Generation stepping in the worker: continues the latest run's tokens with the model it ran (re-running the whole
 * sequence each step through the same session kind, src/shared/generate.ts), posting each step's token and the
 * predicting position's attention row as it is chosen, and stopping before the next step when asked or superseded.
 */
import { generateSteps, type StepOutput } from '../../src/shared/generate';
import { messageOf } from '../../src/shared/backend-fallback';
import type { PanelToWorker, WorkerToPanel } from '../../src/shared/protocol';
import type { ExplainableRun } from './explain';
import { getSession, runModel, type PreparedModel } from './session';
import { runOnPaged } from './paged-run';

type GenerateMessage = Extract<PanelToWorker, { type: 'generate' }>;

/** What generation needs from the worker: the run to continue, posting, and whether to stop. */
export interface GenerateContext {
  readonly run: (ExplainableRun & { backend: Parameters<typeof getSession>[1] }) | undefined;
  post(msg: WorkerToPanel, transfer?: Transferable[]): void;
  /** True once the panel asked to stop this generation, or a newer run came. */
  stopped(): boolean;
}

/** One forward pass on the whole sequence: the attention stack and the last position's logits. */
function forwardOf(model: PreparedModel, run: GenerateContext['run'] & object): (ids: readonly number[]) => Promise<StepOutput> {
  return async (ids) => {
    // A macrotask between steps: onnxruntime's run may not yield to this worker's messages, and a 'stopGenerate' must get in.
    await new Promise((r) => setTimeout(r, 0));
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
  const end = (reason: Extract<WorkerToPanel, { type: 'generateEnd' }>['reason'], error?: string): void =>
    ctx.post({ type: 'generateEnd', id: msg.id, runId: msg.runId, tokens, reason, ...(error ? { error } : {}) });
  const run = ctx.run;
  if (!run || run.runId !== msg.runId) return end('error', 'Only the latest run of a decoder model can be continued; run Show Attention again.');
  if (!run.model.logitsName) return end('error', 'This model has no logits output, so it cannot generate.');
  try {
    const gen = generateSteps(forwardOf(run.model, run), run.inputIds, msg.steps, msg.sampling, { stop: () => ctx.stopped(), maxTokens: msg.maxTokens });
    for await (const s of gen) {
      tokens.push(s.token);
      const row = s.row.buffer as ArrayBuffer;
      ctx.post({ type: 'generateStep', id: msg.id, runId: msg.runId, step: s.step, token: s.token, layers: s.layers, heads: s.heads,
        keys: s.keys, row }, [row]);
    }
  } catch (e) {
    return end('error', messageOf(e));
  }
  if (ctx.stopped()) return end('stopped');
  end(tokens.length < msg.steps ? 'context' : 'done');
}
