/**
 * The panel's run pipeline, apart from its UI: runs a 'show' request in the inference worker, checks what
 * comes back against the tokens, and builds the data the views draw (one RunData per stack, logits), plus
 * the result message for the host. main.ts keeps the UI state and decides what to render.
 */
import { unpackAttention } from '../../src/shared/attention';
import type { AttentionStackKind, HostToPanel, PanelToHost, Timings } from '../../src/shared/protocol';
import type { InferenceClient, ProgressFn, RunResult } from './client';
import { deadlineReason, DeadlineError, WEBGPU_DEADLINE_MS } from '../../src/shared/backend-fallback';
import { RunData } from './state';
import { stackRuns } from './stack-run';

type ShowMessage = Extract<HostToPanel, { type: 'show' }>;

/** A finished run, as the views draw it. */
export interface LoadedRun {
  /** The default view: self-attention, or the encoder's for encoder–decoder models. */
  readonly run: RunData;
  /** Encoder–decoder models: one RunData per stack. */
  readonly stacks?: Map<AttentionStackKind, RunData>;
  /** Float32 [T, vocab] logits of decoder models, for next-token predictions. */
  readonly logits?: { readonly runId: number; readonly data: Float32Array; readonly vocab: number };
  readonly result: RunResult;
}

/** True when the model is encoder–decoder but the host sent no decoder tokens: only the encoder runs. */
export const encoderOnly = (msg: ShowMessage): boolean => !!msg.model.decoderOnnxUri && !msg.decoderTokens?.length;

/**
 * Runs `msg` in the worker and builds its views' data. Throws what the worker reported, CancelledError when a
 * newer run replaced it, or an Error when the attention does not cover the tokens.
 */
export async function loadRun(client: InferenceClient, msg: ShowMessage, progress: ProgressFn): Promise<LoadedRun> {
  const decoderIds = msg.model.decoderOnnxUri && !encoderOnly(msg) ? msg.decoderTokens!.map((t) => t.id) : undefined;
  const ids = msg.tokens.map((t) => t.id);
  let result: RunResult;
  try {
    result = await client.run(msg.runId, msg.model, ids, msg.backend, progress,
      { decoderInputIds: decoderIds, webgpuDeadlineMs: msg.webgpuDeadlineMs ?? WEBGPU_DEADLINE_MS, wasmThreads: msg.wasmThreads });
  } catch (e) {
    if (!(e instanceof DeadlineError)) throw e;
    // WebGPU passed its deadline: the client replaced the worker; the same input runs on WASM, and the panel says why.
    progress('loading', 'wasm');
    result = { ...await client.run(msg.runId, msg.model, ids, 'wasm', progress, { decoderInputIds: decoderIds, wasmThreads: msg.wasmThreads }),
      fallbackReason: deadlineReason(e) };
  }
  // Encoder–decoder results: one view per stack; `attention` (the encoder's) backs the default run.
  const stacks = result.stacks?.length ? stackRuns(msg.runId, msg.text, msg.tokens, msg.decoderTokens ?? [], result.stacks) : undefined;
  const attention = unpackAttention(result.attention); // refuses a buffer whose length is not layers × heads × queries × keys
  if (attention.queries !== msg.tokens.length) throw new Error(`The attention covers ${attention.queries} tokens, not ${msg.tokens.length}.`);
  const logits = result.logits && result.vocab ? { runId: msg.runId, data: new Float32Array(result.logits), vocab: result.vocab } : undefined;
  return { run: new RunData(msg.runId, msg.text, msg.tokens, attention), stacks, logits, result };
}

/** The result message for the host: its own copy of the attention (VS Code may transfer, i.e. detach, buffers it is given). */
export function resultForHost(loaded: LoadedRun, timings: Timings): Extract<PanelToHost, { type: 'result' }> {
  const r = loaded.result;
  return {
    type: 'result', runId: r.runId, backendUsed: r.backendUsed, fallbackReason: r.fallbackReason,
    ...(r.threads !== undefined ? { threads: r.threads } : {}),
    attention: { ...r.attention, data: loaded.run.attention!.data.slice().buffer },
    ...(r.stacks ? { stacks: r.stacks.map((s) => ({ ...s, data: s.data.slice(0) })) } : {}),
    timings,
  };
}
