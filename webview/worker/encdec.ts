/**
 * Encoder–decoder runs in the inference worker: the encoder on the input ids, then the decoder on its own
 * ids (the host's decoder tokens) with the encoder's hidden states, through the shared runner
 * (src/shared/tapped-run.ts). Answers with the encoder, decoder and cross stacks, `attention` being the
 * encoder's; sessions are cached per model and backend like single models, with the same WebGPU fallback.
 */
import * as ort from 'onnxruntime-web';
import type { BackendUsed, PanelToWorker, WorkerToPanel } from '../../src/shared/protocol';
import type { Attention } from '../../src/shared/attention';
import { shapesOf } from '../../src/shared/attention-query';
import { runEncoderDecoder, type OrtTensorCtor, type SessionLike, type TappedHandle } from '../../src/shared/tapped-run';
import { chooseBackend, getSession, wasmThreads, type PreparedModel, type SessionKind } from './session';
import { encDecSessionKind, runEncDecPaged } from './encdec-paged';
import { stepWithFallback } from '../../src/shared/backend-fallback';

type RunMessage = Extract<PanelToWorker, { type: 'run' }>;

/** What the worker lends an encoder–decoder run: posting, and whether the run has gone stale. */
export interface EncDecContext {
  post(msg: WorkerToPanel, transfer?: Transferable[]): void;
  stale(): boolean;
  /** Keeps the run's stacks in the worker, which answers queries about them. */
  keep(stacks: readonly Attention[]): void;
}

async function handles(model: PreparedModel, decoder: PreparedModel, backend: BackendUsed, kind: SessionKind): Promise<[TappedHandle, TappedHandle]> {
  const [es, ds] = await Promise.all([getSession(model, backend, kind), getSession(decoder, backend, kind)]);
  return [
    { session: es as unknown as SessionLike, summary: model.summary, plan: model.plan },
    { session: ds as unknown as SessionLike, summary: decoder.summary, plan: decoder.plan },
  ];
}

/** Runs an encoder–decoder model for a 'run' message and posts its result; throws what the panel should show. */
export async function handleEncoderDecoderRun(msg: RunMessage, model: PreparedModel, ctx: EncDecContext): Promise<void> {
  const { runId } = msg;
  const decoder = model.decoder;
  if (!decoder) throw new Error('The run has decoder input ids but the worker holds no decoder for this model; reload the panel.');
  const decoderIds = msg.decoderInputIds;
  if (!decoderIds?.length) throw new Error('This encoder–decoder model needs decoder tokens, and the run has none.');
  const t0 = performance.now();
  const chosen = await chooseBackend(msg.backend);
  // The same WebGPU → WASM fallback as single models (src/shared/backend-fallback.ts).
  ctx.post({ type: 'progress', runId, stage: 'loading', backend: chosen.backend });
  // A model identified for paging starts with its narrowed sessions (encdec-paged.ts), as single models do.
  const recompute = msg.recompute ?? 'auto';
  const kind = encDecSessionKind(model, msg.inputIds.length, decoderIds.length, recompute);
  const started = await stepWithFallback(chosen.backend, (b) => handles(model, decoder, b, kind), { doing: 'start' });
  const loadMs = performance.now() - t0;
  if (ctx.stale()) return;
  ctx.post({ type: 'progress', runId, stage: 'running', backend: started.backend });
  const ortCtor = ort as unknown as OrtTensorCtor;
  let t1 = performance.now();
  const ran = await stepWithFallback(started.backend, async (b) => {
    const pair = b === started.backend ? started.value : await handles(model, decoder, b, kind);
    t1 = performance.now();
    const paged = await runEncDecPaged(model, b, msg.inputIds, decoderIds, recompute, msg.relativeMaxDistance);
    return paged ?? runEncoderDecoder(ortCtor, pair[0], pair[1], msg.inputIds, { decoderIds });
  }, { doing: 'run the model', onFallback: () => ctx.post({ type: 'progress', runId, stage: 'running', backend: 'wasm' }) });
  const inferenceMs = performance.now() - t1;
  const out = ran.value;
  const backend = ran.backend;
  const fallbackReason = ran.fallbackReason ?? started.fallbackReason ?? chosen.fallbackReason;
  if (ctx.stale()) return;
  // The encoder's stack first: it is the run's main stack (the host's shapes[0]).
  // Only decoder self-attention is causal; encoder and cross stacks see every key (as the panel draws them).
  const ordered = out.stacks.map((s) => (s.kind === 'decoder' ? s : { ...s, causal: false })).sort((a, b) => Number(b.kind === 'encoder') - Number(a.kind === 'encoder'));
  ctx.keep(ordered);
  ctx.post({ type: 'result', runId, backendUsed: backend, fallbackReason, shapes: shapesOf(ordered), loadMs, inferenceMs,
    ...('paths' in out ? { paths: out.paths } : {}),
    ...(backend === 'wasm' ? { threads: wasmThreads() } : {}) });
}
