/**
 * onnxruntime-web inside the inference worker: choosing the execution provider (WebGPU when an adapter
 * exists, else WASM, with the reason for any fallback), one session per model key and backend over the
 * tapped model bytes, feeds for every required graph input, and converting the fetched tensors.
 */
import * as ort from 'onnxruntime-web';
import { buildFeeds, type FeedOptions } from '../../src/shared/feeds';
import type { BackendSetting, BackendUsed } from '../../src/shared/protocol';
import type { OrtBuild } from './ort-files';
import { webgpuAvailable } from '../common/webgpu-probe';
import { wasmThreadCount } from '../../src/shared/wasm-threads';
import {
  collectAttention, float16ToFloat32, requiredInputs,
  type CollectedAttention, type FetchedTensor, type OnnxSummary, type TapPlan,
} from '../../src/shared/onnx-tap';
import { tapAll } from '../../src/shared/full-tap';
import { retapForPaging } from '../../src/shared/paged-tap';
import { collectFused, type RecomputedAttention } from '../../src/shared/fused-collect';
import { fusedTapNames } from '../../src/shared/fused-plan';
import { fetchedLookup } from '../../src/shared/tapped-run';
import type { ScoreSources } from '../../src/shared/score-tap';
import type { PathSummary } from '../../src/shared/attention-paths';

/** A model the worker holds: the tapped bytes, what the scan found, and its sessions per backend. */
export interface PreparedModel {
  readonly key: string;
  readonly tapped: Uint8Array;
  /** External weight files, by the path the model names them with. */
  readonly externalData?: { path: string; data: Uint8Array }[];
  readonly summary: OnnxSummary;
  readonly plan: TapPlan;
  /** What feeds each Softmax (scores, Q, Kᵀ, V): graph outputs of `tapped`, fetched by explanations. */
  readonly sources: readonly ScoreSources[];
  /** Name of the logits output, if the graph declares one. */
  readonly logitsName?: string;
  /** Sessions by backend and kind: 'full' over `tapped`; 'paged' over the same model declaring only what a paged run fetches. */
  readonly sessions: Map<`${BackendUsed}|${SessionKind}`, Promise<ort.InferenceSession>>;
  /** What a paged session declares as outputs (paged-run.ts sets it once the layers are identified). */
  pagedOutputs?: readonly string[];
  /** Encoder–decoder models: this model is the encoder, `decoder` the decoder (same key, own sessions). */
  decoder?: PreparedModel;
}

/**
 * Prepares model bytes with every output the worker fetches (full-tap.ts: attention, and the score taps
 * for explanations; a merged decoder's If branches too). A pre-tapped file (the host's tap cache) is used
 * as is, the very buffer received; otherwise the taps are appended in one new buffer, and the caller must
 * drop `bytes` so that only the tapped copy stays alive. Throws TapError with a user-ready message.
 */
export function prepareModel(key: string, bytes: Uint8Array,
  external?: readonly { readonly path: string; readonly data: ArrayBuffer }[]): PreparedModel {
  const { tapped, summary, plan, sources } = tapAll(bytes);
  const missing = (summary.externalDataFiles ?? []).filter((f) => !external?.some((e) => e.path === f));
  if (missing.length) {
    throw new Error(`The model keeps its weights in ${missing.join(', ')}, which the panel could not load.`);
  }
  const logits = summary.outputs.find((o) => o.name === 'logits');
  return {
    key, tapped, summary, plan, sources, logitsName: logits?.name, sessions: new Map(),
    externalData: external?.length ? external.map((e) => ({ path: e.path, data: new Uint8Array(e.data) })) : undefined,
  };
}

let envReady = false;
/** The onnxruntime build this worker bundles (set by configureOrt). */
let ortBuild: OrtBuild = 'webgpu';

/**
 * Sets onnxruntime's global flags once: which build this is, the local .wasm file at `wasmUrl` (or its bytes), no proxy worker, and the
 * WebAssembly threads `wasmThreadCount` allows for `threadsSetting` (attentionLens.wasmThreads; one unless this worker is
 * cross-origin isolated). Threads are pthread workers onnxruntime starts from this module's own URL
 * (import.meta.url, the blob: URL the panel started it from), so no other script is fetched or imported.
 */
export function configureOrt(build: OrtBuild, wasmUrl: string, wasmBinary?: ArrayBuffer, threadsSetting?: number): void {
  if (envReady) return;
  ortBuild = build;
  if (wasmBinary && wasmBinary.byteLength > 0) ort.env.wasm.wasmBinary = wasmBinary;
  // Only the .wasm is overridden: with a prefix, onnxruntime would also import its .mjs glue from there,
  // which the CSP forbids; the glue is embedded in the bundle and used when just the .wasm URL is given.
  ort.env.wasm.wasmPaths = { wasm: wasmUrl };
  ort.env.wasm.numThreads = wasmThreadCount(threadsSetting, navigator.hardwareConcurrency, self.crossOriginIsolated === true);
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  envReady = true;
}

/** A 63-byte ONNX model, y = Identity(x) over float32[1]: creating a session on it starts onnxruntime's WebAssembly. */
const IDENTITY_MODEL = new Uint8Array([8, 7, 58, 55, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121,
  18, 1, 103, 90, 15, 10, 1, 120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98, 15, 10, 1, 121, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8,
  1, 66, 2, 16, 13]);

let runtimeStart: Promise<void> | undefined;

/**
 * Compiles and starts onnxruntime's WebAssembly (configureOrt first) without a model, once: a session over a tiny
 * model on the WASM provider, released at once. The panel starts it while the model is still being fetched.
 */
export function startRuntime(): Promise<void> {
  runtimeStart ??= (async () => {
    const s = await ort.InferenceSession.create(IDENTITY_MODEL, { executionProviders: ['wasm'], logSeverityLevel: 3 });
    await s.release();
  })();
  runtimeStart.catch(() => { runtimeStart = undefined; });
  return runtimeStart;
}

/**
 * The WebAssembly threads onnxruntime runs with: what configureOrt asked for, or 1 once onnxruntime found
 * that threads cannot work here (it then lowers `env.wasm.numThreads` itself when it starts).
 */
export function wasmThreads(): number {
  return Math.max(1, ort.env.wasm.numThreads ?? 1);
}

/**
 * The backend to try first for a setting, and the reason when WebGPU was asked for but cannot run. The panel starts
 * the plain WASM build only when WebGPU is not asked for or it found no adapter.
 */
export async function chooseBackend(setting: BackendSetting): Promise<{ backend: BackendUsed; fallbackReason?: string }> {
  if (setting === 'wasm') return { backend: 'wasm' };
  // A plain-WASM worker gets a WebGPU run when the setting changed while it was busy (the next idle run starts a JSEP one).
  if (ortBuild === 'wasm' && setting === 'webgpu' && await webgpuAvailable()) {
    return { backend: 'wasm', fallbackReason: 'WebGPU requested, but the panel\'s worker was started for WASM only; ran on WASM' };
  }
  if (ortBuild === 'webgpu' && await webgpuAvailable()) return { backend: 'webgpu' };
  if (setting === 'webgpu') return { backend: 'wasm', fallbackReason: 'WebGPU requested but no adapter is available; ran on WASM' };
  return { backend: 'wasm' };
}

/** Which outputs a session's model declares: every tap ('full'), or only what a paged run fetches ('paged'). */
export type SessionKind = 'full' | 'paged';

/**
 * The model's session for a backend and kind, created once (a failed creation is forgotten so it can be retried).
 * Creating one kind releases the other kind's session on that backend, so the weights are held once.
 */
export function getSession(model: PreparedModel, backend: BackendUsed, kind: SessionKind = 'full'): Promise<ort.InferenceSession> {
  const key = `${backend}|${kind}` as const;
  let s = model.sessions.get(key);
  if (!s) {
    const other = model.sessions.get(`${backend}|${kind === 'full' ? 'paged' : 'full'}`);
    if (other) {
      model.sessions.delete(`${backend}|${kind === 'full' ? 'paged' : 'full'}`);
      void other.then((o) => o.release()).catch(() => undefined);
    }
    const bytes = kind === 'full' ? model.tapped : retapForPaging(model.tapped, model.pagedOutputs ?? []);
    if (!bytes) return Promise.reject(new Error('This model\'s taps cannot be narrowed for a paged run.'));
    s = ort.InferenceSession.create(bytes, {
      executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3,
      ...(model.externalData ? { externalData: model.externalData } : {}),
    });
    model.sessions.set(key, s);
    s.catch(() => model.sessions.delete(key));
  }
  return s;
}

/** Releases every session of a model (and of its decoder). */
export async function releaseModel(model: PreparedModel): Promise<void> {
  if (model.decoder) await releaseModel(model.decoder);
  for (const s of model.sessions.values()) {
    try {
      await (await s).release();
    } catch {
      // a session that failed to be created has nothing to release
    }
  }
  model.sessions.clear();
}

/** Feeds for every required graph input, built by the shared feeds builder (src/shared/feeds.ts; `opts`: a decoder's encoder output). */
export function makeFeeds(model: PreparedModel, inputIds: readonly number[], opts?: FeedOptions): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const f of buildFeeds(requiredInputs(model.summary), inputIds, opts)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  return feeds;
}

/** A fetched tensor's data as Float32 (float16 converted); a fresh copy when the data is a view. */
export function tensorToFloat32(t: ort.Tensor): Float32Array {
  const d = t.data as unknown;
  if (t.type === 'float32' && d instanceof Float32Array) return d;
  if (t.type === 'float16') {
    if (d instanceof Uint16Array) return float16ToFloat32(d);
    return Float32Array.from(d as ArrayLike<number>);
  }
  throw new Error(`Unexpected output type ${t.type} for "${t.dims.join('×')}" tensor.`);
}

/** What one inference produced. */
export interface RunOutput {
  readonly attention: CollectedAttention;
  readonly logits?: Float32Array;
  readonly vocab?: number;
  /** Set when the attention was recomputed from fused operators' inputs (the graph has no attention Softmax). */
  readonly recomputed?: RecomputedAttention;
  /** Set when the attention is paged, recomputed from Q and K: each layer's path (paged-run.ts). */
  readonly paths?: PathSummary;
}

/** Runs the session on the ids and collects the tapped attention (and the logits when present). */
export async function runModel(model: PreparedModel, session: ort.InferenceSession, inputIds: readonly number[]): Promise<RunOutput> {
  const T = inputIds.length;
  const { fused, kinds } = model.plan;
  // A fused graph: fetch what each fused node reads (fused-plan.ts) and recompute its probabilities.
  const fetchNames = fused ? fusedTapNames(fused) : [...model.plan.softmaxOutputs];
  if (model.logitsName && !fetchNames.includes(model.logitsName)) fetchNames.push(model.logitsName);
  const out = await session.run(makeFeeds(model, inputIds), fetchNames);
  try {
    // Self-attention only: cross-attention rows (decoder over encoder) are not T×T.
    const isSelf = (i: number) => (kinds?.[i] ?? 'self') === 'self';
    const recomputed = fused ? collectFused(fused.filter((_, i) => isSelf(i)), fetchedLookup(out), T) : undefined;
    const attention = recomputed ?? collectAttention(model.plan.softmaxOutputs
      .filter((n, i) => out[n] && isSelf(i))
      .map((n): FetchedTensor => ({ name: n, dims: out[n].dims.map(Number), data: tensorToFloat32(out[n]) })), T);
    return { attention, ...logitsOf(model, out, T), recomputed: recomputed?.recomputed };
  } finally {
    for (const t of Object.values(out)) t.dispose?.();
  }
}

/** The logits [T, vocab] a run fetched (a copy when onnxruntime's data is a view), when the graph has them. */
export function logitsOf(model: PreparedModel, out: ort.InferenceSession.ReturnType, T: number): { logits?: Float32Array; vocab?: number } {
  const lt = model.logitsName ? out[model.logitsName] : undefined;
  if (!lt || (lt.type !== 'float32' && lt.type !== 'float16') || lt.dims.length < 2 || Number(lt.dims[lt.dims.length - 2]) !== T) return {};
  const f = tensorToFloat32(lt);
  return { vocab: Number(lt.dims[lt.dims.length - 1]), logits: f.byteOffset === 0 && f.byteLength === f.buffer.byteLength ? f : f.slice() };
}

/**
 * Runs `names` on `ids` (`feedOpts`: a decoder's encoder output), hands `use` a lookup of Float32 copies (and the raw
 * outputs), then frees onnxruntime's tensors.
 */
export async function runFetching<R>(model: PreparedModel, session: ort.InferenceSession, ids: readonly number[], names: readonly string[],
  use: (get: (name: string) => { dims: number[]; data: Float32Array; type: string } | undefined, out: ort.InferenceSession.ReturnType) => R,
  feedOpts?: FeedOptions): Promise<R> {
  const out = await session.run(makeFeeds(model, ids, feedOpts), [...names]);
  try {
    return use((name) => {
      const t = out[name];
      if (!t) return undefined;
      const data = tensorToFloat32(t);
      return { dims: t.dims.map(Number), data: data === t.data ? data.slice() : data, type: t.type };
    }, out);
  } finally {
    for (const t of Object.values(out)) t.dispose?.();
  }
}
