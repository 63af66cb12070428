/**
 * Attention at display resolution, in time linear in the matrix: the colour scale's top (an exact
 * quantile by selection, never a sort of T² values) and max-pooling of a [T, K] matrix into the pixels a
 * thumbnail or heatmap has. Pure: no DOM, no vscode.
 */

/**
 * The k-th smallest value (0-based) of `a`, found in place by quickselect (Hoare partition, median-of-three
 * pivot): expected O(n). `a` is reordered. Precondition: 0 ≤ k < a.length, no NaN.
 */
export function selectKth(a: Float64Array | Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot value: keeps sorted and constant runs from the quadratic case.
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++;
        j--;
      }
    }
    // Now a[lo..j] ≤ pivot ≤ a[i..hi], and every a[j+1..i-1] equals the pivot.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * Top of a heatmap's colour scale: the q-quantile (the ⌈q·n⌉-th smallest) of the visible entries of a
 * [rows, cols] matrix (j ≤ i when causal), or the largest entry when that quantile is 0; 0 when nothing is
 * visible. Equal to sorting the entries and indexing, in linear time (one Float64 copy of the entries).
 */
export function visibleQuantile(m: ArrayLike<number>, rows: number, causal: boolean, q: number, cols = rows): number {
  let n = 0;
  for (let i = 0; i < rows; i++) n += causal ? Math.min(i + 1, cols) : cols;
  if (n === 0) return 0;
  const values = new Float64Array(n);
  let p = 0;
  let max = -Infinity;
  for (let i = 0; i < rows; i++) {
    const end = causal ? Math.min(i + 1, cols) : cols;
    for (let j = 0, base = i * cols; j < end; j++) {
      const v = m[base + j];
      values[p++] = v;
      if (v > max) max = v;
    }
  }
  const k = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  const v = selectKth(values, k);
  return v > 0 ? v : max;
}

/** Start of block `b` of `out` blocks over `n` cells: blocks tile [0, n) and differ in size by at most one cell. */
export const blockStart = (b: number, n: number, out: number): number => Math.floor((b * n) / out);

/**
 * Max-pools a [rows, cols] matrix into [outRows, outCols] blocks (outRows ≤ rows, outCols ≤ cols). A block's
 * value is the largest visible entry in it; with `causal`, cells j > i are not visible and a block with no
 * visible cell is NaN (drawn as masked). One pass over the matrix.
 */
export function poolMax(m: ArrayLike<number>, rows: number, cols: number, outRows: number, outCols: number,
  causal: boolean): Float32Array {
  const out = new Float32Array(outRows * outCols).fill(NaN);
  // Column → block lookup, so the inner loop is one read and one compare.
  const colBlock = new Int32Array(cols);
  for (let b = 0; b < outCols; b++) {
    for (let j = blockStart(b, cols, outCols), end = blockStart(b + 1, cols, outCols); j < end; j++) colBlock[j] = b;
  }
  for (let rb = 0; rb < outRows; rb++) {
    const base = rb * outCols;
    for (let i = blockStart(rb, rows, outRows), iEnd = blockStart(rb + 1, rows, outRows); i < iEnd; i++) {
      const end = causal ? Math.min(i + 1, cols) : cols;
      for (let j = 0, r = i * cols; j < end; j++) {
        const o = base + colBlock[j];
        const v = m[r + j];
        // NaN compares false: the first visible value always lands.
        if (!(out[o] >= v)) out[o] = v;
      }
    }
  }
  return out;
}

/** The size a [rows, cols] matrix is drawn at in a box of `maxSide` pixels: pooled only where it has more cells than pixels. */
export function displaySize(rows: number, cols: number, maxSide: number): { rows: number; cols: number } {
  const side = Math.max(1, Math.floor(maxSide));
  return { rows: Math.min(rows, side), cols: Math.min(cols, side) };
}

/**
 * visibleQuantile of a [rows, cols] matrix fed a block of rows at a time (add), in one pass and without a copy of the
 * entries: the q-quantile is the ⌈q·n⌉-th smallest of the n visible entries, which is the smallest of the n − k
 * largest (k = ⌈q·n⌉ − 1), so a min-heap keeps those (1 % of the entries for the 99th percentile). The result is the
 * entry visibleQuantile selects, exactly.
 */
export class VisibleQuantileSink {
  private readonly heap: Float32Array;
  private size = 0;
  private max = -Infinity;

  constructor(rows: number, private readonly cols: number, private readonly causal: boolean, q: number) {
    let n = 0;
    for (let i = 0; i < rows; i++) n += causal ? Math.min(i + 1, cols) : cols;
    const k = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
    this.heap = new Float32Array(n === 0 ? 0 : n - k);
  }

  /** Takes in the visible entries of rows start… of `block` ([m, cols]). */
  add(block: Float32Array, start: number): void {
    const rows = block.length / this.cols;
    for (let r = 0; r < rows; r++) {
      const end = this.causal ? Math.min(start + r + 1, this.cols) : this.cols;
      for (let j = 0, base = r * this.cols; j < end; j++) this.push(block[base + j]);
    }
  }

  /** The quantile (the largest entry when it is not positive; 0 when nothing is visible). */
  result(): number {
    if (this.heap.length === 0) return 0;
    const v = this.heap[0];
    return v > 0 ? v : this.max;
  }

  /** Keeps `v` when it is among the largest heap.length seen so far. */
  private push(v: number): void {
    const h = this.heap;
    if (v > this.max) this.max = v;
    if (this.size < h.length) {
      let c = this.size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (h[p] <= v) break;
        h[c] = h[p];
        c = p;
      }
      h[c] = v;
      return;
    }
    if (!(v > h[0])) return;
    // Replace the smallest kept and sift down.
    let c = 0;
    for (;;) {
      let m = 2 * c + 1;
      if (m >= this.size) break;
      if (m + 1 < this.size && h[m + 1] < h[m]) m++;
      if (h[m] >= v) break;
      h[c] = h[m];
      c = m;
    }
    h[c] = v;
  }
}
