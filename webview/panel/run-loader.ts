/**
 * The panel's run pipeline, apart from its UI: runs a 'show' request in the inference worker, checks what
 * comes back against the tokens, and builds the data the views draw (one RunData per stack, logits), plus
 * the result message for the host. main.ts keeps the UI state and decides what to render.
 */
import type { AttentionStackKind, HostToPanel, PanelToHost, Timings } from '../../src/shared/protocol';
import type { InferenceClient, ProgressFn, RunResult } from './client';
import { deadlineReason, DeadlineError, WEBGPU_DEADLINE_MS } from '../../src/shared/backend-fallback';
import { RunData, type AttentionSource } from './state';
import { stackRuns } from './stack-run';

type ShowMessage = Extract<HostToPanel, { type: 'show' }>;

/** A finished run, as the views draw it. */
export interface LoadedRun {
  /** The default view: self-attention, or the encoder's for encoder–decoder models. */
  readonly run: RunData;
  /** Encoder–decoder models: one RunData per stack. */
  readonly stacks?: Map<AttentionStackKind, RunData>;
  readonly result: RunResult;
}

/** True when the model is encoder–decoder but the host sent no decoder tokens: only the encoder runs. */
export const encoderOnly = (msg: ShowMessage): boolean => !!msg.model.decoderOnnxUri && !msg.decoderTokens?.length;

/**
 * Runs `msg` in the worker and builds its views' data. Throws what the worker reported, CancelledError when a
 * newer run replaced it, or an Error when the attention does not cover the tokens.
 */
export async function loadRun(client: InferenceClient, msg: ShowMessage, progress: ProgressFn, changed: () => void): Promise<LoadedRun> {
  const decoderIds = msg.model.decoderOnnxUri && !encoderOnly(msg) ? msg.decoderTokens!.map((t) => t.id) : undefined;
  const ids = msg.tokens.map((t) => t.id);
  let result: RunResult;
  try {
    result = await client.run(msg.runId, msg.model, ids, msg.backend, progress,
      { decoderInputIds: decoderIds, webgpuDeadlineMs: msg.webgpuDeadlineMs ?? WEBGPU_DEADLINE_MS, wasmThreads: msg.wasmThreads, recompute: msg.recompute });
  } catch (e) {
    if (!(e instanceof DeadlineError)) throw e;
    // WebGPU passed its deadline: the client replaced the worker; the same input runs on WASM, and the panel says why.
    progress({ stage: 'session', backend: 'wasm' });
    result = { ...await client.run(msg.runId, msg.model, ids, 'wasm', progress, { decoderInputIds: decoderIds, wasmThreads: msg.wasmThreads, recompute: msg.recompute }),
      fallbackReason: deadlineReason(e) };
  }
  // The worker keeps the stacks: each RunData asks it for the rows and display-size matrices its views draw.
  const source: AttentionSource = {
    ask: async (query, weighted) => {
      const a = await client.query(msg.runId, query, weighted);
      if (!a.answer) throw new Error(a.error ?? 'no answer');
      return a.answer;
    },
    changed,
  };
  const shapes = result.shapes;
  const main = shapes[0];
  if (!main || main.queries !== msg.tokens.length || main.keys !== msg.tokens.length) {
    throw new Error(`The attention covers ${main?.queries ?? 0} tokens, not ${msg.tokens.length}.`);
  }
  // Encoder–decoder results: one view per stack; the encoder's backs the default run.
  const stacks = shapes.length > 1 ? stackRuns(msg.runId, msg.text, msg.tokens, msg.decoderTokens ?? [], shapes, source) : undefined;
  const run = stacks?.get(main.kind) ?? new RunData(msg.runId, msg.text, msg.tokens, main, source);
  // A single self-attention stack's paths list its layers in order: their verified windows mask the heatmap's cells too.
  if (!stacks && result.paths) run.windows = result.paths.map((p) => p.window);
  return { run, stacks, result };
}

/** The result message for the host: the stacks' shapes only (the worker keeps the data; the host asks for rows). */
export function resultForHost(loaded: LoadedRun, timings: Timings): Extract<PanelToHost, { type: 'result' }> {
  const r = loaded.result;
  return {
    type: 'result', runId: r.runId, backendUsed: r.backendUsed, fallbackReason: r.fallbackReason,
    ...(r.threads !== undefined ? { threads: r.threads } : {}), shapes: r.shapes, ...(r.paths ? { paths: r.paths } : {}), timings,
  };
}
