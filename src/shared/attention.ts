/**
 * The one attention type of Attention Lens, and the small view helpers every side uses (host, worker,
 * panel, compare view): one stack is Float32 [layers, heads, queries, keys], row i = query i. Self-attention
 * has queries = keys = T; cross-attention has decoder queries over encoder keys. Stacks stay in the worker that
 * computed them; what travels are the answers of attention-query.ts. Pure.
 */

/** Kinds of attention a model can have; cross-attention only in encoder–decoder models. */
export type AttentionStackKind = 'self' | 'encoder' | 'decoder' | 'cross';

/** Which token list indexes an axis: the selection's tokens, or the decoder's tokens. */
export type TokenAxis = 'input' | 'decoder';

/** One attention stack in memory. */
export interface Attention {
  readonly kind: AttentionStackKind;
  readonly layers: number;
  readonly heads: number;
  readonly queries: number;
  readonly keys: number;
  /** True when every entry above the diagonal is exactly 0 (a causal model). */
  readonly causal: boolean;
  /** Float32 [layers, heads, queries, keys]; empty for a paged stack, whose heads `pages` serves. */
  readonly data: Float32Array;
  /** Where a paged stack's heads come from (recomputed from Q and K on demand: paged-attention.ts); absent when held in `data`. */
  readonly pages?: HeadPages;
}

/** A paged stack's heads, served on demand instead of held: a row, or a block of rows, at a time. */
export interface HeadPages {
  /** Rows start…end−1 of a head as a [end − start, keys] block (a new array, or a view the source keeps; do not write to it). */
  rows(layer: number, head: number, start: number, end: number): Float32Array;
  /** Row `query` of a head, computed without the rest of the head: a new array. */
  row(layer: number, head: number, query: number): Float32Array;
  /** How many bytes one block of rows may take (blockRowCount). */
  readonly blockBytes: number;
  /** Column `key` of a head (the weight every query puts on it) without the head, where the source can; else undefined. */
  column?(layer: number, head: number, key: number): Float32Array | undefined;
}

/** How many bytes a block of rows takes at most by default: 4 MiB, 256 rows at T = 4 096. */
export const BLOCK_BYTES = 4 * 2 ** 20;

/** Rows per block for a stack: as many Float32 rows of `keys` as fit its block bytes (BLOCK_BYTES when held), at least 1. */
export function blockRowCount(a: Pick<Attention, 'keys' | 'pages'>): number {
  return Math.max(1, Math.floor((a.pages?.blockBytes ?? BLOCK_BYTES) / (4 * Math.max(1, a.keys))));
}

/** Rows start…end−1 of a head, [end − start, keys]: a view into a held stack, a block computed by a paged one. */
export function headRows(a: Attention, layer: number, head: number, start: number, end: number): Float32Array {
  if (a.pages) return a.pages.rows(layer, head, start, end);
  const n = a.queries * a.keys;
  const off = (layer * a.heads + head) * n;
  return a.data.subarray(off + start * a.keys, off + end * a.keys);
}

/** A head of a layer, or an aggregate over the layer's heads ('rollout': from layer 0 up to the layer). */
export type HeadSelector = number | 'mean' | 'max' | 'rollout';

/** The token lists that index a stack's rows and columns. */
export function axesOf(kind: AttentionStackKind): { readonly queryAxis: TokenAxis; readonly keyAxis: TokenAxis } {
  return { queryAxis: kind === 'decoder' || kind === 'cross' ? 'decoder' : 'input', keyAxis: kind === 'decoder' ? 'decoder' : 'input' };
}

/** A self-attention stack [layers, heads, T, T] over `data`; throws when its length does not fit. */
export function selfAttention(layers: number, heads: number, tokens: number, data: Float32Array, causal = false,
  kind: AttentionStackKind = 'self'): Attention {
  if (data.length !== layers * heads * tokens * tokens) throw new RangeError(`attention has ${data.length} values, expected ${layers}×${heads}×${tokens}²`);
  return { kind, layers, heads, queries: tokens, keys: tokens, causal, data };
}

/**
 * Head `head` of `layer`: a [queries, keys] view into a held stack, not a copy. A paged stack computes the whole head
 * (T² floats): statistics stream over headRows blocks instead (row-blocks.ts).
 */
export function headView(a: Attention, layer: number, head: number): Float32Array {
  return headRows(a, layer, head, 0, a.queries);
}

/** Rows start…end−1 of the mean over the heads of `layer` (`out`: a [end − start, keys] block to fill; head by head, one block each). */
export function layerMeanRows(a: Attention, layer: number, start: number, end: number,
  out: Float32Array = new Float32Array((end - start) * a.keys)): Float32Array {
  return combineHeadBlocks('mean', a.heads, (h) => headRows(a, layer, h, start, end), out);
}

/** Rows start…end−1 of the element-wise max over the heads of `layer`, into `out` as layerMeanRows. */
export function layerMaxRows(a: Attention, layer: number, start: number, end: number,
  out: Float32Array = new Float32Array((end - start) * a.keys)): Float32Array {
  return combineHeadBlocks('max', a.heads, (h) => headRows(a, layer, h, start, end), out);
}

/**
 * The same block of rows of `heads` heads (`blockOf(h)`, asked head by head) combined into `out`: their mean, or their
 * element-wise max. One arithmetic for every source of blocks (held, paged in JavaScript, or computed on a GPU).
 */
export function combineHeadBlocks(how: 'mean' | 'max', heads: number, blockOf: (h: number) => Float32Array, out: Float32Array): Float32Array {
  out.fill(0);
  for (let h = 0; h < heads; h++) {
    const m = blockOf(h);
    if (how === 'mean') for (let k = 0; k < out.length; k++) out[k] += m[k];
    else for (let k = 0; k < out.length; k++) if (h === 0 || m[k] > out[k]) out[k] = m[k];
  }
  if (how === 'mean' && heads > 0) for (let k = 0; k < out.length; k++) out[k] /= heads;
  return out;
}

/** Fills a whole [queries, keys] matrix block by block from a function of rows start…end−1 writing into its block. */
function byBlocks(a: Attention, fill: (start: number, end: number, out: Float32Array) => void): Float32Array {
  const out = new Float32Array(a.queries * a.keys);
  const step = blockRowCount(a);
  for (let s = 0; s < a.queries; s += step) {
    const e = Math.min(a.queries, s + step);
    fill(s, e, out.subarray(s * a.keys, e * a.keys));
  }
  return out;
}

/** Mean over the heads of `layer`: W[i, j] = (1/H) Σ_h A_h[i, j], a new matrix (rows still sum to 1). */
export function layerMean(a: Attention, layer: number): Float32Array {
  return byBlocks(a, (s, e, out) => layerMeanRows(a, layer, s, e, out));
}

/** Element-wise max over the heads of `layer`: M[i, j] = max_h A_h[i, j], a new matrix (rows do not sum to 1). */
export function layerMax(a: Attention, layer: number): Float32Array {
  return byBlocks(a, (s, e, out) => layerMaxRows(a, layer, s, e, out));
}

/**
 * Attention rollout to layer `upTo` (Abnar & Zuidema 2020): per layer Â_l = ½W_l + ½I (W_l the mean over
 * heads, I the residual stream), rows renormalised; R = Â_upTo ··· Â_0 in Float64. Rows sum to 1.
 * Self-attention stacks only (queries = keys).
 */
export function rollout(a: Attention, upTo: number): Float32Array {
  const t = a.queries;
  if (a.keys !== t) throw new RangeError('rollout needs a self-attention stack (queries = keys)');
  let r: Float64Array | undefined;
  for (let l = 0; l <= upTo; l++) {
    const m = rolloutLayer(a, l);
    r = r ? matmul(m, r, t) : m;
  }
  return Float32Array.from(r ?? new Float64Array(t * t));
}

/** One layer's rollout factor Â_l = ½W_l + ½I (W_l the mean over heads), rows renormalised, in Float64. */
export function rolloutLayer(a: Attention, layer: number): Float64Array {
  const t = a.queries;
  const w = layerMean(a, layer);
  const m = new Float64Array(t * t);
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let j = 0; j < t; j++) s += (m[i * t + j] = 0.5 * w[i * t + j] + (i === j ? 0.5 : 0));
    if (s > 0) for (let j = 0; j < t; j++) m[i * t + j] /= s;
  }
  return m;
}

/** C = A·B for T×T row-major matrices, in Float64. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, t: number): Float64Array {
  const c = new Float64Array(t * t);
  for (let i = 0; i < t; i++) {
    for (let k = 0; k < t; k++) {
      const x = a[i * t + k];
      if (x === 0) continue;
      for (let j = 0; j < t; j++) c[i * t + j] += x * b[k * t + j];
    }
  }
  return c;
}

/** The [queries, keys] matrix a selector names: a view for a head, a new matrix for an aggregate. */
export function headMatrix(a: Attention, layer: number, head: HeadSelector): Float32Array {
  if (head === 'mean') return layerMean(a, layer);
  if (head === 'max') return layerMax(a, layer);
  if (head === 'rollout') return rollout(a, layer);
  return headView(a, layer, head);
}

/** Row `query` of a selector's matrix: what the query attends to (a view for a head, computed for mean and max). */
export function headRow(a: Attention, layer: number, head: HeadSelector, query: number): Float32Array {
  const k = a.keys;
  if (typeof head === 'number') return a.pages ? a.pages.row(layer, head, query) : headRows(a, layer, head, query, query + 1);
  if (head === 'rollout') return rollout(a, layer).subarray(query * k, (query + 1) * k);
  const out = new Float32Array(k);
  for (let h = 0; h < a.heads; h++) {
    const row = headRow(a, layer, h, query);
    for (let j = 0; j < k; j++) {
      if (head === 'mean') out[j] += row[j] / a.heads;
      else if (h === 0 || row[j] > out[j]) out[j] = row[j];
    }
  }
  return out;
}

/** Indices of the `k` largest positive weights, largest first (ties: earlier token first). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) if (row[i] > 0) idx.push(i);
  idx.sort((x, y) => row[y] - row[x] || x - y);
  return idx.slice(0, Math.max(0, k));
}

/** Weights at or below this are not highlighted as targets (unless top-k brings them in). */
export const TARGET_THRESHOLD = 0.01;

/** At least this many targets are highlighted per query, when that many keys have weight > 0. */
export const MIN_TARGETS = 3;

/**
 * Keys to highlight for one query row: every j with weight > threshold, plus the largest positive
 * weights until at least `minCount` are chosen. Returned in ascending index order.
 */
export function selectTargets(row: ArrayLike<number>, threshold = TARGET_THRESHOLD, minCount = MIN_TARGETS): number[] {
  const chosen = new Set<number>();
  for (let j = 0; j < row.length; j++) if (row[j] > threshold) chosen.add(j);
  for (const j of topK(row, row.length)) {
    if (chosen.size >= minCount) break;
    chosen.add(j);
  }
  return [...chosen].sort((x, y) => x - y);
}

/** An attention weight as every view shows it (panel, hover card, compare view): four decimals. */
export function formatWeight(w: number): string {
  return w.toFixed(4);
}
