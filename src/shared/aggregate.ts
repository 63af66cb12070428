/**
 * Aggregations of a Float32 [L, H, T, T] attention stack (row i = query i): the mean and the element-wise
 * max over a layer's heads, and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
 * Transformers"). Pure; imports neither `vscode` nor the DOM.
 */

/** Mean over the heads of layer `l`: W[i, j] = (1/H) Σ_h A_h[i, j]. Rows still sum to 1. */
export function meanHeads(data: Float32Array, heads: number, t: number, l: number): Float32Array {
  const size = t * t;
  const out = new Float32Array(size);
  for (let h = 0; h < heads; h++) {
    const base = (l * heads + h) * size;
    for (let k = 0; k < size; k++) out[k] += data[base + k];
  }
  for (let k = 0; k < size; k++) out[k] /= heads;
  return out;
}

/** Element-wise max over the heads of layer `l`: M[i, j] = max_h A_h[i, j]. Rows do not sum to 1. */
export function maxHeads(data: Float32Array, heads: number, t: number, l: number): Float32Array {
  const size = t * t;
  const out = new Float32Array(size);
  for (let h = 0; h < heads; h++) {
    const base = (l * heads + h) * size;
    for (let k = 0; k < size; k++) if (h === 0 || data[base + k] > out[k]) out[k] = data[base + k];
  }
  return out;
}

/**
 * Attention rollout to layer `upTo`: per layer Â_l = ½W_l + ½I (W_l the mean over heads, the identity for
 * the residual stream), rows renormalised to sum to 1; then R = Â_upTo · … · Â_1 · Â_0, computed in Float64.
 * R[i, j] is how much of token j flows into position i at the output of layer `upTo`. Rows sum to 1.
 */
export function attentionRollout(data: Float32Array, heads: number, t: number, upTo: number): Float32Array {
  let r: Float64Array | undefined;
  for (let l = 0; l <= upTo; l++) {
    const w = meanHeads(data, heads, t, l);
    const a = new Float64Array(t * t);
    for (let i = 0; i < t; i++) {
      let s = 0;
      for (let j = 0; j < t; j++) s += (a[i * t + j] = 0.5 * w[i * t + j] + (i === j ? 0.5 : 0));
      if (s > 0) for (let j = 0; j < t; j++) a[i * t + j] /= s;
    }
    r = r ? matmul(a, r, t) : a;
  }
  return Float32Array.from(r ?? new Float64Array(t * t));
}

/** C = A·B for T×T row-major matrices. */
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

/** An aggregate over heads: 'mean' or 'max' of layer `layer`, or the rollout from layer 0 up to `layer`. */
export type Aggregate = 'mean' | 'max' | 'rollout';

/** The T×T matrix of an aggregate of a [layers, heads, T, T] stack. */
export function aggregateMatrix(data: Float32Array, heads: number, t: number, layer: number, how: Aggregate): Float32Array {
  if (how === 'mean') return meanHeads(data, heads, t, layer);
  if (how === 'max') return maxHeads(data, heads, t, layer);
  return attentionRollout(data, heads, t, layer);
}
