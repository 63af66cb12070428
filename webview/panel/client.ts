/**
 * The panel's side of inference: fetches dist/worker.js (connect-src), starts it as a module worker from a blob: URL
 * (kept alive while the worker runs: onnxruntime's WebAssembly threads start from the same URL),
 * fetches each model's bytes once and hands them to the worker, and turns worker messages into
 * per-run promises. A crashed worker is replaced on the next run.
 */
import { ORT_WASM_FILE } from '../worker/ort-files';
import { DeadlineError } from '../../src/shared/backend-fallback';
import type { AttentionQuery } from '../../src/shared/attention-query';
import {
  assertNever, type AnswerMessage, type BackendSetting, type BackendUsed, type ModelInfo, type PanelToWorker, type RecomputeSetting, type WorkerToPanel,
} from '../../src/shared/protocol';

/** A worker result plus how long fetching the model took here. */
export type RunResult = Extract<WorkerToPanel, { type: 'result' }> & { fetchMs: number };

/** Per-run options: an encoder–decoder model's decoder ids, and how long WebGPU may take before WASM is used. */
export interface RunOptions {
  readonly decoderInputIds?: readonly number[];
  readonly webgpuDeadlineMs?: number;
  /** attentionLens.wasmThreads (0 or absent: auto); a worker keeps the count its first run set, so a change starts a new one. */
  readonly wasmThreads?: number;
  /** attentionLens.recomputeAttention (absent: auto). */
  readonly recompute?: RecomputeSetting;
}

/** Progress callback: stage and, once chosen, the backend. */
export type ProgressFn = (stage: 'fetching' | 'loading' | 'running', backend?: BackendUsed) => void;

interface Pending {
  resolve(r: RunResult): void;
  reject(e: Error): void;
  progress: ProgressFn;
  fetchMs: number;
  /** How long the run may take once the worker reports WebGPU, and the timer that enforces it. */
  deadlineMs?: number;
  watchdog?: ReturnType<typeof setTimeout>;
}

/** A model's bytes and its external weight files, as fetched. */
interface ModelFiles {
  model: ArrayBuffer;
  externalData?: { path: string; data: ArrayBuffer }[];
  /** Encoder–decoder models: the decoder's bytes (ModelInfo.decoderOnnxUri). */
  decoder?: ArrayBuffer;
}

async function fetchBytes(uri: string, what: string): Promise<ArrayBuffer> {
  const r = await fetch(uri);
  if (!r.ok) throw new Error(`Could not fetch ${what} (${r.status} ${r.statusText}): ${uri}`);
  return r.arrayBuffer();
}

async function fetchModel(info: ModelInfo): Promise<ModelFiles> {
  const [model, decoder, ...external] = await Promise.all([
    fetchBytes(info.onnxUri, 'the model'),
    info.decoderOnnxUri ? fetchBytes(info.decoderOnnxUri, 'the decoder') : Promise.resolve(undefined),
    ...(info.externalData ?? []).map((e) => fetchBytes(e.uri, `the model's weights ${e.path}`)),
  ]);
  const externalData = info.externalData?.map((e, k) => ({ path: e.path, data: external[k] }));
  return { model, decoder, externalData: externalData?.length ? externalData : undefined };
}

/** Thrown (rejected) for a run that was cancelled or replaced by a newer one. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

/** Starts and talks to the inference worker. */
export class InferenceClient {
  private worker?: Worker;
  /** The blob: URL the current worker runs from, and the thread setting it was started for. */
  private workerUrl?: string;
  private workerThreads?: number;
  private workerSource?: Promise<string>;
  /** Model keys the current worker holds. */
  private sent = new Set<string>();
  private pending = new Map<number, Pending>();
  /** Model fetches in flight, by URI, shared by concurrent runs. */
  private fetching = new Map<string, Promise<ModelFiles>>();
  /** The .wasm download for the current worker, and whether the worker has been sent it. */
  private wasmFetch?: Promise<ArrayBuffer | undefined>;
  private wasmSent = false;

  /** Explanations asked for and not answered yet, by run|layer|head|query. */
  private explaining = new Map<string, (m: Extract<WorkerToPanel, { type: 'explanation' }>) => void>();

  /** Asks the worker for what feeds row `query` of a head's softmax in the last run (see weight-explain.ts). */
  explain(runId: number, layer: number, head: number, query: number): Promise<Extract<WorkerToPanel, { type: 'explanation' }>> {
    return new Promise((resolve) => {
      const w = this.worker;
      if (!w) return resolve({ type: 'explanation', runId, layer, head, query, error: 'The inference worker is not running.' });
      this.explaining.set(`${runId}|${layer}|${head}|${query}`, resolve);
      w.postMessage({ type: 'explain', runId, layer, head, query } satisfies PanelToWorker);
    });
  }

  private valuing = new Map<number, (m: Extract<WorkerToPanel, { type: 'valueNorms' }>) => void>();

  /** Queries sent to the worker and not answered yet, by this side's id. */
  private asking = new Map<number, (m: AnswerMessage) => void>();
  private nextQueryId = 1;

  /**
   * Asks the worker about run `runId`'s attention (the worker owns the stacks); resolves with its answer
   * message, whose id is this side's (the caller puts back its own). A dead worker answers `stale`.
   */
  query(runId: number, query: AttentionQuery, weighted = false): Promise<AnswerMessage> {
    const id = this.nextQueryId++;
    return new Promise((resolve) => {
      const w = this.worker;
      if (!w) return resolve({ type: 'answer', id, runId, stale: true, error: 'The inference worker is not running.' });
      this.asking.set(id, resolve);
      w.postMessage({ type: 'query', id, runId, query, ...(weighted ? { weighted } : {}) } satisfies PanelToWorker);
    });
  }

  /** Asks the worker for ‖v_j‖ of every layer, head and token of the last run (value-weighted view). */
  valueNorms(runId: number): Promise<Extract<WorkerToPanel, { type: 'valueNorms' }>> {
    return new Promise((resolve) => {
      const w = this.worker;
      if (!w) return resolve({ type: 'valueNorms', runId, error: 'The inference worker is not running.' });
      this.valuing.set(runId, resolve);
      w.postMessage({ type: 'valueNorms', runId } satisfies PanelToWorker);
    });
  }

  /** Called with each induction-probe result the worker sends (after a run's result). */
  onProbe?: (msg: Extract<WorkerToPanel, { type: 'probe' }>) => void;

  constructor(private readonly workerUri: string, private readonly wasmBase: string) {}

  /**
   * onnxruntime's .wasm for the current worker until it has been sent, fetched here once: in VS Code the
   * webview's own fetches go through its resource service worker, which a blob: worker may not share.
   * A failed fetch leaves the download to the worker.
   */
  private async wasmBinaryForWorker(): Promise<ArrayBuffer | undefined> {
    if (this.wasmSent) return undefined;
    this.wasmFetch ??= fetch(`${this.wasmBase.replace(/\/?$/, '/')}${ORT_WASM_FILE}`)
      .then((r) => (r.ok ? r.arrayBuffer() : undefined))
      .catch(() => undefined);
    const bytes = await this.wasmFetch;
    return this.wasmSent ? undefined : bytes;
  }

  private async ensureWorker(threads: number): Promise<Worker> {
    // onnxruntime fixes its thread count when it starts: an idle worker started for another setting is replaced.
    if (this.worker && this.workerThreads !== threads && this.pending.size === 0) this.fail(new CancelledError());
    if (this.worker) return this.worker;
    this.workerSource ??= fetch(this.workerUri).then((r) => {
      if (!r.ok) throw new Error(`Could not load the inference worker (${r.status} ${r.statusText}).`);
      return r.text();
    });
    let source: string;
    try {
      source = await this.workerSource;
    } catch (e) {
      this.workerSource = undefined;
      throw e;
    }
    if (this.worker) return this.worker;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    this.workerUrl = url;
    this.workerThreads = threads;
    w.onmessage = (ev: MessageEvent<WorkerToPanel>) => this.onMessage(ev.data);
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.fail(new Error(`The inference worker crashed: ${ev.message || 'unknown error'}`));
    };
    this.worker = w;
    this.sent.clear();
    this.wasmFetch = undefined;
    this.wasmSent = false;
    return w;
  }

  /** Terminates the worker and rejects every pending run. */
  private fail(err: Error): void {
    for (const [key, resolve] of this.explaining) {
      const [runId, layer, head, query] = key.split('|').map(Number);
      resolve({ type: 'explanation', runId, layer, head, query, error: err.message });
    }
    this.explaining.clear();
    for (const [runId, resolve] of this.valuing) resolve({ type: 'valueNorms', runId, error: err.message });
    this.valuing.clear();
    for (const [id, resolve] of this.asking) resolve({ type: 'answer', id, runId: -1, stale: true, error: err.message });
    this.asking.clear();
    this.worker?.terminate();
    this.worker = undefined;
    if (this.workerUrl) URL.revokeObjectURL(this.workerUrl);
    this.workerUrl = undefined;
    this.sent.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.watchdog);
      p.reject(err);
    }
    this.pending.clear();
  }

  private onMessage(msg: WorkerToPanel): void {
    if (msg.type === 'probe') {
      this.onProbe?.(msg);
      return;
    }
    if (msg.type === 'answer') {
      this.asking.get(msg.id)?.(msg);
      this.asking.delete(msg.id);
      return;
    }
    if (msg.type === 'valueNorms') {
      this.valuing.get(msg.runId)?.(msg);
      this.valuing.delete(msg.runId);
      return;
    }
    if (msg.type === 'explanation') {
      const key = `${msg.runId}|${msg.layer}|${msg.head}|${msg.query}`;
      this.explaining.get(key)?.(msg);
      this.explaining.delete(key);
      return;
    }
    const p = this.pending.get(msg.runId);
    if (!p) return; // a cancelled or unknown run: drop
    switch (msg.type) {
      case 'progress':
        // A WebGPU run that hangs keeps the worker's onnxruntime busy: past the deadline the worker is
        // replaced (fail) and the run rejects with a DeadlineError, which run-loader turns into a WASM run.
        if (msg.backend === 'webgpu' && p.deadlineMs && !p.watchdog) {
          const ms = p.deadlineMs;
          p.watchdog = setTimeout(() => this.fail(new DeadlineError(ms)), ms);
        }
        p.progress(msg.stage, msg.backend);
        break;
      case 'result':
        this.pending.delete(msg.runId);
        clearTimeout(p.watchdog);
        p.resolve({ ...msg, fetchMs: p.fetchMs });
        break;
      case 'error':
        this.pending.delete(msg.runId);
        clearTimeout(p.watchdog);
        p.reject(new Error(msg.message));
        break;
      default:
        assertNever(msg);
    }
  }

  /**
   * Runs `info`'s model on `inputIds` (and an encoder–decoder model's decoder on `decoderInputIds`);
   * rejects with CancelledError when superseded.
   */
  async run(runId: number, info: ModelInfo, inputIds: readonly number[], backend: BackendSetting,
    progress: ProgressFn, opts: RunOptions = {}): Promise<RunResult> {
    const { decoderInputIds, webgpuDeadlineMs, wasmThreads = 0, recompute } = opts;
    const worker = await this.ensureWorker(wasmThreads);
    const onnxUri = info.onnxUri;
    let files: ModelFiles | undefined;
    let fetchMs = 0;
    if (!this.sent.has(onnxUri)) {
      progress('fetching');
      const t0 = performance.now();
      let fetching = this.fetching.get(onnxUri);
      if (!fetching) {
        fetching = fetchModel(info);
        this.fetching.set(onnxUri, fetching);
      }
      try {
        files = await fetching;
      } finally {
        this.fetching.delete(onnxUri);
      }
      fetchMs = performance.now() - t0;
      if (this.worker !== worker) return this.run(runId, info, inputIds, backend, progress, opts);
      // A concurrent run may have sent (and so detached) the same bytes meanwhile.
      if (this.sent.has(onnxUri) || files.model.byteLength === 0) files = undefined;
    }
    const model = files?.model;
    const externalData = files?.externalData;
    const decoderModel = files?.decoder;
    const wasmBinary = await this.wasmBinaryForWorker();
    if (this.worker !== worker) return this.run(runId, info, inputIds, backend, progress, opts);
    return new Promise<RunResult>((resolve, reject) => {
      this.pending.set(runId, { resolve, reject, progress, fetchMs, deadlineMs: webgpuDeadlineMs });
      const msg: PanelToWorker = {
        type: 'run', runId, wasmBase: this.wasmBase, wasmBinary, wasmThreads, backend, model, externalData, modelKey: onnxUri,
        inputIds: [...inputIds], extraInputs: [...info.extraInputs], context: info.context ?? info.maxTokens,
        ...(info.probe ? { probe: info.probe } : {}), ...(recompute ? { recompute } : {}),
        ...(decoderModel ? { decoderModel } : {}), ...(decoderInputIds ? { decoderInputIds: [...decoderInputIds] } : {}),
      };
      // The bytes are transferred: the worker keeps them, this side does not need a copy.
      const transfer = [model, wasmBinary, decoderModel, ...(externalData ?? []).map((e) => e.data)];
      worker.postMessage(msg, transfer.filter((b): b is ArrayBuffer => !!b));
      if (wasmBinary) this.wasmSent = true;
      if (model) {
        // The worker keeps only the model sent last (worker.ts addModel): showing A, then B, then A again must send A again.
        this.sent.clear();
        this.sent.add(onnxUri);
      }
    });
  }

  /** Cancels a run: the worker skips or drops it and its promise rejects with CancelledError. */
  cancel(runId: number): void {
    const p = this.pending.get(runId);
    if (!p) return;
    this.pending.delete(runId);
    clearTimeout(p.watchdog);
    this.worker?.postMessage({ type: 'cancel', runId } satisfies PanelToWorker);
    p.reject(new CancelledError());
  }

  /** Stops the worker. */
  dispose(): void {
    this.fail(new CancelledError());
  }
}
