/**
 * A paged run's rows on WebGPU (issue 16): the layers recomputed from Q and K are uploaded once when the run is kept.
 * Before the store answers a hovered row (or its top keys) the row is computed on the GPU and handed to the stack's
 * PagedHeads; the statistics over every row (metrics, nearest heads, matrices and thumbnails, columns) take each block
 * of rows from the GPU as the worker's job driver asks for it (`blocks`, row-blocks.ts stepAsync), one dispatch and
 * readback per block, so no head's T × T matrix is held. Layers that do not fit the device, and every layer when there
 * is no device, stay with the JavaScript rows (qk-attention.ts).
 */
import type { AttentionQuery, AttentionStore } from '../../src/shared/attention-query';
import { combineHeadBlocks } from '../../src/shared/attention';
import { PagedHeads } from '../../src/shared/paged-attention';
import type { PathSummary } from '../../src/shared/attention-paths';
import type { RecomputedOn } from '../../src/shared/protocol';
import type { BlockFetch, BlockUnit } from '../../src/shared/row-blocks';
import type { GpuLayer, GpuRows } from './gpu-rows';

/** The kinds of question whose row is computed on the GPU ahead of the store's answer (the others stream blocks). */
const PREFETCHED = new Set<AttentionQuery['kind']>(['row', 'topk']);

/** A job's block source (GpuPagedRun.blocks): `fetch` for the driver, `on` where its paged blocks were computed. */
export interface GpuBlocks {
  readonly fetch: BlockFetch;
  /** 'webgpu' when every block of a recomputed layer came from the GPU, 'js' when any did not, undefined when there were none. */
  readonly on: RecomputedOn | undefined;
}

/** One held run's uploaded layers. */
export class GpuPagedRun {
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
   * Computes on the GPU the row a 'row' or 'topk' `query` needs from `store` (when it comes from this run's pages) and
   * hands it in: resolves to where the answer's row was recomputed. Undefined (answer at once) for other questions,
   * which stream their blocks (`blocks`). A row of a layer's mean or max takes that row of every head.
   */
  prefetch(store: AttentionStore, query: AttentionQuery): Promise<RecomputedOn> | RecomputedOn | undefined {
    if (!PREFETCHED.has(query.kind) || !('head' in query)) return undefined;
    const sel = query.head.head;
    if (typeof sel !== 'number' && sel !== 'mean' && sel !== 'max') return undefined;
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
    const i = (query as { query: number }).query;
    if (!Number.isInteger(i) || i < 0 || i >= this.pages.tokens) return undefined;
    const heads = typeof sel === 'number' ? [sel] : Array.from({ length: this.pages.heads }, (_, h) => h);
    return Promise.all(heads.map((h) => this.fetch(gl, l, h, i, i + 1))).then((on) => (on.every((x) => x === 'webgpu') ? 'webgpu' : 'js'));
  }

  /**
   * A block source for one job over row blocks: a unit whose rows are a head (or a layer's mean or max) of this run's
   * pages, on a layer uploaded here, is computed on the GPU (one dispatch and readback per head and block; a mean or max
   * combines the heads' blocks as layerMeanRows does); every other unit is left to its JavaScript source.
   */
  blocks(): GpuBlocks {
    let onGpu = 0;
    let inJs = 0;
    const fetch = (u: BlockUnit): Promise<Float32Array> | undefined => {
      const o = u.source.origin;
      if (!o || o.attention.pages !== this.pages || this.layers[o.layer] === undefined) return undefined;
      const gl = this.layers[o.layer];
      if (this.on(o.layer) !== 'webgpu' || !this.gpu || !gl || typeof gl === 'string') {
        inJs++;
        return undefined;
      }
      const gpu = this.gpu;
      const heads = typeof o.selector === 'number' ? [o.selector] : Array.from({ length: this.pages.heads }, (_, h) => h);
      return Promise.all(heads.map((h) => gpu.rows(gl, h, u.start, u.end))).then((b) => {
        onGpu++;
        return typeof o.selector === 'number' ? b[0] : combineHeadBlocks(o.selector, b.length, (h) => b[h], new Float32Array(b[0].length));
      }, () => {
        inJs++; // the device was lost or the run released meanwhile: this block from JavaScript
        return u.source.block(u.start, u.end);
      });
    };
    return { fetch, get on() { return inJs ? 'js' : onGpu ? 'webgpu' : undefined; } };
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
