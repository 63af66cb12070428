/**
 * The panel's side of inference: starts the inference worker of the onnxruntime build the backend needs
 * (worker-start.ts) and its runtime while the model is being fetched, fetches each model's bytes once and hands
 * them to the worker, reports each stage (load-progress.ts), and turns worker messages into per-run promises.
 * A crashed worker is replaced on the next run.
 */
import type { OrtBuild } from '../worker/ort-files';
import { buildFor, startWorker, type RuntimeProgress } from './worker-start';
import { megabytes, type LoadEvent } from './load-progress';
import { fetchModel, type ModelFiles } from './model-fetch';
import { DeadlineError } from '../../src/shared/backend-fallback';
import type { AttentionQuery } from '../../src/shared/attention-query';
import type { ResidualAnswer } from '../../src/shared/residual-norms';
import {
  assertNever, type AnswerMessage, type BackendSetting, type ModelInfo, type PanelToWorker, type RecomputeSetting, type WorkerToPanel,
} from '../../src/shared/protocol';

/** A worker result plus how long this run waited for the runtime and for fetching the model here. */
export type RunResult = Extract<WorkerToPanel, { type: 'result' }> & { fetchMs: number; runtimeMs: number };

/** Per-run options: an encoder–decoder model's decoder ids, and how long WebGPU may take before WASM is used. */
export interface RunOptions {
  readonly decoderInputIds?: readonly number[];
  readonly webgpuDeadlineMs?: number;
  /** attentionLens.wasmThreads (0 or absent: auto); a worker keeps the count its first run set, so a change starts a new one. */
  readonly wasmThreads?: number;
  /** attentionLens.recomputeAttention (absent: auto). */
  readonly recompute?: RecomputeSetting;
  /** A companion run (Compare With Another Selection): the worker keeps it beside the base run's stacks. */
  readonly companion?: boolean;
}

/** Progress callback: each stage as it starts, moves on and finishes, and the backend once chosen. */
export type ProgressFn = (e: LoadEvent) => void;

interface Pending {
  resolve(r: RunResult): void;
  reject(e: Error): void;
  progress: ProgressFn;
  /** How long this run waited here for the model's bytes and for the runtime. */
  times: { fetchMs: number; runtimeMs: number };
  /** How long the run may take once the worker reports WebGPU, and the timer that enforces it. */
  deadlineMs?: number;
  watchdog?: ReturnType<typeof setTimeout>;
}

/** What the runtime is doing, for the progress line: "downloading 3.1 of 13.6 MB", "compiling". */
function runtimeDetail(p: RuntimeProgress): string {
  if (p.step === 'compile') return 'compiling';
  return `downloading ${megabytes(p.loaded)}${p.total ? ` of ${megabytes(p.total)}` : ''}`;
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
  /** The blob: URL the current worker runs from, its onnxruntime build and the thread setting it was started for. */
  private workerUrl?: string;
  private workerThreads?: number;
  private workerBuild?: OrtBuild;
  /** A worker being started, and the current worker's runtime (settled by its 'runtime' message). */
  private starting?: Promise<Worker>;
  private runtime?: { ready: Promise<void>; settle(error?: string): void; done: boolean };
  /** Where the runtime's download and compile steps go: the latest run's (or prepare's) progress. */
  private runtimeProgress?: (p: RuntimeProgress) => void;
  /** Model keys the current worker holds. */
  private sent = new Set<string>();
  private pending = new Map<number, Pending>();
  /** Model fetches in flight, by URI, shared by concurrent runs. */
  private fetching = new Map<string, Promise<ModelFiles>>();

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

  private residuals = new Map<number, (m: ResidualAnswer) => void>();
  private nextResidualId = 1;

  /** Asks the worker how much each head of run `runId` writes into the residual stream (the Residual view). */
  residual(runId: number): Promise<ResidualAnswer> {
    const id = this.nextResidualId++;
    return new Promise((resolve) => {
      const w = this.worker;
      if (!w) return resolve({ type: 'residual', id, runId, error: 'The inference worker is not running.' });
      this.residuals.set(id, resolve);
      w.postMessage({ type: 'residual', id, runId } satisfies PanelToWorker);
    });
  }

  /** Called with each generation message the worker sends (generate-view.ts), and with the reason when the worker is lost. */
  onGeneration?: (msg: Extract<WorkerToPanel, { type: 'generateStep' | 'generateEnd' }> | { type: 'lost'; message: string }) => void;

  /** Sends a generation request or stop to the worker; false when no worker runs. */
  generate(msg: Extract<PanelToWorker, { type: 'generate' | 'stopGenerate' }>): boolean {
    this.worker?.postMessage(msg);
    return !!this.worker;
  }

  /** Called with each induction-probe result the worker sends (after a run's result). */
  onProbe?: (msg: Extract<WorkerToPanel, { type: 'probe' }>) => void;

  /** Called with the progress of a query that takes the worker many row blocks (a paged stack at a long context). */
  onQueryProgress?: (msg: Extract<WorkerToPanel, { type: 'queryProgress' }>) => void;

  constructor(private readonly workerUri: string, private readonly wasmBase: string) {}

  /**
   * The worker for a run: the current one when it can serve `setting` with `threads` (onnxruntime fixes its thread
   * count when it starts; the plain WASM build cannot run WebGPU), else a new one, replacing an idle one.
   */
  private async ensureWorker(threads: number, setting: BackendSetting, progress: (p: RuntimeProgress) => void): Promise<Worker> {
    this.runtimeProgress = progress;
    const build = await buildFor(setting);
    // A worker being started (by a prepare) is not sent runs before its 'init'.
    if (this.starting) return this.starting;
    const unfit = this.workerThreads !== threads || (build === 'webgpu' && this.workerBuild === 'wasm');
    if (this.worker && unfit && this.pending.size === 0) this.fail(new CancelledError());
    if (this.worker) return this.worker;
    this.starting ??= this.start(build, threads, (p) => this.runtimeProgress?.(p)).finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private async start(build: OrtBuild, threads: number, progress: (p: RuntimeProgress) => void): Promise<Worker> {
    let settle!: (error?: string) => void;
    const ready = new Promise<void>((resolve, reject) => { settle = (error) => (error ? reject(new Error(error)) : resolve()); });
    ready.then(() => { runtime.done = true; }, () => undefined);
    const runtime = { ready, settle, done: false };
    const started = await startWorker(this.workerUri, this.wasmBase, build, threads, progress, (w) => {
      w.onmessage = (ev: MessageEvent<WorkerToPanel>) => { if (this.worker === w) this.onMessage(ev.data); };
      w.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        if (this.worker === w) this.fail(new Error(`The inference worker crashed: ${ev.message || 'unknown error'}`));
      };
      this.worker = w;
      this.runtime = runtime;
      this.workerThreads = threads;
      this.workerBuild = build;
      this.sent.clear();
    });
    this.workerUrl = started.url;
    if (this.worker !== started.worker) throw new CancelledError();
    return started.worker;
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
    for (const [id, resolve] of this.residuals) resolve({ type: 'residual', id, runId: -1, error: err.message });
    this.residuals.clear();
    for (const [id, resolve] of this.asking) resolve({ type: 'answer', id, runId: -1, stale: true, error: err.message });
    this.asking.clear();
    this.onGeneration?.({ type: 'lost', message: err.message });
    this.worker?.terminate();
    this.worker = undefined;
    this.runtime?.settle(err.message);
    this.runtime = undefined;
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
    if (msg.type === 'runtime') {
      this.runtime?.settle(msg.error);
      return;
    }
    if (msg.type === 'probe') {
      this.onProbe?.(msg);
      return;
    }
    if (msg.type === 'answer') {
      this.asking.get(msg.id)?.(msg);
      this.asking.delete(msg.id);
      return;
    }
    if (msg.type === 'generateStep' || msg.type === 'generateEnd') {
      this.onGeneration?.(msg);
      return;
    }
    if (msg.type === 'queryProgress') {
      this.onQueryProgress?.(msg);
      return;
    }
    if (msg.type === 'valueNorms') {
      this.valuing.get(msg.runId)?.(msg);
      this.valuing.delete(msg.runId);
      return;
    }
    if (msg.type === 'residual') {
      this.residuals.get(msg.id)?.(msg);
      this.residuals.delete(msg.id);
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
        p.progress({ stage: msg.stage === 'loading' ? 'session' : 'inference', backend: msg.backend });
        break;
      case 'result':
        this.pending.delete(msg.runId);
        clearTimeout(p.watchdog);
        p.resolve({ ...msg, ...p.times });
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
   * Starts the worker and its runtime for a run that is coming (the host is still loading the model and tokenizing),
   * reporting the runtime's stage; the run then finds it started or running.
   */
  prepare(setting: BackendSetting, threads: number, progress: ProgressFn): void {
    progress({ stage: 'runtime', done: this.runtime?.done });
    void this.ensureWorker(threads, setting, (p) => progress({ stage: 'runtime', detail: runtimeDetail(p) })).then(() => this.runtime?.ready)
      .then(() => progress({ stage: 'runtime', done: true }), () => undefined);
  }

  /**
   * Runs `info`'s model on `inputIds` (and an encoder–decoder model's decoder on `decoderInputIds`);
   * rejects with CancelledError when superseded.
   */
  async run(runId: number, info: ModelInfo, inputIds: readonly number[], backend: BackendSetting,
    progress: ProgressFn, opts: RunOptions = {}): Promise<RunResult> {
    const { decoderInputIds, webgpuDeadlineMs, wasmThreads = 0, recompute, companion } = opts;
    const t0 = performance.now();
    const times = { fetchMs: 0, runtimeMs: 0 };
    const onnxUri = info.onnxUri;
    // The runtime starts (or is found running) and the model is fetched side by side.
    progress({ stage: 'runtime', done: this.runtime?.done });
    const starting = this.ensureWorker(wasmThreads, backend, (p) => progress({ stage: 'runtime', detail: runtimeDetail(p) }));
    const fetchFiles = (): Promise<ModelFiles> => {
      progress({ stage: 'model' });
      let fetching = this.fetching.get(onnxUri);
      if (!fetching) {
        fetching = fetchModel(info);
        this.fetching.set(onnxUri, fetching);
        void fetching.finally(() => this.fetching.delete(onnxUri)).catch(() => undefined);
      }
      return fetching.then((f) => { times.fetchMs = performance.now() - t0; progress({ stage: 'model', done: true }); return f; });
    };
    let fetched = !this.worker || !this.sent.has(onnxUri) ? fetchFiles() : undefined;
    fetched?.catch(() => undefined);
    const worker = await starting;
    const runtime = this.runtime?.ready;
    void runtime?.then(() => { times.runtimeMs = performance.now() - t0; progress({ stage: 'runtime', done: true }); }, () => undefined);
    let files: ModelFiles | undefined;
    if (!fetched && !this.sent.has(onnxUri)) fetched = fetchFiles();
    if (fetched) {
      files = await fetched;
      if (this.worker !== worker) return this.run(runId, info, inputIds, backend, progress, opts);
      // A concurrent run may have sent (and so detached) the same bytes meanwhile.
      if (this.sent.has(onnxUri) || files.model.byteLength === 0) files = undefined;
    } else progress({ stage: 'model', done: true });
    const model = files?.model;
    const externalData = files?.externalData;
    const decoderModel = files?.decoder;
    return new Promise<RunResult>((resolve, reject) => {
      this.pending.set(runId, { resolve, reject, progress, times, deadlineMs: webgpuDeadlineMs });
      const msg: PanelToWorker = {
        type: 'run', runId, backend, model, externalData, modelKey: onnxUri,
        inputIds: [...inputIds], extraInputs: [...info.extraInputs], context: info.context ?? info.maxTokens,
        ...(info.slidingWindows ? { slidingWindows: info.slidingWindows } : {}),
        ...(info.relativeMaxDistance ? { relativeMaxDistance: info.relativeMaxDistance } : {}),
        ...(info.probe ? { probe: info.probe } : {}), ...(recompute ? { recompute } : {}), ...(companion ? { companion } : {}),
        ...(decoderModel ? { decoderModel } : {}), ...(decoderInputIds ? { decoderInputIds: [...decoderInputIds] } : {}),
      };
      // The bytes are transferred: the worker keeps them, this side does not need a copy.
      const transfer = [model, decoderModel, ...(externalData ?? []).map((e) => e.data)];
      worker.postMessage(msg, transfer.filter((b): b is ArrayBuffer => !!b));
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
