/**
 * A paged attention stack: per layer either recomputed from the tapped Q and K (qk-attention.ts) or the tapped
 * Softmax output kept as it came (the fallback where the score form was not identified). Rows are computed on
 * demand in O(T·d), and the statistics that need every row stream over blocks of rows (row-blocks.ts), so no whole
 * head's T × T matrix is computed here or held longer than one block. Rows computed elsewhere for a hover (the
 * worker's WebGPU, gpu-paged.ts) can be handed in; blocks computed there for statistics go straight to the statistics
 * (row-blocks.ts stepAsync) and are not kept. The worker holds Q and K (T × d per layer) instead of T² per head.
 * Pure: no `vscode`, no DOM.
 */
import { BLOCK_BYTES, type Attention, type HeadPages } from './attention';
import { isCausal } from './tap-collect';
import { qkRow, qkRows, type LayerQK } from './qk-attention';
import { ByteLru } from './byte-lru';
import { columnsComputable, qkColumn, rowNormalisers, type RowNormalisers } from './qk-columns';

/** Where one layer's attention comes from. */
export type LayerSource =
  | { readonly path: 'qk'; readonly qk: LayerQK }
  /** The tapped Softmax output of the layer, Float32 [heads, T, S]. */
  | { readonly path: 'softmax'; readonly data: Float32Array };

/** How many bytes of row normalisers (qk-columns.ts) a paged stack keeps: every head of 24 × 16 at T = 4 096 is 12 MiB. */
const NORMALISER_BYTES = 64 * 2 ** 20;

/** How many provided rows a paged stack keeps until they are asked for (the oldest go first). */
const PROVIDED_ROWS = 64;

/** The heads of a paged stack, served a row or a block of rows at a time; no head is kept whole. */
export class PagedHeads implements HeadPages {
  private largest = 0;
  /** Row normalisers of recomputed heads, by l · H + h, for columns (2T numbers each; the most recently used kept). */
  private readonly normalisers = new ByteLru<number, RowNormalisers>(NORMALISER_BYTES);
  /** Rows computed elsewhere, by `l,h,i`, answered by row() once; at most PROVIDED_ROWS. */
  private readonly provided = new Map<string, Float32Array>();

  /**
   * `blockBytes`: how large a block of rows the statistics ask for (attention.ts blockRowCount); `keys`: the keys S each
   * query attends over (the encoder's tokens for cross-attention; else the T queries).
   */
  constructor(readonly layers: readonly LayerSource[], readonly heads: number, readonly tokens: number, readonly blockBytes = BLOCK_BYTES,
    readonly keys = tokens) {}

  /**
   * Rows start…end−1 of head h of layer l, [end − start, S]: a view of a kept Softmax output, else recomputed from Q
   * and K (a new block).
   */
  rows(l: number, h: number, start: number, end: number): Float32Array {
    const src = this.source(l, h);
    const t = this.tokens;
    const s = this.keys;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > t || start > end) throw new RangeError(`There are no rows ${start}…${end} of ${t}.`);
    if (src.path === 'softmax') return src.data.subarray((h * t + start) * s, (h * t + end) * s);
    const block = qkRows(src.qk, h, start, end, s);
    this.largest = Math.max(this.largest, block.byteLength);
    return block;
  }

  /** Row i of head h of layer l, as a new array (a copy of a kept Softmax row, a row handed in, else from q_i and K). */
  row(l: number, h: number, i: number): Float32Array {
    const src = this.source(l, h);
    const t = this.tokens;
    const s = this.keys;
    if (!Number.isInteger(i) || i < 0 || i >= t) throw new RangeError(`There is no query ${i} of ${t}.`);
    if (src.path === 'softmax') return src.data.slice((h * t + i) * s, (h * t + i + 1) * s);
    const key = `${l},${h},${i}`;
    const given = this.provided.get(key);
    if (given) this.provided.delete(key);
    return given ?? qkRow(src.qk, h, i, new Float32Array(s), new Float64Array(s));
  }

  /**
   * Column j of head h of layer l (length T: the weight every query puts on key j) without the head's T × S matrix: a
   * strided read of a kept Softmax output, else from the head's row normalisers (one pass, then kept) in O(T·d);
   * undefined for a layer whose score form columns cannot be computed from (the row-block job answers then).
   */
  column(l: number, h: number, j: number): Float32Array | undefined {
    const src = this.source(l, h);
    const [t, s] = [this.tokens, this.keys];
    if (!Number.isInteger(j) || j < 0 || j >= s) throw new RangeError(`There is no key ${j} of ${s}.`);
    if (src.path === 'softmax') return Float32Array.from({ length: t }, (_, i) => src.data[(h * t + i) * s + j]);
    if (!columnsComputable(src.qk)) return undefined;
    const qk = src.qk;
    return qkColumn(qk, h, j, this.normalisers.get(l * this.heads + h, () => rowNormalisers(qk, h)));
  }

  /** Hands in rows [start, start + rows/S) of head h of layer l computed elsewhere: each answers row() once (at most PROVIDED_ROWS kept). */
  provide(l: number, h: number, start: number, rows: Float32Array): void {
    const s = this.keys;
    for (let r = 0; r < rows.length / s; r++) this.provided.set(`${l},${h},${start + r}`, rows.slice(r * s, (r + 1) * s));
    for (const k of this.provided.keys()) if (this.provided.size > PROVIDED_ROWS) this.provided.delete(k);
  }

  /** Whether head h of layer l is kept whole (a Softmax output): no need to compute it. */
  holds(l: number, h: number): boolean {
    return this.source(l, h).path === 'softmax';
  }

  /** The largest block of rows recomputed here so far, in bytes: what a test checks stays under one head's T × S floats. */
  get largestBlockBytes(): number {
    return this.largest;
  }

  /** Bytes held: Q and K (or Softmax outputs) of every layer (rows handed in for a hover are at most PROVIDED_ROWS rows). */
  heldBytes(): number {
    let b = 0;
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
 * cross-attention stack (`tokens` decoder queries over `keys` encoder keys; never causal). `blockBytes` sizes its row blocks.
 */
export function pagedAttention(layers: readonly LayerSource[], heads: number, tokens: number, blockBytes?: number,
  keys?: number): Attention & { pages: PagedHeads } {
  const causal = keys === undefined && tokens > 1 && layers.every((s) => (s.path === 'qk' ? s.qk.form.causal : isCausal(s.data, heads, tokens)));
  return {
    kind: keys === undefined ? 'self' : 'cross', layers: layers.length, heads, queries: tokens, keys: keys ?? tokens, causal,
    data: new Float32Array(0),
    pages: new PagedHeads(layers, heads, tokens, blockBytes, keys ?? tokens),
  };
}
