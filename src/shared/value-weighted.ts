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
  const out = new Float32Array(stack.length);
  for (let m = 0; m < layers * heads; m++) {
    for (let i = 0; i < t; i++) {
      const row = (m * t + i) * k;
      let s = 0;
      for (let j = 0; j < k; j++) s += stack[row + j] * norms[m * k + j];
      for (let j = 0; j < k; j++) out[row + j] = s > 0 ? (stack[row + j] * norms[m * k + j]) / s : stack[row + j];
    }
  }
  return { ...att, data: out };
}
