/**
 * Columns of recomputed attention ("attended by": the weight every query puts on key j) without the T × T head:
 * α_ij = exp(s·q_i·k_j − m_i) / Z_i, where m_i and Z_i are row i's largest score and softmax normaliser. One pass over
 * the head finds (m_i, Z_i) for every row (O(T·S·d), as computing the head would, but keeping 2T numbers instead of
 * T·S); after it, each column costs O(T·d). Only for the score forms qk-attention.ts recomputes (a scale and a
 * band mask); any other layer is left to the row-block job. Pure: no `vscode`, no DOM.
 */
import { isVisible, keyCount, rowScores, type LayerQK } from './qk-attention';

/** Per row of one head, Float64 [2, T]: the largest score m_i (first T), then Σ_j exp(score_ij − m_i) over the keys it sees. */
export type RowNormalisers = Float64Array;

/** The fields a layer may have for columns to be computed here: anything more (a bias) is left to the row-block job. */
const PLAIN_FORM = new Set(['scale', 'causal', 'window']);
const PLAIN_LAYER = new Set(['heads', 'kvHeads', 'tokens', 'keys', 'd', 'q', 'kT', 'form']);

/** True when `x`'s scores are s·q·k under a band mask and nothing else, so its columns can be computed here. */
export function columnsComputable(x: LayerQK): boolean {
  return Object.keys(x.form).every((k) => PLAIN_FORM.has(k)) && Object.keys(x).every((k) => PLAIN_LAYER.has(k));
}

/** Row normalisers of head h: one pass over its rows' scores as qkRow forms them (rowScores, Float64). */
export function rowNormalisers(x: LayerQK, h: number): RowNormalisers {
  const t = x.tokens;
  const s = keyCount(x);
  const norm = new Float64Array(2 * t);
  const scratch = new Float64Array(s);
  for (let i = 0; i < t; i++) {
    const { z, start, end } = rowScores(x, h, i, scratch);
    let m = -Infinity;
    for (let j = start; j < end; j++) if (z[j] > m) m = z[j];
    let total = 0;
    for (let j = start; j < end; j++) total += Math.exp(z[j] - m);
    norm[i] = m;
    norm[t + i] = total;
  }
  return norm;
}

/** Column j of head h (length T): the weight each query puts on key j, 0 where the mask hides it. */
export function qkColumn(x: LayerQK, h: number, j: number, norm: RowNormalisers): Float32Array {
  const { tokens: t, d } = x;
  const s = keyCount(x);
  if (!Number.isInteger(j) || j < 0 || j >= s) throw new RangeError(`There is no key ${j} of ${s}.`);
  const kOff = Math.floor(h / (x.heads / x.kvHeads)) * d * s;
  const out = new Float32Array(t);
  for (let i = 0; i < t; i++) {
    if (!isVisible(i, j, x.form)) continue;
    const qOff = (h * t + i) * d;
    let dot = 0;
    for (let c = 0; c < d; c++) dot += x.q[qOff + c] * x.kT[kOff + c * s + j];
    out[i] = Math.exp(dot * x.form.scale - norm[i]) / norm[t + i];
  }
  return out;
}
