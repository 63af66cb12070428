/**
 * The one message protocol of Attention Lens: host ⇄ panel webview, host ⇄ compare view, and
 * panel ⇄ inference worker. Each direction is a discriminated union on `type`. Every receiver ends its
 * `switch` with `assertNever`, so adding a message without handling it is a compile error.
 * Tensors travel as transferable `ArrayBuffer`s (Float32, row-major), never as JSON arrays; attention stays in the worker,
 * which answers 'query' messages (attention-query.ts) with what a view draws.
 * Imports neither `vscode` nor the DOM.
 */

import type { AggregateMetric, HeadAggregateRow } from './head-aggregate';
import type { ProbeScores } from './probe-scores';
import type { AttentionStackKind } from './attention';
import type { AttentionAnswer, AttentionQuery, StackShape } from './attention-query';
import type { PathSummary } from './attention-paths';
import type { RecomputedAttention } from './fused-collect';
import type { ViewSpec } from './view-spec';
import type { SamplingOptions } from './generate';
import type { ResidualAnswer, ResidualRequest } from './residual-norms';

export type { AttentionStackKind } from './attention';

/** Which onnxruntime-web execution provider the user asked for (`attentionLens.backend`). */
export type BackendSetting = 'auto' | 'webgpu' | 'wasm';

/** attentionLens.recomputeAttention: recompute attention from tapped Q and K always, never, or (auto) when the stack would be large. */
export type RecomputeSetting = 'auto' | 'always' | 'never';

/** The execution provider that actually ran. */
export type BackendUsed = 'webgpu' | 'wasm';

/** Where a paged run's rows are recomputed from Q and K: on the worker's WebGPU device, or in its JavaScript. */
export type RecomputedOn = 'webgpu' | 'js';

/**
 * A head reference: `head` is an index, 'mean' for the mean over the layer's heads, 'max' for their
 * element-wise max, or 'rollout' for attention rollout from layer 0 up to `layer` (aggregate.ts).
 */
export interface HeadRef {
  /** Which attention stack: decoder self-attention for decoder-only models. */
  readonly stack: AttentionStackKind;
  readonly layer: number;
  readonly head: number | 'mean' | 'max' | 'rollout';
}

/** One token of the selection, with its exact UTF-16 range relative to the selection start. */
export interface TokenInfo {
  /** Token id in the model's vocabulary. */
  readonly id: number;
  /** Human-readable text of the token (decoded; may be '' for byte fragments). */
  readonly text: string;
  /** UTF-16 start offset in the selected text, or -1 for special tokens with no range. */
  readonly start: number;
  /** UTF-16 end offset (exclusive) in the selected text, or -1 for special tokens. */
  readonly end: number;
}

/** The panel's views (its tabs). */
export type PanelView = 'tokens' | 'heatmap' | 'grid' | 'metrics' | 'lines' | 'residual';

/** Static facts about a model that the panel needs before inference. */
export interface ModelInfo {
  /** Display name, e.g. "lens-gpt (bundled)". */
  readonly name: string;
  /** Webview URI of the ONNX file to fetch. */
  readonly onnxUri: string;
  /** The most tokens per run: the model's context, or less when the maxTokens setting says so. */
  readonly maxTokens: number;
  /** The model's context length (config.json): bounds the induction probe, whatever maxTokens is. */
  readonly context?: number;
  /**
   * The model's induction-probe scores stored by the host from an earlier panel (same model file, same probe):
   * the worker posts them instead of running the probe.
   */
  readonly probe?: ProbeScores;
  /** Graph input names the worker must feed besides input_ids (attention_mask, position_ids, …). */
  readonly extraInputs: readonly string[];
  /**
   * True when onnxUri is already tapped (the host's tap cache: Softmax and score taps, full-tap.ts): the
   * worker then appends nothing and runs the very bytes it receives.
   */
  readonly tapped?: boolean;
  /**
   * Weights stored outside the ONNX file: pass as onnxruntime-web's session option
   * `externalData: [{ path, data: uri }]` (path as the model names it, e.g. "model.onnx_data").
   */
  readonly externalData?: readonly { readonly path: string; readonly uri: string }[];
  /** Encoder–decoder models: onnxUri is the encoder, this the decoder (see `stacks` in results). */
  readonly decoderOnnxUri?: string;
  /** Webview URI of the model's tokenizer.json: the panel reads id → token strings from it (next-token predictions). */
  readonly tokenizerUri?: string;
  /** What config.json says: the panel may label the view; the host checks it against the result's `causal`. */
  readonly expectedAttention?: 'causal' | 'bidirectional' | 'encoder-decoder';
  /** Per layer, the sliding window config.json declares (null: full attention); absent when it declares none. */
  readonly slidingWindows?: readonly (number | null)[];
  /** T5's relative_attention_max_distance (config.json, or transformers' default 128 for a T5 model); absent for others. */
  readonly relativeMaxDistance?: number;
}

/** Timings in milliseconds; each stage is filled in as it completes. */
export interface Timings {
  tokenizeMs?: number;
  /** From the panel's show to a running onnxruntime (0 when it was running already). */
  runtimeMs?: number;
  /** From the panel's show to the model's bytes in hand (0 when the worker held them). */
  fetchMs?: number;
  /** Creating the session once the runtime ran and the model was in the worker (about 0 when kept). */
  sessionMs?: number;
  loadMs?: number;
  inferenceMs?: number;
  firstPaintMs?: number;
}

// ---------------------------------------------------------------- host → panel webview

/** Host → panel messages. */
export type HostToPanel =
  /**
   * Sent to a panel Show Attention just opened, before the host has loaded the model and tokenized: the panel says
   * so and starts its runtime meanwhile. A 'show' follows (or an 'error'); a 'show' posted first makes it moot.
   */
  | { readonly type: 'prepare'; readonly modelName: string; readonly backend: BackendSetting; readonly wasmThreads?: number }
  | {
      readonly type: 'show';
      readonly runId: number;
      readonly documentLabel: string;
      /** The text that was tokenized (after any truncation). */
      readonly text: string;
      readonly tokens: readonly TokenInfo[];
      readonly model: ModelInfo;
      /**
       * Encoder–decoder models (model.decoderOnnxUri set): the decoder's tokens, i.e. the start token (no
       * range) followed by the input tokens shifted right. Their ids are the decoder's input ids.
       */
      readonly decoderTokens?: readonly TokenInfo[];
      readonly backend: BackendSetting;
      /** attentionLens.wasmThreads: WebAssembly threads when the webview is cross-origin isolated (0 or absent: auto). */
      readonly wasmThreads?: number;
      /** How long a WebGPU run may take before the panel restarts its worker on WASM (attentionLens.webgpuTimeout); default 60 s. */
      readonly webgpuDeadlineMs?: number;
      /** attentionLens.recomputeAttention (default auto). */
      readonly recompute?: RecomputeSetting;
      /** Human-readable notices: "used the current line", "cut to 128 tokens", … */
      readonly notices: readonly string[];
      readonly timings: Timings;
    }
  | { readonly type: 'focusHead'; readonly head: HeadRef }
  | { readonly type: 'stale'; readonly reason: string }
  | { readonly type: 'error'; readonly message: string }
  /** A Show Attention request was refused (whitespace-only text, binary data, …): shown as a banner above the last result. */
  | { readonly type: 'refusal'; readonly message: string }
  /** Bring a view of the panel to the front (the walkthrough's "Open the Model grid"). */
  | { readonly type: 'showView'; readonly view: PanelView }
  | { readonly type: 'editorHover'; readonly tokenIndex: number | null }
  /** Export View as SVG/HTML from the palette: the panel answers with an 'exportView' describing its view. */
  | { readonly type: 'exportView'; readonly format: 'svg' | 'html' }
  /**
   * Compare With Another Selection: run the model of run `baseRunId` on `text` (its `tokens`) as run `runId` (a
   * companion run: the worker keeps it beside the base run) and show the chosen head for both side by side.
   */
  | {
      readonly type: 'compareText';
      readonly runId: number;
      readonly baseRunId: number;
      readonly documentLabel: string;
      readonly text: string;
      readonly tokens: readonly TokenInfo[];
    }
  /** Analyse Heads Across File: every head's mean ± sd over the `windows` analysed so far of `source` (`done` once finished). */
  | { readonly type: 'headAggregate'; readonly source: string; readonly windows: number; readonly done: boolean; readonly rows: readonly HeadAggregateRow[] }
  /** Asks for part of run `runId`'s attention (answered by an 'answer' with the same id); the worker owns the stacks. */
  | QueryMessage;

/** A question about a run's attention, sent host → panel and panel → worker; `id` matches its answer. */
export interface QueryMessage {
  readonly type: 'query';
  readonly id: number;
  readonly runId: number;
  readonly query: AttentionQuery;
  /** Ask about the value-weighted stacks (α_ij·‖v_j‖, rows renormalised) once 'valueNorms' has answered with norms. */
  readonly weighted?: boolean;
}

/**
 * The answer to a QueryMessage with the same id: `answer`, or `error` saying why not. `stale` is set when
 * the run is no longer held (a newer run replaced it, or the worker restarted): the asker drops it.
 */
export interface AnswerMessage {
  readonly type: 'answer';
  readonly id: number;
  readonly runId: number;
  readonly answer?: AttentionAnswer;
  /** For a paged run's head: where the rows of this answer were recomputed from Q and K. */
  readonly computedOn?: RecomputedOn;
  readonly error?: string;
  readonly stale?: boolean;
}

/** Every HostToPanel type once (a Record over the union: leaving one out does not compile). */
const HOST_TO_PANEL: MessageTypeSet<HostToPanel> = {
  prepare: true, show: true, focusHead: true, stale: true, error: true, refusal: true, showView: true, editorHover: true,
  query: true, exportView: true, compareText: true, headAggregate: true };
/** The HostToPanel types, for the panel's isMessage guard. */
export const HOST_TO_PANEL_TYPES = /* @__PURE__ */ messageTypes(HOST_TO_PANEL);

// ---------------------------------------------------------------- panel webview → host

/** Panel → host messages. */
export type PanelToHost =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly runId: number;
      readonly backendUsed: BackendUsed;
      /** Why the requested backend was not used, if it was not. */
      readonly fallbackReason?: string;
      /** WASM runs: how many WebAssembly threads onnxruntime ran with. */
      readonly threads?: number;
      /**
       * The shape of each stack the run computed ('self', or encoder, decoder and cross): the worker keeps the
       * data, and the host asks for what it shows with 'query'.
       */
      readonly shapes: readonly StackShape[];
      /** Set when the worker serves attention recomputed from Q and K: each layer's path. */
      readonly paths?: PathSummary;
      readonly timings: Timings;
    }
  | { readonly type: 'runError'; readonly runId: number; readonly message: string }
  | AnswerMessage
  /** The focused token (hovered or locked) and the head shown; drives editor decorations. */
  | { readonly type: 'focus'; readonly runId: number; readonly tokenIndex: number | null; readonly head: HeadRef }
  | { readonly type: 'pinHead'; readonly head: HeadRef }
  | { readonly type: 'reveal'; readonly runId: number; readonly tokenIndex: number }
  /** The header's "Change model…" button: the host shows the Select Model quick pick. */
  | { readonly type: 'selectModel' }
  /** "Save image…": the view on show as a PNG (its canvas, in the theme's colours) for the host to save where the user chooses. */
  | { readonly type: 'saveImage'; readonly view: 'heatmap' | 'grid'; readonly name: string; readonly png: ArrayBuffer }
  /** "Export data…": the host runs Export Attention for the head on show. */
  | { readonly type: 'exportData' }
  /** "Save SVG…" / "Save HTML…": the view on show (view-spec.ts), for the host to write asking the worker head by head. */
  | { readonly type: 'exportView'; readonly format: 'svg' | 'html'; readonly spec: ViewSpec }
  /** A file-wide value in the Metrics table: the host opens the editor at the window where `metric` of the head was highest. */
  | { readonly type: 'revealWindow'; readonly layer: number; readonly head: number; readonly metric: AggregateMetric }
  /** Induction-probe scores the worker computed after run `runId`, for the host to store for that run's model. */
  | ({ readonly type: 'probe'; readonly runId: number } & ProbeScores)
  /** "Insert into document" under a generation: the host writes the text `tokens` spell after run `runId`'s text. */
  | { readonly type: 'insertGenerated'; readonly runId: number; readonly tokens: readonly number[] }
  /** A 'compareText' run finished: its stacks' shapes (the worker keeps the data), or why it could not run. */
  | { readonly type: 'compared'; readonly runId: number; readonly baseRunId: number; readonly shapes?: readonly StackShape[]; readonly error?: string };

/** Every PanelToHost type once (a Record over the union: leaving one out does not compile). */
const PANEL_TO_HOST: MessageTypeSet<PanelToHost> = {
  ready: true, result: true, runError: true, focus: true, pinHead: true, reveal: true, selectModel: true, probe: true, answer: true,
  saveImage: true, exportData: true, exportView: true, compared: true, revealWindow: true, insertGenerated: true,
};
/** The PanelToHost types, for the host's isMessage guard. */
export const PANEL_TO_HOST_TYPES = /* @__PURE__ */ messageTypes(PANEL_TO_HOST);

// ---------------------------------------------------------------- host ⇄ compare view

/** Host → compare view messages. */
export type HostToCompare =
  | {
      readonly type: 'compare';
      readonly tokens: readonly TokenInfo[];
      readonly pinned: readonly HeadRef[];
      /** Float32 [pinned.length, T, T]. */
      readonly matrices: ArrayBuffer;
      /** Per pinned head: the heads nearest to it on this input by mean row JS divergence, nearest first. */
      readonly related?: readonly (readonly { readonly head: HeadRef; readonly meanJsd: number }[])[];
    }
  | { readonly type: 'clear'; readonly reason: string };

/** Every HostToCompare type once (a Record over the union: leaving one out does not compile). */
const HOST_TO_COMPARE: MessageTypeSet<HostToCompare> = { compare: true, clear: true };
/** The HostToCompare types, for the compare view's isMessage guard. */
export const HOST_TO_COMPARE_TYPES = /* @__PURE__ */ messageTypes(HOST_TO_COMPARE);

/** Compare view → host messages. */
export type CompareToHost =
  | { readonly type: 'ready' }
  | { readonly type: 'focusHead'; readonly head: HeadRef }
  | { readonly type: 'unpin'; readonly head: HeadRef }
  /** Pin a head (a related head offered in the view). */
  | { readonly type: 'pin'; readonly head: HeadRef };

/** Every CompareToHost type once (a Record over the union: leaving one out does not compile). */
const COMPARE_TO_HOST: MessageTypeSet<CompareToHost> = { ready: true, focusHead: true, unpin: true, pin: true };
/** The CompareToHost types, for the host's isMessage guard. */
export const COMPARE_TO_HOST_TYPES = /* @__PURE__ */ messageTypes(COMPARE_TO_HOST);

// ---------------------------------------------------------------- panel ⇄ worker

/** Panel → worker messages. */
export type PanelToWorker =
  /** The first message to a worker: start onnxruntime now (answered by 'runtime'); runs wait for it. */
  | {
      readonly type: 'init';
      /** Which onnxruntime build this worker is (webview/worker/ort-files.ts): JSEP for WebGPU, or the plain WASM one. */
      readonly build: 'webgpu' | 'wasm';
      /** URL of that build's .wasm file. */
      readonly wasmUrl: string;
      /**
       * onnxruntime's .wasm binary, fetched by the panel (whose fetches VS Code's resource service worker
       * serves); without it the worker fetches `wasmUrl`.
       */
      readonly wasmBinary?: ArrayBuffer;
      /** attentionLens.wasmThreads as the host sent it; fixes the worker's thread count (wasm-threads.ts). */
      readonly wasmThreads?: number;
    }
  | {
      readonly type: 'run';
      readonly runId: number;
      readonly backend: BackendSetting;
      /**
       * The ONNX file as fetched: pre-tapped by the host's cache, or unmodified (the worker then adds the taps in
       * one copy and drops these bytes). Omitted when the worker already holds `modelKey`.
       */
      readonly model?: ArrayBuffer;
      /** The model's external weight files (ModelInfo.externalData, fetched by the panel); sent with `model`. */
      readonly externalData?: readonly { readonly path: string; readonly data: ArrayBuffer }[];
      /** A key that identifies the model, so the worker can reuse its session. */
      readonly modelKey: string;
      readonly inputIds: readonly number[];
      /** Encoder–decoder models: the decoder ONNX (sent with `model`) and its input ids (show.decoderTokens' ids). */
      readonly decoderModel?: ArrayBuffer;
      readonly decoderInputIds?: readonly number[];
      readonly extraInputs: readonly string[];
      /** The model's context length (ModelInfo.context, else maxTokens): bounds the induction probe. */
      readonly context?: number;
      /** ModelInfo.slidingWindows: how long the check run that identifies the layers must be (sliding-window.ts). */
      readonly slidingWindows?: readonly (number | null)[];
      /** ModelInfo.relativeMaxDistance: the bucket rule of a relative position bias recomputed from its table (relative-bias.ts). */
      readonly relativeMaxDistance?: number;
      /** The model's stored probe scores (ModelInfo.probe): posted instead of running the probe when they fit. */
      readonly probe?: ProbeScores;
      /** attentionLens.recomputeAttention (default auto): serve attention recomputed from Q and K (paged-run.ts). */
      readonly recompute?: RecomputeSetting;
      /**
       * A companion run (Compare With Another Selection): the worker keeps its stacks beside the base run's instead of
       * replacing them, and neither probes nor explains it.
       */
      readonly companion?: boolean;
    }
  | { readonly type: 'cancel'; readonly runId: number }
  /** Explain one weight of run `runId`: row `query` of `head` in `layer` (answered by 'explanation'). */
  | { readonly type: 'explain'; readonly runId: number; readonly layer: number; readonly head: number; readonly query: number }
  /** ‖v_j‖ of every layer, head and token of run `runId` (answered by 'valueNorms'). */
  | { readonly type: 'valueNorms'; readonly runId: number }
  /** Every head's write into the residual stream, for run `runId` (answered by a 'residual' with the same id; residual-norms.ts). */
  | ResidualRequest
  /**
   * Generate up to `steps` tokens after run `runId`'s tokens (decoder models with logits; generate.ts), never past
   * `maxTokens`: answered by one 'generateStep' per token and then one 'generateEnd' with the same id.
   */
  | { readonly type: 'generate'; readonly id: number; readonly runId: number; readonly steps: number; readonly sampling: SamplingOptions;
      readonly maxTokens?: number; }
  /** Stop generation `id` before its next step (its 'generateEnd' then says 'stopped'). */
  | { readonly type: 'stopGenerate'; readonly id: number }
  | QueryMessage;

/** Worker → panel messages. */
export type WorkerToPanel =
  /** onnxruntime's WebAssembly is compiled and started (after 'init'), how long that took, or why it failed. */
  | { readonly type: 'runtime'; readonly ms: number; readonly error?: string }
  | {
      readonly type: 'progress';
      readonly runId: number;
      readonly stage: 'loading' | 'running';
      /** The execution provider chosen for this run, once known (sent with 'loading' once chosen, and with 'running'). */
      readonly backend?: BackendUsed;
    }
  | {
      readonly type: 'result';
      readonly runId: number;
      readonly backendUsed: BackendUsed;
      readonly fallbackReason?: string;
      /** WASM runs: how many WebAssembly threads onnxruntime ran with. */
      readonly threads?: number;
      /**
       * The shape of each stack ('self', or encoder, decoder and cross, the encoder first): the worker keeps the
       * data and answers 'query' messages about this run until the next run's result.
       */
      readonly shapes: readonly StackShape[];
      /** The vocabulary size, when the graph has logits (then 'predictions' queries are answered). */
      readonly vocab?: number;
      /** Set when the attention was recomputed from fused attention operators' inputs: which layers, which operators. */
      readonly recomputed?: RecomputedAttention;
      /** Set when the worker serves attention recomputed from Q and K: each layer's path (attention-paths.ts). */
      readonly paths?: PathSummary;
      readonly loadMs: number;
      readonly inferenceMs: number;
    }
  | { readonly type: 'error'; readonly runId: number; readonly message: string }
  /**
   * Sent after a run's result: each head's induction score on the model's probe [r, r] (head-labels.ts),
   * computed once per model key in the background and cached by the worker, or taken from the run's
   * `probe`. Layer-major [layers·heads]. `computed` is true only the first time this worker computed it
   * (the panel then forwards it to the host to store).
   */
  | ({ readonly type: 'probe'; readonly runId: number; readonly modelKey: string; readonly computed: boolean } & ProbeScores)
  /**
   * Answer to 'explain': the head's pre-softmax scores of row `query` (the Softmax input, masked keys at −∞
   * or a large negative fill) and, where the graph's score MatMul was found, q_query (d_head values), the
   * head's Kᵀ ([d_head, T] row-major) and how the product is scaled. `error` when nothing could be tapped.
   */
  | {
      readonly type: 'explanation';
      readonly runId: number;
      readonly layer: number;
      readonly head: number;
      readonly query: number;
      readonly scores?: readonly number[];
      readonly q?: readonly number[];
      readonly kT?: readonly number[];
      readonly dHead?: number;
      readonly scaling?: 'div' | 'mul' | 'none';
      /** Why only the scores are shown. */
      readonly note?: string;
      readonly error?: string;
    }
  /** Answer to 'valueNorms': Float32 [layers, heads, T] of ‖v_j‖ (value-weighted view), or why there is none. */
  | { readonly type: 'valueNorms'; readonly runId: number; readonly norms?: ArrayBuffer; readonly error?: string }
  /** Answer to 'residual': ‖head output‖ [layers, heads, T] and ‖residual‖ [layers, T], per-layer reasons, or an error. */
  | ResidualAnswer
  /**
   * One generated token of generation `id`: `token` was chosen from the logits of the prefix's last position, and
   * `row` is that position's attention over the `keys` prefix tokens, Float32 [layers, heads, keys].
   */
  | { readonly type: 'generateStep'; readonly id: number; readonly runId: number; readonly step: number; readonly token: number;
      readonly layers: number; readonly heads: number; readonly keys: number; readonly row: ArrayBuffer; }
  /** Generation `id` ended: every step was made ('done'), it was stopped, the context is full, or `error` says why not. */
  | { readonly type: 'generateEnd'; readonly id: number; readonly runId: number; readonly tokens: readonly number[];
      readonly reason: 'done' | 'stopped' | 'context' | 'error'; readonly error?: string;
      /** How steps ran: on the model's own key/value cache (one token each), or re-running the whole sequence (no past inputs). */
      readonly stepping?: 'cache' | 'rerun'; }
  /**
   * Query `id` (one over every row: metrics, a matrix, nearest heads, a column) takes more than one slice of row blocks:
   * `done` of `total` blocks are computed; sent after each slice, and once with done = total before its answer.
   */
  | { readonly type: 'queryProgress'; readonly id: number; readonly runId: number; readonly kind: AttentionQuery['kind']; readonly done: number;
      readonly total: number; }
  | AnswerMessage;

/** Exhaustiveness check for `switch` statements over message unions. */
export function assertNever(x: never): never {
  throw new Error(`Unhandled message: ${JSON.stringify(x)}`);
}

/**
 * One `true` per `type` of a message union. Being a Record over `U['type']`, an object literal of this type
 * must list every type of the union and nothing else, so the lists isMessage checks cannot fall behind the
 * unions (a message missing from a list would be dropped before the exhaustive switch).
 */
export type MessageTypeSet<U extends { readonly type: string }> = Readonly<Record<U['type'], true>>;

/** The types a MessageTypeSet lists, as the list isMessage takes. */
export function messageTypes<K extends string>(set: Readonly<Record<K, true>>): readonly K[] {
  return Object.freeze(Object.keys(set) as K[]);
}

/** Runtime guard for messages that arrive untyped from postMessage. */
export function isMessage<T extends { type: string }>(value: unknown, types: readonly T['type'][]): value is T {
  return typeof value === 'object' && value !== null && types.includes((value as { type: string }).type);
}

/** Human-readable label of a head reference, e.g. "L2 H3", "L0 mean", "L1 max" or "rollout L0–L2". */
export function headLabel(h: HeadRef): string {
  const prefix = h.stack === 'self' ? '' : `${h.stack} `;
  if (h.head === 'rollout') return `${prefix}rollout L0–L${h.layer}`;
  return `${prefix}L${h.layer} ${typeof h.head === 'number' ? `H${h.head}` : h.head}`;
}
