/**
 * Attention scaled by value norms: α_ij·‖v_j‖, each row renormalised to sum to 1, so it reads as "share of the
 * row's α·‖v‖" on the same scales as α. It is the first step of Kobayashi et al. 2020 ("Attention is Not
 * Only a Weight"), whose norm ‖α_ij·f(x_j)‖ also passes v_j through the output projection W_O (and, per
 * head, the head's slice of it); W_O is not tapped here, so this view is value-norm scaled α, not their measure.
 * Pure; imports neither `vscode` nor the DOM.
 */
import type { Attention } from './attention';

/** ‖v_j‖ for every head and token of a V tensor [.., H, T, d] (batch 1): Float32 [H, T]. */
export function valueNorms(v: ArrayLike<number>, heads: number, t: number, d: number): Float32Array {
  const out = new Float32Array(heads * t);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < t; j++) {
      let s = 0;
      const base = (h * t + j) * d;
      for (let c = 0; c < d; c++) s += v[base + c] * v[base + c];
      out[h * t + j] = Math.sqrt(s);
    }
  }
  return out;
}

/**
 * The stack with α_ij replaced by α_ij·‖v_j‖ / Σ_k α_ik·‖v_k‖ (norms: Float32 [L, H, keys]). A row whose
 * weighted sum is 0 stays as it was.
 */
export function valueWeightedStack(att: Attention, norms: Float32Array): Attention {
  const { layers, heads, queries: t, keys: k, data: stack } = att;
  if (norms.length !== layers * heads * k) throw new RangeError(`value norms hold ${norms.length} values, expected ${layers * heads * k}`);
  if (att.pages) {
    // A paged stack stays paged: each block of rows, or row, is weighted as it is served.
    const pages = att.pages;
    const weigh = (l: number, h: number, m: Float32Array, rows: number): Float32Array =>
      weighRows(m, new Float32Array(m.length), rows, k, norms.subarray((l * heads + h) * k, (l * heads + h + 1) * k));
    return {
      ...att,
      pages: {
        blockBytes: pages.blockBytes,
        rows: (l, h, s, e) => weigh(l, h, pages.rows(l, h, s, e), e - s),
        row: (l, h, i) => weigh(l, h, pages.row(l, h, i), 1),
      },
    };
  }
  const out = new Float32Array(stack.length);
  const n = t * k;
  for (let m = 0; m < layers * heads; m++) {
    weighRows(stack.subarray(m * n, (m + 1) * n), out.subarray(m * n, (m + 1) * n), t, k, norms.subarray(m * k, (m + 1) * k));
  }
  return { ...att, data: out };
}

/** Rows of `m` ([rows, k]) weighted by one head's value norms and renormalised, into `out`. */
function weighRows(m: Float32Array, out: Float32Array, rows: number, k: number, norms: Float32Array): Float32Array {
  for (let i = 0; i < rows; i++) {
    const row = i * k;
    let s = 0;
    for (let j = 0; j < k; j++) s += m[row + j] * norms[j];
    for (let j = 0; j < k; j++) out[row + j] = s > 0 ? (m[row + j] * norms[j]) / s : m[row + j];
  }
  return out;
}
