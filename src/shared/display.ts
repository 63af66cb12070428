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

/** An order-preserving 32-bit key of a Float32 bit pattern (negatives flipped, positives above them). */
const orderKey = (bits: number): number => (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;

/** The Float32 value of an orderKey. */
function fromOrderKey(key: number): number {
  const bits = new Uint32Array([key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0]);
  return new Float32Array(bits.buffer)[0];
}

/**
 * visibleQuantile of a [rows, cols] matrix (`cols` keys) fed a block of rows at a time, in two passes over the rows and without a
 * copy of the entries: the first counts the visible entries by the high 16 bits of an order-preserving key of their
 * Float32 bits, the second, within the bucket that holds the quantile, by the low 16 bits. The result is the entry
 * visibleQuantile selects, exactly. Feed every block (add), call `endPass()`, feed every block again, then `result()`.
 */
export class VisibleQuantileSink {
  private readonly counts = new Uint32Array(65536);
  private readonly bits = new Uint32Array(1);
  private readonly float = new Float32Array(this.bits.buffer);
  private pass = 0;
  private bucket = 0;
  private rank = 0;
  private n = 0;
  private max = -Infinity;

  constructor(private readonly cols: number, private readonly causal: boolean, private readonly q: number) {}

  /** Counts the visible entries of rows start… of `block` ([n, cols]). */
  add(block: Float32Array, start: number): void {
    const n = block.length / this.cols;
    for (let r = 0; r < n; r++) {
      const i = start + r;
      const end = this.causal ? Math.min(i + 1, this.cols) : this.cols;
      for (let j = 0, base = r * this.cols; j < end; j++) {
        this.float[0] = block[base + j];
        const key = orderKey(this.bits[0]);
        if (this.pass === 0) {
          this.counts[key >>> 16]++;
          this.n++;
          if (this.float[0] > this.max) this.max = this.float[0];
        } else if (key >>> 16 === this.bucket) this.counts[key & 0xffff]++;
      }
    }
  }

  /** Ends the first pass: picks the bucket that holds the quantile. */
  endPass(): void {
    const k = Math.min(this.n - 1, Math.max(0, Math.ceil(this.q * this.n) - 1));
    let below = 0;
    let b = 0;
    while (b < 65535 && below + this.counts[b] <= k) below += this.counts[b++];
    this.bucket = b;
    this.rank = k - below;
    this.counts.fill(0);
    this.pass = 1;
  }

  /** The quantile (the largest entry when it is not positive; 0 when nothing is visible). */
  result(): number {
    if (this.n === 0) return 0;
    let below = 0;
    let lo = 0;
    while (lo < 65535 && below + this.counts[lo] <= this.rank) below += this.counts[lo++];
    const v = fromOrderKey(((this.bucket << 16) | lo) >>> 0);
    return v > 0 ? v : this.max;
  }
}
