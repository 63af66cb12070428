/**
 * A paged attention stack: per layer either recomputed from the tapped Q and K (qk-attention.ts) or the tapped
 * Softmax output kept as it came (the fallback where the score form was not identified). Rows are computed on
 * demand in O(T·d), and the statistics that need every row stream over blocks of rows (row-blocks.ts), so no whole
 * head's T × T matrix is held longer than one block. The worker holds Q and K (T × d per layer) instead of T² per head.
 * Pure: no `vscode`, no DOM.
 */
import { BLOCK_BYTES, type Attention, type HeadPages } from './attention';
import { isCausal } from './tap-collect';
import { qkRow, qkRows, type LayerQK } from './qk-attention';

/** Where one layer's attention comes from. */
export type LayerSource =
  | { readonly path: 'qk'; readonly qk: LayerQK }
  /** The tapped Softmax output of the layer, Float32 [heads, T, S]. */
  | { readonly path: 'softmax'; readonly data: Float32Array };

/** The heads of a paged stack, served a row or a block of rows at a time, nothing kept. */
export class PagedHeads implements HeadPages {
  private largest = 0;

  /**
   * `blockBytes`: how large a block of rows the statistics ask for (attention.ts blockRowCount); `keys`: the keys S each
   * query attends over (the encoder's tokens for cross-attention; else the T queries).
   */
  constructor(readonly layers: readonly LayerSource[], readonly heads: number, readonly tokens: number, readonly blockBytes = BLOCK_BYTES,
    readonly keys = tokens) {}

  /** Rows start…end−1 of head h of layer l, [end − start, S]: a view of a kept Softmax output, or recomputed from Q and K. */
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

  /** Row i of head h of layer l, as a new array (a copy of a kept Softmax row, else from q_i and K). */
  row(l: number, h: number, i: number): Float32Array {
    const src = this.source(l, h);
    const t = this.tokens;
    const s = this.keys;
    if (!Number.isInteger(i) || i < 0 || i >= t) throw new RangeError(`There is no query ${i} of ${t}.`);
    return src.path === 'softmax' ? src.data.slice((h * t + i) * s, (h * t + i + 1) * s) : qkRow(src.qk, h, i, new Float32Array(s), new Float64Array(s));
  }

  /** The largest block of rows recomputed so far, in bytes: what a test checks stays under one head's T² floats. */
  get largestBlockBytes(): number {
    return this.largest;
  }

  /** Bytes held: Q and K (or Softmax outputs) of every layer. */
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
