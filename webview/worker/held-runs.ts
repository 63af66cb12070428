/**
 * The runs the inference worker holds, and its answers to their queries: the worker is the one owner of every stack it
 * computed (the panel and the host ask for rows and display-size matrices; nothing copies a stack out). Queries are
 * answered at once, not behind runs in the queue; those over every row a slice of row blocks at a time so hovers get in
 * between, each block of a paged layer on the GPU awaited from it (gpu-paged.ts `blocks`) where the run has one.
 */
import type { Attention } from '../../src/shared/attention';
import { AttentionStore, type AnsweredQuery } from '../../src/shared/attention-query';
import type { Job } from '../../src/shared/row-blocks';
import { messageOf } from '../../src/shared/backend-fallback';
import type { BackendUsed, PanelToWorker, RecomputedOn, WorkerToPanel } from '../../src/shared/protocol';
import type { ExplainableRun } from './explain';
import type { GpuBlocks, GpuPagedRun } from './gpu-paged';

type QueryMessage = Extract<PanelToWorker, { type: 'query' }>;

/** A held run's model, ids and backend: what computing its value norms needs. */
export type RunSource = ExplainableRun & { readonly backend: BackendUsed };

/**
 * What the worker keeps of a run with a result, to answer its queries (`gpu`: where its paged rows are computed on
 * WebGPU; `source`: to weight it by ‖v‖ on request).
 */
export interface HeldRun { store: AttentionStore; weighted?: AttentionStore; companion: boolean; gpu?: GpuPagedRun; source?: RunSource }

/** At most this many companion runs (Compare With Another Selection) are kept beside the base run; the oldest goes first. */
const MAX_COMPANIONS = 2;

/** How long one slice of a query over row blocks runs before the worker looks at its other messages. */
const SLICE_MS = 20;

/** How long no query must have come before background work (the induction probe) takes the thread. */
const QUIET_MS = 250;

/**
 * The stacks of the latest run with a result, and of its companion runs, by run id. `weighted` is added once
 * 'valueNorms' has found the value norms.
 */
export class HeldRuns {
  private readonly held = new Map<number, HeldRun>();
  /** When the last query arrived (performance.now()). */
  private lastQueryAt = 0;

  /** `sliceMs`: how long one slice of a query over row blocks runs (SLICE_MS; 0: one block a slice). */
  constructor(private readonly post: (msg: WorkerToPanel, transfer?: ArrayBuffer[]) => void, private readonly sliceMs = SLICE_MS) {}

  /** The run held under `runId`, if any. */
  get(runId: number): HeldRun | undefined {
    return this.held.get(runId);
  }

  /**
   * Keeps a run's stacks (and logits) for queries. A base run drops every run held before; a companion run is kept
   * beside them, dropping the oldest companion past MAX_COMPANIONS.
   */
  keep(runId: number, stacks: readonly Attention[], logits?: { data: Float32Array; vocab: number }, companion = false, gpu?: GpuPagedRun,
    source?: RunSource): void {
    if (!companion) for (const id of [...this.held.keys()]) this.drop(id);
    this.held.set(runId, { store: new AttentionStore(stacks, logits), companion, gpu, ...(source ? { source } : {}) });
    const companions = [...this.held].filter(([, h]) => h.companion);
    for (const [id] of companions.slice(0, Math.max(0, companions.length - MAX_COMPANIONS))) this.drop(id);
  }

  /** Forgets a run, releasing what it holds on the GPU. */
  private drop(runId: number): void {
    this.held.get(runId)?.gpu?.release();
    this.held.delete(runId);
  }

  /** Answers a query about a held run at once: a row for a hover must not wait. */
  answer(msg: QueryMessage): void {
    this.lastQueryAt = performance.now();
    const base = { type: 'answer' as const, id: msg.id, runId: msg.runId };
    const run = this.held.get(msg.runId);
    if (!run) return this.post({ ...base, stale: true, error: `Run ${msg.runId} is no longer held by the worker; run Show Attention again.` });
    const store = msg.weighted ? run.weighted : run.store;
    if (!store) return this.post({ ...base, error: 'The value norms of this run have not been computed.' });
    // A hovered paged row is computed on the GPU first (gpu-paged.ts), then answered as below.
    const gpu = msg.weighted ? undefined : run.gpu;
    const on = gpu?.prefetch(store, msg.query);
    if (on instanceof Promise) return void on.then((where) => this.answerNow(msg, store, where, gpu));
    this.answerNow(msg, store, on, gpu);
  }

  /** Answers a query from the store, saying where a paged head's rows were recomputed (`on`; a job's blocks: on `gpu` where it can). */
  private answerNow(msg: QueryMessage, store: AttentionStore, on: RecomputedOn | undefined, gpu: GpuPagedRun | undefined): void {
    const base = { type: 'answer' as const, id: msg.id, runId: msg.runId, ...(on ? { computedOn: on } : {}) };
    if (!this.held.has(msg.runId)) return this.post({ ...base, stale: true, error: `Run ${msg.runId} is no longer held by the worker.` });
    try {
      // A layer on the GPU streams its blocks from there; the worker's JavaScript reads columns off row normalisers.
      const job = store.job(msg.query, gpu ? (l) => gpu.on(l) === 'webgpu' : undefined);
      // A job that took no block (a column off row normalisers) was computed where its layer is: in JavaScript.
      const layerOn = gpu && 'head' in msg.query ? gpu.on(msg.query.head.layer) : undefined;
      if (job) return void this.answerInSlices(msg, job, { ...base, ...(layerOn ? { computedOn: 'js' as const } : {}) }, gpu?.blocks());
      const { answer, transfer } = store.answer(msg.query);
      this.post({ ...base, answer }, transfer);
    } catch (e) {
      this.post({ ...base, error: messageOf(e) });
    }
  }

  /** Resolves once no query has arrived for QUIET_MS, or as soon as `giveUp()` (a newer run is waiting). */
  async quiet(giveUp: () => boolean): Promise<void> {
    const start = performance.now();
    for (;;) {
      const wait = Math.max(this.lastQueryAt, start) + QUIET_MS - performance.now();
      if (wait <= 0 || giveUp()) return;
      await new Promise((r) => setTimeout(r, Math.min(wait, 50)));
    }
  }

  /**
   * Answers a query that needs every row (metrics, a matrix, nearest heads, a column) a slice of row blocks at a time
   * (about 20 ms each; the first at once, so a small one is answered at once), letting the questions that arrive
   * meanwhile (a hover's row) be answered between the slices, and reporting how many blocks are done while it takes
   * more than one slice (a paged stack at a long context). With `gpu` each block of a layer on the GPU is awaited from
   * it (awaiting lets other messages in too), and the answer says where the paged blocks were computed.
   */
  private async answerInSlices(msg: QueryMessage, job: Job<AnsweredQuery>, base: { type: 'answer'; id: number; runId: number; computedOn?: RecomputedOn },
    gpu?: GpuBlocks): Promise<void> {
    const progress = { type: 'queryProgress' as const, id: msg.id, runId: msg.runId, kind: msg.query.kind };
    let reported = false;
    const end = (): void => { if (reported) this.post({ ...progress, done: job.total, total: job.total }); };
    try {
      for (;;) {
        if (!this.held.has(msg.runId)) {
          end();
          return this.post({ ...base, stale: true, error: `Run ${msg.runId} is no longer held by the worker.` });
        }
        const done = gpu ? await job.stepAsync(this.sliceMs, gpu.fetch) : job.step(this.sliceMs);
        if (done) {
          end();
          const on = gpu?.on;
          return this.post({ ...base, ...(on ? { computedOn: on } : {}), answer: done.answer }, done.transfer);
        }
        this.post({ ...progress, done: job.done, total: job.total });
        reported = true;
        await new Promise((r) => setTimeout(r, 0));
      }
    } catch (e) {
      end();
      this.post({ ...base, error: messageOf(e) });
    }
  }
}
