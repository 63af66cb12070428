/**
 * A paged run's rows on WebGPU (issue 16): the layers recomputed from Q and K are uploaded once when the run is kept,
 * and before the store answers a question about one head (a hovered row, its top keys, its matrix or a column) the
 * rows it needs are computed on the GPU and handed to the stack's PagedHeads, which then answers from them. Layers that
 * do not fit the device, and every layer when there is no device, stay with the JavaScript rows (qk-attention.ts).
 */
import type { AttentionQuery, AttentionStore } from '../../src/shared/attention-query';
import { PagedHeads } from '../../src/shared/paged-attention';
import type { PathSummary } from '../../src/shared/attention-paths';
import type { RecomputedOn } from '../../src/shared/protocol';
import type { GpuLayer, GpuRows } from './gpu-rows';

/** The kinds of question whose rows can be computed on the GPU ahead of the store's answer. */
const PREFETCHED = new Set<AttentionQuery['kind']>(['row', 'topk', 'matrix', 'column']);

/** One held run's uploaded layers and the heads already computed on the GPU. */
export class GpuPagedRun {
  /** Heads (l · H + h) computed whole on the GPU and handed to the pages. */
  private readonly wholeHeads = new Set<number>();
  /**
   * Whole heads are computed one after another (a grid asks for every head at once, and each holds 2 × T² floats on
   * the device while it runs); single rows do not wait behind them.
   */
  private headQueue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly gpu: GpuRows | undefined, private readonly pages: PagedHeads,
    private readonly layers: readonly (GpuLayer | string | undefined)[]) {}

  /**
   * Uploads every layer of `pages` recomputed from Q and K to `gpu`; without one (no device, or `why`: the backend
   * setting keeps the run off WebGPU) every such layer stays in JavaScript.
   */
  static async create(gpu: GpuRows | undefined, pages: PagedHeads, why = 'there is no WebGPU device in the worker'): Promise<GpuPagedRun> {
    const none = gpu ? gpu.lost : why;
    const layers = await Promise.all(pages.layers.map((src) => (src.path !== 'qk' ? Promise.resolve(undefined) : none !== undefined ? Promise.resolve(none) : gpu!.upload(src.qk))));
    return new GpuPagedRun(gpu, pages, layers);
  }

  /** Where layer l's rows are recomputed: 'webgpu', 'js' (did not fit, or the device was lost), undefined for a Softmax layer. */
  on(l: number): RecomputedOn | undefined {
    const x = this.layers[l];
    if (x === undefined) return undefined;
    return typeof x === 'string' || this.gpu?.lost ? 'js' : 'webgpu';
  }

  /** Why layer l is not on the GPU; undefined when it is (or is a Softmax layer). */
  reason(l: number): string | undefined {
    const x = this.layers[l];
    return typeof x === 'string' ? x : this.gpu?.lost;
  }

  /**
   * Computes on the GPU the rows `query` needs from `store` (when they come from this run's pages) and hands them in:
   * resolves to where the answer's rows were recomputed. Undefined (answer at once) for questions the pages do not serve.
   * A row of a layer's mean or max takes that row of every head.
   */
  prefetch(store: AttentionStore, query: AttentionQuery): Promise<RecomputedOn> | RecomputedOn | undefined {
    if (!PREFETCHED.has(query.kind) || !('head' in query)) return undefined;
    const single = typeof query.head.head === 'number';
    const isRow = query.kind === 'row' || query.kind === 'topk';
    if (!single && !(isRow && (query.head.head === 'mean' || query.head.head === 'max'))) return undefined;
    let stack;
    try {
      stack = store.resolve(query.head).stack;
    } catch {
      return undefined; // the store's own answer names what is wrong
    }
    const l = query.head.layer;
    if (stack.pages !== this.pages) return undefined;
    const where = this.on(l);
    const gl = this.layers[l];
    if (where !== 'webgpu' || !this.gpu || !gl || typeof gl === 'string') return where;
    const t = this.pages.tokens;
    if (isRow) {
      const i = (query as { query: number }).query;
      if (!Number.isInteger(i) || i < 0 || i >= t) return undefined;
      const heads = single ? [query.head.head] : Array.from({ length: this.pages.heads }, (_, h) => h);
      return Promise.all(heads.map((h) => Promise.resolve(this.rowOf(gl, l, h, i)))).then((on) => (on.every((x) => x === 'webgpu') ? 'webgpu' : 'js'));
    }
    const h = query.head.head as number;
    const key = l * this.pages.heads + h;
    const done = this.headQueue.then(() => (this.pages.holds(l, h) ? (this.wholeHeads.has(key) ? 'webgpu' : 'js') : this.fetch(gl, l, h, 0, t)));
    this.headQueue = done;
    return done.then((on) => {
      if (on === 'webgpu') this.wholeHeads.add(key);
      return on;
    });
  }

  /** Row i of head h into the pages, unless the head is kept whole already. */
  private rowOf(gl: GpuLayer, l: number, h: number, i: number): Promise<RecomputedOn> | RecomputedOn {
    if (this.pages.holds(l, h)) return this.wholeHeads.has(l * this.pages.heads + h) ? 'webgpu' : 'js';
    return this.fetch(gl, l, h, i, i + 1);
  }

  /** The run's path summary with each recomputed layer's place. */
  summary(paths: PathSummary): PathSummary {
    return paths.map((p, l) => (p.path === 'qk' ? { ...p, on: this.on(l) ?? 'js' } : p));
  }

  /** Frees the uploaded layers (the run was dropped). */
  release(): void {
    for (const x of this.layers) if (x && typeof x !== 'string') x.release();
  }

  /** Rows [start, end) of head h on the GPU into the pages; 'js' when the GPU failed (the pages then compute them). */
  private async fetch(gl: GpuLayer, l: number, h: number, start: number, end: number): Promise<RecomputedOn> {
    try {
      this.pages.provide(l, h, start, await this.gpu!.rows(gl, h, start, end));
      return 'webgpu';
    } catch {
      return 'js';
    }
  }
}

/** Where a held run's pages are: its PagedHeads when the stack is paged. */
export function pagesOf(stack: { pages?: unknown }): PagedHeads | undefined {
  return stack.pages instanceof PagedHeads ? stack.pages : undefined;
}
