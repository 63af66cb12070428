/**
 * The arithmetic of attention, recomputed from a fused operator's inputs: per query head,
 * softmax(softcap(Q·Kᵀ·scale) + bias) over the keys a causal / local-window / padding rule allows, in Float64,
 * with rotary embeddings applied first where the operator applies them itself, and P·V to check the result
 * against the operator's own output. Inputs are already in head-major layout (fused-layouts.ts makes them so).
 * Pure: no onnxruntime, no vscode, no DOM.
 */

/** Per-head matrices: `data` is [heads, rows, size] row-major. */
export interface HeadMatrices {
  readonly heads: number;
  readonly rows: number;
  readonly size: number;
  readonly data: Float32Array;
}

/** Everything one fused attention node needs to give its probabilities. */
export interface AttentionProblem {
  /** Queries [Hq, S, d]. */
  readonly q: HeadMatrices;
  /** Keys [Hkv, T, d] (past and new concatenated); query head h reads kv head ⌊h / (Hq / Hkv)⌋. */
  readonly k: HeadMatrices;
  readonly scale: number;
  /** c·tanh(s / c) on the scaled scores before any mask, when > 0. */
  readonly softcap?: number;
  /** Query i sits at position past + i: causal keys are j ≤ past + i. */
  readonly past: number;
  readonly causal: boolean;
  /** Local window w > 0: the w keys past + i − w < j ≤ past + i only (GroupQueryAttention's local_window_size, as onnxruntime 1.30 reads it). */
  readonly window?: number;
  /** Keys j ≥ validKeys are padding (excluded). */
  readonly validKeys?: number;
  /** Additive bias for (head, query, key); −Infinity excludes the key. */
  readonly bias?: (h: number, i: number, j: number) => number;
  /** Added instead of excluding where causal (and local-window) rules apply: the operator's mask_filter_value, if it uses one. */
  readonly causalFill?: number;
}

/** Checks that the heads and sizes of a problem fit together; returns how many query heads share one kv head. */
function groupOf(p: AttentionProblem): number {
  if (p.k.size !== p.q.size) throw new RangeError(`queries have ${p.q.size} dims per head but keys have ${p.k.size}`);
  if (p.q.heads % p.k.heads !== 0) throw new RangeError(`${p.q.heads} query heads cannot share ${p.k.heads} key heads evenly`);
  return p.q.heads / p.k.heads;
}

/**
 * The softmax input of row i of query head h, into `row` (length T): softcap(q·k·scale) + bias (+ the causal fill),
 * −Infinity for excluded keys; returns the row's max.
 */
export function rowLogits(p: AttentionProblem, h: number, i: number, row: Float64Array): number {
  const { q, k } = p;
  const T = k.rows;
  const d = q.size;
  const kh = Math.floor(h / groupOf(p));
  const qOff = (h * q.rows + i) * d;
  let max = -Infinity;
  for (let j = 0; j < T; j++) {
    const outOfRule = (p.causal && j > p.past + i) || (p.window !== undefined && p.window > 0 && j <= p.past + i - p.window);
    const padded = p.validKeys !== undefined && j >= p.validKeys;
    let s = -Infinity;
    if (!padded && !(outOfRule && p.causalFill === undefined)) {
      const kOff = (kh * T + j) * d;
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q.data[qOff + c] * k.data[kOff + c];
      s = dot * p.scale;
      if (p.softcap && p.softcap > 0) s = p.softcap * Math.tanh(s / p.softcap);
      if (p.bias) s += p.bias(h, i, j);
      if (outOfRule) s += p.causalFill ?? 0;
    }
    row[j] = s;
    if (s > max) max = s;
  }
  return max;
}

/** Probabilities [Hq, S, T] (Float32, excluded keys exactly 0) for one node. */
export function attentionProbabilities(p: AttentionProblem): Float32Array {
  groupOf(p);
  const S = p.q.rows;
  const T = p.k.rows;
  const out = new Float32Array(p.q.heads * S * T);
  const row = new Float64Array(T);
  for (let h = 0; h < p.q.heads; h++) {
    for (let i = 0; i < S; i++) {
      const max = rowLogits(p, h, i, row);
      if (max === -Infinity) continue; // every key excluded: a row of zeros, which the tap's row check reports
      const base = (h * S + i) * T;
      let sum = 0;
      for (let j = 0; j < T; j++) sum += (row[j] = row[j] === -Infinity ? 0 : Math.exp(row[j] - max));
      for (let j = 0; j < T; j++) out[base + j] = row[j] / sum;
    }
  }
  return out;
}

/** Rotary embedding in place on [heads, rows, d], row r at `positions[r]`; cos/sin are [maxPos, rot/2] (rot ≤ d). */
export function applyRotary(m: HeadMatrices, cos: Float32Array, sin: Float32Array, half: number, positions: readonly number[],
  interleaved: boolean): void {
  const d = m.size;
  if (2 * half > d) throw new RangeError(`the rotary caches cover ${2 * half} dims but a head has ${d}`);
  for (let h = 0; h < m.heads; h++) {
    for (let r = 0; r < m.rows; r++) {
      const pos = positions[r];
      if (!Number.isInteger(pos) || pos < 0 || (pos + 1) * half > cos.length) {
        throw new RangeError(`position ${pos} is beyond the rotary caches (${cos.length / half} positions)`);
      }
      const off = (h * m.rows + r) * d;
      for (let c = 0; c < half; c++) {
        const a = interleaved ? off + 2 * c : off + c;
        const b = interleaved ? a + 1 : off + half + c;
        const x1 = m.data[a];
        const x2 = m.data[b];
        const co = cos[pos * half + c];
        const si = sin[pos * half + c];
        m.data[a] = x1 * co - x2 * si;
        m.data[b] = x2 * co + x1 * si;
      }
    }
  }
}

/** P·V per query head: [Hq, S, dv] from probabilities [Hq, S, T] and values [Hkv, T, dv], for the query rows listed (default all; others stay 0). */
export function weightedValues(probs: Float32Array, v: HeadMatrices, queryHeads: number, queries: number,
  rows: readonly number[] = Array.from({ length: queries }, (_, i) => i)): Float64Array {
  const T = v.rows;
  const dv = v.size;
  const group = queryHeads / v.heads;
  const out = new Float64Array(queryHeads * queries * dv);
  for (let h = 0; h < queryHeads; h++) {
    const vh = Math.floor(h / group);
    for (const i of rows) {
      const o = (h * queries + i) * dv;
      for (let j = 0; j < T; j++) {
        const w = probs[(h * queries + i) * T + j];
        if (w === 0) continue;
        const vo = (vh * T + j) * dv;
        for (let c = 0; c < dv; c++) out[o + c] += w * v.data[vo + c];
      }
    }
  }
  return out;
}

/** Concatenates past [H, P, d] and new [H, S, d] rows per head (present = past ‖ new); `past` undefined or empty gives `next`. */
export function concatRows(past: HeadMatrices | undefined, next: HeadMatrices): HeadMatrices {
  if (!past || past.rows === 0) return next;
  if (past.heads !== next.heads || past.size !== next.size) {
    throw new RangeError(`the past has ${past.heads} heads of ${past.size} but the new keys ${next.heads} of ${next.size}`);
  }
  const rows = past.rows + next.rows;
  const data = new Float32Array(next.heads * rows * next.size);
  for (let h = 0; h < next.heads; h++) {
    data.set(past.data.subarray(h * past.rows * past.size, (h + 1) * past.rows * past.size), h * rows * next.size);
    data.set(next.data.subarray(h * next.rows * next.size, (h + 1) * next.rows * next.size), (h * rows + past.rows) * next.size);
  }
  return { heads: next.heads, rows, size: next.size, data };
}
