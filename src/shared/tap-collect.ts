/**
 * Checking what the tap produced after a run: which fetched Softmax outputs are attention matrices
 * ([batch, heads, T, K], rows summing to 1), stacked in the order given (the plan's layer order, which
 * planTap checks on the graph's edges: layer-order.ts), whether they are causal (exact zeros above the
 * diagonal), and float16 conversion. Re-exported by onnx-tap.ts. Pure.
 */
import type { Attention, AttentionStackKind } from './attention';
import { TapError } from './tap-error';

/** One fetched tapped output: dims and data converted to Float32. */
export interface FetchedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** The attention stack found after a run (an Attention: [layers, heads, T, K], K = T for self-attention), with what the tap checked. */
export interface CollectedAttention extends Attention {
  /** The tapped tensor names used, one per layer, in layer order. */
  readonly names: readonly string[];
  /** Largest |row sum − 1| seen. */
  readonly maxRowError: number;
}

/**
 * Keeps the fetched tensors shaped [1, H, T, K] (or [H, T, K]) whose rows sum to 1 within `tolerance`,
 * in the order given (pass them in plan order: TapPlan.softmaxOutputs is layer order), and stacks them;
 * K defaults to T. Throws TapError('no-attention') if none qualify.
 */
export function collectAttention(fetched: readonly FetchedTensor[], tokens: number, tolerance = 1e-3, keys = tokens,
  kind: AttentionStackKind = 'self'): CollectedAttention {
  const layers: FetchedTensor[] = [];
  let heads = -1;
  let maxRowError = 0;
  for (const t of fetched) {
    const d = t.dims;
    const h = d.length === 4 && d[0] === 1 ? d[1] : d.length === 3 ? d[0] : -1;
    if (h <= 0 || d[d.length - 1] !== keys || d[d.length - 2] !== tokens) continue;
    const err = maxRowSumError(t.data, h * tokens, keys);
    if (!(err <= tolerance)) continue;
    if (heads === -1) heads = h;
    if (h !== heads) continue;
    maxRowError = Math.max(maxRowError, err);
    layers.push(t);
  }
  if (layers.length === 0) {
    throw new TapError(
      `None of the ${fetched.length} Softmax outputs is an attention matrix of shape [batch, heads, ${tokens}, ${keys}].`,
      'no-attention',
    );
  }
  const size = heads * tokens * keys;
  const data = new Float32Array(layers.length * size);
  layers.forEach((t, l) => data.set(t.data.subarray(0, size), l * size));
  return {
    kind, layers: layers.length, heads, queries: tokens, keys, data,
    causal: keys === tokens && isCausal(data, layers.length * heads, tokens),
    names: layers.map((t) => t.name), maxRowError,
  };
}

/** Largest |Σ_j a[r, j] − 1| over `rows` rows of length `n`. */
export function maxRowSumError(a: Float32Array, rows: number, n: number): number {
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[r * n + j];
    const e = Math.abs(s - 1);
    if (!(e <= worst)) worst = e; // NaN propagates as a failure
  }
  return worst;
}

/** True when every entry above the diagonal of every [n×n] matrix is exactly 0. */
export function isCausal(a: Float32Array, matrices: number, n: number): boolean {
  if (n < 2) return true;
  for (let m = 0; m < matrices; m++) {
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) if (a[m * n * n + i * n + j] !== 0) return false;
    }
  }
  return true;
}

/** Converts IEEE half-precision bits to a Float32Array. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    out[i] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}
