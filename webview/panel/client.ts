/**
 * The panel's side of inference: fetches dist/worker.js (connect-src), starts it from a blob: URL,
 * fetches each model's bytes once and hands them to the worker, and turns worker messages into
 * per-run promises. A crashed worker is replaced on the next run.
 */
import { assertNever, type BackendSetting, type BackendUsed, type PanelToWorker, type WorkerToPanel } from '../../src/shared/protocol';

/** A worker result plus how long fetching the model took here. */
export type RunResult = Extract<WorkerToPanel, { type: 'result' }> & { fetchMs: number };

/** Progress callback: stage and, once chosen, the backend. */
export type ProgressFn = (stage: 'fetching' | 'loading' | 'running', backend?: BackendUsed) => void;

interface Pending {
  resolve(r: RunResult): void;
  reject(e: Error): void;
  progress: ProgressFn;
  fetchMs: number;
}

async function fetchModel(uri: string): Promise<ArrayBuffer> {
  const r = await fetch(uri);
  if (!r.ok) throw new Error(`Could not fetch the model (${r.status} ${r.statusText}): ${uri}`);
  return r.arrayBuffer();
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
  private workerSource?: Promise<string>;
  /** Model keys the current worker holds. */
  private sent = new Set<string>();
  private pending = new Map<number, Pending>();
  /** Model fetches in flight, by URI, shared by concurrent runs. */
  private fetching = new Map<string, Promise<ArrayBuffer>>();

  constructor(private readonly workerUri: string, private readonly wasmBase: string) {}

  private async ensureWorker(): Promise<Worker> {
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
    const w = new Worker(url);
    URL.revokeObjectURL(url);
    w.onmessage = (ev: MessageEvent<WorkerToPanel>) => this.onMessage(ev.data);
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.fail(new Error(`The inference worker crashed: ${ev.message || 'unknown error'}`));
    };
    this.worker = w;
    this.sent.clear();
    return w;
  }

  /** Terminates the worker and rejects every pending run. */
  private fail(err: Error): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.sent.clear();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onMessage(msg: WorkerToPanel): void {
    const p = this.pending.get(msg.runId);
    if (!p) return; // a cancelled or unknown run: drop
    switch (msg.type) {
      case 'progress':
        p.progress(msg.stage, msg.backend);
        break;
      case 'result':
        this.pending.delete(msg.runId);
        p.resolve({ ...msg, fetchMs: p.fetchMs });
        break;
      case 'error':
        this.pending.delete(msg.runId);
        p.reject(new Error(msg.message));
        break;
      default:
        assertNever(msg);
    }
  }

  /** Runs the model at `onnxUri` on `inputIds`; rejects with CancelledError when superseded. */
  async run(runId: number, onnxUri: string, inputIds: readonly number[], backend: BackendSetting,
    extraInputs: readonly string[], progress: ProgressFn): Promise<RunResult> {
    const worker = await this.ensureWorker();
    let model: ArrayBuffer | undefined;
    let fetchMs = 0;
    if (!this.sent.has(onnxUri)) {
      progress('fetching');
      const t0 = performance.now();
      let fetching = this.fetching.get(onnxUri);
      if (!fetching) {
        fetching = fetchModel(onnxUri);
        this.fetching.set(onnxUri, fetching);
      }
      try {
        model = await fetching;
      } finally {
        this.fetching.delete(onnxUri);
      }
      fetchMs = performance.now() - t0;
      if (this.worker !== worker) return this.run(runId, onnxUri, inputIds, backend, extraInputs, progress);
      // A concurrent run may have sent (and so detached) the same bytes meanwhile.
      if (this.sent.has(onnxUri) || model.byteLength === 0) model = undefined;
    }
    return new Promise<RunResult>((resolve, reject) => {
      this.pending.set(runId, { resolve, reject, progress, fetchMs });
      const msg: PanelToWorker = {
        type: 'run', runId, wasmBase: this.wasmBase, backend, model, modelKey: onnxUri, inputIds: [...inputIds],
        extraInputs: [...extraInputs],
      };
      // The bytes are transferred: the worker keeps the model, this side does not need a copy.
      worker.postMessage(msg, model ? [model] : []);
      if (model) this.sent.add(onnxUri);
    });
  }

  /** Cancels a run: the worker skips or drops it and its promise rejects with CancelledError. */
  cancel(runId: number): void {
    const p = this.pending.get(runId);
    if (!p) return;
    this.pending.delete(runId);
    this.worker?.postMessage({ type: 'cancel', runId } satisfies PanelToWorker);
    p.reject(new CancelledError());
  }

  /** Stops the worker. */
  dispose(): void {
    this.fail(new CancelledError());
  }
}
