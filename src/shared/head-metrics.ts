/**
 * Per-head attention metrics, pure and unit-tested. `a` is one head's row-major T×T matrix
 * (row i = query i, column j = key j); every formula averages over the query rows it names.
 * Imports neither `vscode` nor the DOM.
 */

/** Previous-token score: mean over i ≥ 1 of A[i, i−1]. A pure previous-token head scores 1. */
export function previousTokenScore(a: ArrayLike<number>, t: number): number {
  if (t < 2) return 0;
  let s = 0;
  for (let i = 1; i < t; i++) s += a[i * t + i - 1];
  return s / (t - 1);
}

/**
 * First-token (sink) score: mean over i ≥ 2 of A[i, 0]. Rows 0 and 1 are left out because there key 0 is
 * the query itself (row 0, where a causal head has no other choice) or its previous token (row 1), so
 * weight there says nothing about a first-token preference: a pure previous-token head scores exactly 0,
 * a pure first-token head 1. 0 when T < 3.
 */
export function sinkScore(a: ArrayLike<number>, t: number): number {
  if (t < 3) return 0;
  let s = 0;
  for (let i = 2; i < t; i++) s += a[i * t];
  return s / (t - 2);
}

/** Self score: mean over i of A[i, i]. */
export function selfScore(a: ArrayLike<number>, t: number): number {
  let s = 0;
  for (let i = 0; i < t; i++) s += a[i * t + i];
  return t ? s / t : 0;
}

/** Entropy of row i in nats: H(A[i, ·]) = −Σ_j A[i, j]·ln A[i, j] (0·ln 0 = 0); ln n for uniform weight on n keys. */
export function rowEntropy(a: ArrayLike<number>, t: number, i: number): number {
  let h = 0;
  for (let j = 0; j < t; j++) {
    const p = a[i * t + j];
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/**
 * Normalised entropy: mean over the rows with n_i ≥ 2 of H(A[i, ·]) / ln(n_i), H(p) = −Σ_j p_j ln p_j, where
 * n_i is the number of keys row i may attend to: i+1 when `causal` (so rows i ≥ 1), else T (every row).
 * 1 means uniform over the allowed keys, 0 means one key.
 */
export function normalisedEntropy(a: ArrayLike<number>, t: number, causal: boolean): number {
  let total = 0;
  let rows = 0;
  for (let i = causal ? 1 : 0; i < t; i++) {
    const n = causal ? i + 1 : t;
    if (n < 2) continue;
    total += rowEntropy(a, t, i) / Math.log(n);
    rows++;
  }
  return rows ? total / rows : 0;
}

/** Mean attention distance: mean over i of Σ_j A[i, j]·|i − j|, in tokens. */
export function meanAttentionDistance(a: ArrayLike<number>, t: number): number {
  let s = 0;
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) s += a[i * t + j] * Math.abs(i - j);
  return t ? s / t : 0;
}

/**
 * Induction score on a repeated sequence [r, r] of period `period`: mean over k = 0..period−2 of
 * A[period + k, k + 1], the weight from the second copy of r_k onto the token after its first copy.
 */
export function inductionScore(a: ArrayLike<number>, t: number, period: number): number {
  let s = 0;
  let n = 0;
  for (let k = 0; k + 1 < period && period + k < t; k++) {
    s += a[(period + k) * t + k + 1];
    n++;
  }
  return n ? s / n : 0;
}

/**
 * Duplicate-token score: over queries i whose token occurred earlier, the mean total weight on those
 * earlier occurrences (keys j < i with ids[j] = ids[i]). 0 when no token repeats.
 */
export function duplicateTokenScore(a: ArrayLike<number>, t: number, ids: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 1; i < t; i++) {
    let w = 0;
    let seen = false;
    for (let j = 0; j < i; j++) {
      if (ids[j] === ids[i]) { w += a[i * t + j]; seen = true; }
    }
    if (seen) { s += w; n++; }
  }
  return n ? s / n : 0;
}

/** Every metric above of one head, as the whole-matrix functions give them (induction and duplicate only when asked). */
export interface HeadMetricSums {
  readonly entropy: number;
  readonly previousToken: number;
  readonly sink: number;
  readonly self: number;
  readonly distance: number;
  readonly duplicate: number | null;
  readonly induction: number | null;
}

/**
 * The metrics above over a head's T × T matrix fed a block of rows at a time (row-blocks.ts), each summed in the
 * same order as its whole-matrix function, so the results are equal to them exactly. `ids`: the tokens, for the
 * duplicate score (omitted: null); `period`: the induction probe's period (omitted: null).
 */
export class HeadMetricsSink {
  private entropy = 0;
  private entropyRows = 0;
  private prev = 0;
  private sinkSum = 0;
  private selfSum = 0;
  private distance = 0;
  private duplicate = 0;
  private duplicateRows = 0;
  private induction = 0;
  private inductionRows = 0;

  constructor(private readonly t: number, private readonly causal: boolean, private readonly ids?: ArrayLike<number>, private readonly period?: number) {}

  /** Adds rows start… of `block` ([n, T]). */
  add(block: Float32Array, start: number): void {
    const t = this.t;
    const n = block.length / t;
    for (let r = 0; r < n; r++) {
      const i = start + r;
      const row = r * t;
      const visible = this.causal ? i + 1 : t;
      if (visible >= 2 && (!this.causal || i >= 1)) {
        this.entropy += rowEntropy(block, t, r) / Math.log(visible);
        this.entropyRows++;
      }
      if (i >= 1) this.prev += block[row + i - 1];
      if (i >= 2) this.sinkSum += block[row];
      this.selfSum += block[row + i];
      for (let j = 0; j < t; j++) this.distance += block[row + j] * Math.abs(i - j);
      if (this.ids && i >= 1) this.addDuplicate(block, row, i);
      const p = this.period;
      if (p !== undefined && i >= p && i - p + 1 < p) {
        this.induction += block[row + i - p + 1];
        this.inductionRows++;
      }
    }
  }

  /** The metrics once every row was added. */
  result(): HeadMetricSums {
    const t = this.t;
    return {
      entropy: this.entropyRows ? this.entropy / this.entropyRows : 0,
      previousToken: t < 2 ? 0 : this.prev / (t - 1),
      sink: t < 3 ? 0 : this.sinkSum / (t - 2),
      self: t ? this.selfSum / t : 0,
      distance: t ? this.distance / t : 0,
      duplicate: this.ids ? (this.duplicateRows ? this.duplicate / this.duplicateRows : 0) : null,
      induction: this.period === undefined ? null : this.inductionRows ? this.induction / this.inductionRows : 0,
    };
  }

  private addDuplicate(block: Float32Array, row: number, i: number): void {
    const ids = this.ids!;
    let w = 0;
    let seen = false;
    for (let j = 0; j < i; j++) {
      if (ids[j] === ids[i]) { w += block[row + j]; seen = true; }
    }
    if (seen) { this.duplicate += w; this.duplicateRows++; }
  }
}
