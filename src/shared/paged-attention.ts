/**
 * A paged attention stack: per layer either recomputed from the tapped Q and K (qk-attention.ts) or the tapped
 * Softmax output kept as it came (the fallback where the score form was not identified). Rows are computed on
 * demand in O(T·d); whole heads, for the statistics that need them, one at a time, keeping the most recently used
 * under a byte budget. The worker holds Q and K (T × d per layer) instead of T² per head. Pure: no `vscode`, no DOM.
 */
import type { Attention, HeadPages } from './attention';
import { isCausal } from './tap-collect';
import { qkHead, qkRow, type LayerQK } from './qk-attention';
import { ByteLru } from './byte-lru';

/** Where one layer's attention comes from. */
export type LayerSource =
  | { readonly path: 'qk'; readonly qk: LayerQK }
  /** The tapped Softmax output of the layer, Float32 [heads, T, S]. */
  | { readonly path: 'softmax'; readonly data: Float32Array };

/** How many bytes of recomputed heads a paged stack keeps by default (four heads at T = 4 096). */
export const HEAD_CACHE_BYTES = 256 * 2 ** 20;

/** How many provided rows a paged stack keeps until they are asked for (the oldest go first). */
const PROVIDED_ROWS = 64;

/** The heads of a paged stack: computed on demand, the recently used kept under a byte budget. */
export class PagedHeads implements HeadPages {
  private readonly kept: ByteLru<number, Float32Array>;
  /** Rows computed elsewhere (the worker's WebGPU), by `l,h,i`, answered by row() once; at most PROVIDED_ROWS. */
  private readonly provided = new Map<string, Float32Array>();

  /** `keys`: the keys S each query attends over (the encoder's tokens for cross-attention; else the T queries). */
  constructor(readonly layers: readonly LayerSource[], readonly heads: number, readonly tokens: number, budget = HEAD_CACHE_BYTES,
    readonly keys = tokens) {
    this.kept = new ByteLru(budget);
  }

  /** Head h of layer l as a [T, S] matrix: a view of a kept Softmax output, or recomputed and kept a while. */
  head(l: number, h: number): Float32Array {
    const src = this.source(l, h);
    const n = this.tokens * this.keys;
    if (src.path === 'softmax') return src.data.subarray(h * n, (h + 1) * n);
    return this.kept.get(l * this.heads + h, () => qkHead(src.qk, h));
  }

  /** Row i of head h of layer l, as a new array (from a kept head when there is one, else from q_i and K). */
  row(l: number, h: number, i: number): Float32Array {
    const src = this.source(l, h);
    const t = this.tokens;
    const s = this.keys;
    if (!Number.isInteger(i) || i < 0 || i >= t) throw new RangeError(`There is no query ${i} of ${t}.`);
    const kept = src.path === 'softmax' ? src.data.subarray(h * t * s) : this.kept.peek(l * this.heads + h);
    const given = this.provided.get(`${l},${h},${i}`);
    if (given) this.provided.delete(`${l},${h},${i}`);
    return kept ? kept.slice(i * s, (i + 1) * s) : given ?? qkRow((src as { qk: LayerQK }).qk, h, i);
  }

  /** Hands in rows [start, start + rows/S) of head h of layer l computed elsewhere: a whole head is kept, rows answer row() once. */
  provide(l: number, h: number, start: number, rows: Float32Array): void {
    const [t, s] = [this.tokens, this.keys];
    if (start === 0 && rows.length === t * s) return void this.kept.get(l * this.heads + h, () => rows);
    for (let r = 0; r < rows.length / s; r++) this.provided.set(`${l},${h},${start + r}`, rows.slice(r * s, (r + 1) * s));
    for (const k of this.provided.keys()) if (this.provided.size > PROVIDED_ROWS) this.provided.delete(k);
  }

  /** Whether head h of layer l is kept whole (or is a Softmax output): no need to compute it again. */
  holds(l: number, h: number): boolean {
    return this.source(l, h).path === 'softmax' || this.kept.peek(l * this.heads + h) !== undefined;
  }

  /** Bytes held: Q and K (or Softmax outputs) of every layer, plus the heads kept. */
  heldBytes(): number {
    let b = this.kept.bytes;
    for (const s of this.layers) b += s.path === 'qk' ? s.qk.q.byteLength + s.qk.kT.byteLength : s.data.byteLength;
    return b;
  }

  private source(l: number, h: number): LayerSource {
    const src = this.layers[l];
    if (!src || !Number.isInteger(h) || h < 0 || h >= this.heads) throw new RangeError(`There is no head ${h} in layer ${l} of ${this.layers.length}×${this.heads}.`);
    return src;
  }
}

/**
 * A self-attention stack over paged layers (every layer `heads` heads over `tokens` tokens), or with `keys` a
 * cross-attention stack (`tokens` decoder queries over `keys` encoder keys; never causal).
 */
export function pagedAttention(layers: readonly LayerSource[], heads: number, tokens: number, budget?: number,
  keys?: number): Attention & { pages: PagedHeads } {
  const causal = keys === undefined && tokens > 1 && layers.every((s) => (s.path === 'qk' ? s.qk.form.causal : isCausal(s.data, heads, tokens)));
  return {
    kind: keys === undefined ? 'self' : 'cross', layers: layers.length, heads, queries: tokens, keys: keys ?? tokens, causal,
    data: new Float32Array(0),
    pages: new PagedHeads(layers, heads, tokens, budget, keys ?? tokens),
  };
}
