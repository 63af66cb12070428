/**
 * Fetched tensors as a fused attention operator lays them out, turned into per-head matrices (fused-attention.ts):
 * [1, S, heads·d] split into heads, [1, heads, S, d] as is, packed QKV / KV slots, and masks or biases broadcast to
 * [heads, S, T]. Batch 1 only. Pure: no onnxruntime, no vscode, no DOM.
 */
import type { HeadMatrices } from './fused-attention';

/** A fetched tensor: dims, values as numbers (int64 converted, bool as 0/1), and onnxruntime's type name. */
export interface Fetched {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
  readonly type: string;
}

/** Why a fused node cannot be recomputed: a message for the user. */
export class FusedAttentionError extends Error {}

/** Float32 values of a fetched array (the same array when it already is one). */
export const f32 = (a: ArrayLike<number>): Float32Array => (a instanceof Float32Array ? a : Float32Array.from(a));

/** Columns [col, col + heads·d) of a [1, S, W] tensor as [heads, S, d] ("BSNH" to "BNSH"). */
export function splitHeads(t: Fetched, col: number, heads: number, d: number, bias?: ArrayLike<number>, biasOff = 0): HeadMatrices {
  const [b, S, W] = t.dims;
  if (t.dims.length !== 3 || b !== 1) throw new FusedAttentionError(`expected a [1, tokens, hidden] tensor, got [${t.dims.join(', ')}]`);
  const data = new Float32Array(heads * S * d);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < S; i++) {
      for (let c = 0; c < d; c++) data[(h * S + i) * d + c] = t.data[i * W + col + h * d + c] + (bias ? bias[biasOff + h * d + c] : 0);
    }
  }
  return { heads, rows: S, size: d, data };
}

/** A [1, H, S, d] tensor as [H, S, d]. */
export function bnsh(t: Fetched): HeadMatrices {
  if (t.dims.length !== 4 || t.dims[0] !== 1) throw new FusedAttentionError(`expected a [1, heads, tokens, head size] tensor, got [${t.dims.join(', ')}]`);
  return { heads: t.dims[1], rows: t.dims[2], size: t.dims[3], data: f32(t.data) };
}

/** Slot `k` of a packed [1, S, N, slots, d] tensor (packed QKV or KV) as [N, S, d]. */
export function unpack(t: Fetched, k: number): HeadMatrices {
  const [, S, N, slots, d] = t.dims;
  const data = new Float32Array(N * S * d);
  for (let h = 0; h < N; h++) {
    for (let i = 0; i < S; i++) for (let c = 0; c < d; c++) data[(h * S + i) * d + c] = t.data[((i * N + h) * slots + k) * d + c];
  }
  return { heads: N, rows: S, size: d, data };
}

/** Right-aligned broadcast of a mask/bias tensor to [heads, S, T]: value at (h, i, j). */
export function broadcast(t: Fetched, heads: number, S: number, T: number): (h: number, i: number, j: number) => number {
  const dims = [...t.dims];
  while (dims.length < 4) dims.unshift(1);
  const [b, n, s, k] = dims;
  if (b !== 1 || (n !== 1 && n !== heads) || (s !== 1 && s !== S) || (k !== 1 && k !== T)) {
    throw new FusedAttentionError(`a mask or bias shaped [${t.dims.join(', ')}] does not broadcast to [1, ${heads}, ${S}, ${T}]`);
  }
  return (h, i, j) => t.data[((n === 1 ? 0 : h) * s + (s === 1 ? 0 : i)) * k + (k === 1 ? 0 : j)];
}

/** The rule an additive or boolean mask gives: bool true keeps a key; else the value is added. */
export function maskBias(t: Fetched, heads: number, S: number, T: number): (h: number, i: number, j: number) => number {
  const at = broadcast(t, heads, S, T);
  return t.type === 'bool' ? (h, i, j) => (at(h, i, j) ? 0 : -Infinity) : at;
}
