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
