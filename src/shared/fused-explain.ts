/**
 * Explain one weight and ‖v‖ for attention recomputed from a fused operator: the head's q_i (after rotary) and Kᵀ
 * (its kv head, past included), the row's softmax input as the operator forms it, and ‖v_j‖ per query head, in
 * the shapes the Softmax path sends (weight-explain.ts, value-weighted.ts). Pure: no onnxruntime, no vscode, no DOM.
 */
import { rowLogits } from './fused-attention';
import type { LayerParts } from './fused-layouts';
import { valueNorms } from './value-weighted';

/** What the panel's explanation needs of one row of one head. */
export interface FusedRowExplanation {
  /** The softmax input of the row (−Infinity for excluded keys). */
  readonly scores: number[];
  /** q_i (× the operator's scale when that is not 1/√d, with scaling 'none'), and Kᵀ [d, T] row-major. */
  readonly q: number[];
  readonly kT: number[];
  readonly dHead: number;
  readonly scaling: 'div' | 'none';
}

/** Row `query` of query head `head` of a read fused node, as an explanation's inputs. */
export function explainFusedRow(parts: LayerParts, head: number, query: number): FusedRowExplanation {
  const { q, k } = parts.problem;
  if (!(head >= 0 && head < q.heads && query >= 0 && query < q.rows)) throw new RangeError(`there is no head ${head}, query ${query} in this layer`);
  const T = k.rows;
  const d = q.size;
  const row = new Float64Array(T);
  rowLogits(parts.problem, head, query, row);
  const kh = Math.floor(head / (q.heads / k.heads));
  const kT = new Array<number>(d * T);
  for (let j = 0; j < T; j++) for (let c = 0; c < d; c++) kT[c * T + j] = k.data[(kh * T + j) * d + c];
  const qi = Array.from(q.data.subarray((head * q.rows + query) * d, (head * q.rows + query + 1) * d));
  // The panel divides by √d for 'div'; any other scale is folded into q and shown as an unscaled product.
  const div = Math.abs(parts.problem.scale * Math.sqrt(d) - 1) <= 1e-6;
  return { scores: Array.from(row), q: div ? qi : qi.map((x) => x * parts.problem.scale), kT, dHead: d, scaling: div ? 'div' : 'none' };
}

/** ‖v_j‖ [Hq, T] of a read fused node: each query head takes its kv head's value norms. */
export function fusedValueNorms(parts: LayerParts): Float32Array {
  const { v } = parts;
  const Hq = parts.problem.q.heads;
  const perKv = valueNorms(v.data, v.heads, v.rows, v.size);
  const out = new Float32Array(Hq * v.rows);
  for (let h = 0; h < Hq; h++) {
    const kv = Math.floor(h / (Hq / v.heads));
    out.set(perKv.subarray(kv * v.rows, (kv + 1) * v.rows), h * v.rows);
  }
  return out;
}
