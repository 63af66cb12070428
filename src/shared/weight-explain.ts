/**
 * The maths behind one attention weight α_ij of one head, step by step: the dot product q_i·k_j, the
 * division by √d_k, the causal mask (−∞ above the diagonal), and the softmax over row i. Works from the
 * tapped Q and Kᵀ of the head when the graph has them, else from the tapped pre-softmax scores alone.
 * Pure; imports neither `vscode` nor the DOM.
 */

/** One explained weight. Logits are the Softmax inputs of row i (−Infinity where masked). */
export interface WeightExplanation {
  readonly query: number;
  readonly key: number;
  /** 'qk': recomputed from q and k; 'scores': only the tapped pre-softmax scores were available. */
  readonly source: 'qk' | 'scores';
  /** d_k (head size), q_i·k_j, the scale factor 1/√d_k applied by the graph (1 when none), and q·k·scale. */
  readonly dHead?: number;
  readonly dot?: number;
  readonly scale?: number;
  readonly scaled?: number;
  /**
   * What the graph adds on top of q·k·scale at (i, j), from the tapped scores (a mask or a position bias);
   * 0 for plain scaled dot-product attention.
   */
  readonly bias: number;
  /** Row i's logits (the softmax input), −Infinity for masked keys; the masked key count. */
  readonly logits: readonly number[];
  readonly masked: number;
  /** max_j logit, Σ_j exp(logit_j − max), and α_ij = exp(logit_ij − max) / Σ. */
  readonly max: number;
  readonly expSum: number;
  readonly weight: number;
  /** Row i's softmax, every key. */
  readonly row: readonly number[];
}

/** Softmax of a row of logits (−Infinity entries get 0), computed in Float64 with the max subtracted. */
export function softmax(logits: ArrayLike<number>): { probs: number[]; max: number; expSum: number } {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) if (logits[j] > max) max = logits[j];
  const e: number[] = [];
  let expSum = 0;
  for (let j = 0; j < logits.length; j++) {
    const v = Number.isFinite(logits[j]) && Number.isFinite(max) ? Math.exp(logits[j] - max) : 0;
    e.push(v);
    expSum += v;
  }
  return { probs: e.map((v) => (expSum > 0 ? v / expSum : 0)), max, expSum };
}

/**
 * A tapped score that stands for a masked key: −∞, or the large negative fill exports use (float32's lowest, or
 * float16's −65 504 in an fp16 graph). Such a key's weight is 0 either way.
 */
export function isMaskedScore(v: number): boolean {
  return !(v > -6e4);
}

/** Dot product of q_i (length d) and column j of Kᵀ ([d, T] row-major). */
export function dotQK(q: ArrayLike<number>, kT: ArrayLike<number>, d: number, t: number, j: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += q[c] * kT[c * t + j];
  return s;
}

/** Inputs of one explanation: the head's q_i, Kᵀ and tapped scores row, as the worker sends them. */
export interface ExplainInput {
  readonly query: number;
  readonly key: number;
  readonly tokens: number;
  readonly causal: boolean;
  /** The tapped Softmax input of row i (length T), when fetched. */
  readonly scores?: ArrayLike<number>;
  /** q_i (length d) and the head's Kᵀ ([d, T]), when the graph's score MatMul was found. */
  readonly q?: ArrayLike<number>;
  readonly kT?: ArrayLike<number>;
  readonly dHead?: number;
  /** How the graph scales q·k before the softmax: 'div' or 'mul' by √d_k, or 'none' (scaled before). */
  readonly scaling?: 'div' | 'mul' | 'none';
}

/**
 * Explains α_ij. With q and Kᵀ, row i's logits are q_i·k_j·scale (scale = 1/√d_k unless the graph does not
 * scale), plus whatever the tapped scores add on top (a bias, when they differ by more than rounding), and
 * −∞ for masked keys (j > i in a causal model, or masked in the tapped scores). Without them, the tapped
 * scores are the logits. Throws when neither is given.
 */
export function explainWeight(x: ExplainInput): WeightExplanation {
  const { query: i, key: j, tokens: t } = x;
  const maskedAt = (c: number): boolean => (x.causal && c > i) || (x.scores !== undefined && isMaskedScore(x.scores[c]));
  let logits: number[];
  let dot: number | undefined;
  let scale: number | undefined;
  let scaled: number | undefined;
  let bias = 0;
  const haveQK = x.q !== undefined && x.kT !== undefined && x.dHead !== undefined && x.dHead > 0;
  if (haveQK) {
    const d = x.dHead;
    scale = x.scaling === 'none' ? 1 : 1 / Math.sqrt(d);
    const raw = Array.from({ length: t }, (_, c) => dotQK(x.q!, x.kT!, d, t, c) * scale!);
    dot = dotQK(x.q, x.kT, d, t, j);
    scaled = dot * scale;
    logits = raw.map((v, c) => {
      if (maskedAt(c)) return -Infinity;
      const tapped = x.scores?.[c];
      // Anything the graph adds after the product (ALiBi, relative position bias) shows as a difference.
      const extra = tapped !== undefined ? tapped - v : 0;
      return Math.abs(extra) > 1e-4 * Math.max(1, Math.abs(v)) ? v + extra : v;
    });
    if (!maskedAt(j) && x.scores !== undefined) {
      const extra = x.scores[j] - scaled;
      bias = Math.abs(extra) > 1e-4 * Math.max(1, Math.abs(scaled)) ? extra : 0;
    }
  } else if (x.scores) {
    logits = Array.from({ length: t }, (_, c) => (maskedAt(c) ? -Infinity : Number(x.scores![c])));
  } else {
    throw new Error('Nothing to explain the weight with: neither Q and K nor the pre-softmax scores were tapped.');
  }
  const { probs, max, expSum } = softmax(logits);
  return {
    query: i, key: j, source: haveQK ? 'qk' : 'scores', dHead: x.dHead, dot, scale, scaled, bias,
    logits, masked: logits.filter((v) => v === -Infinity).length, max, expSum, weight: probs[j], row: probs,
  };
}

/**
 * Slices head h's q_i and Kᵀ out of tapped tensors: Q [.., H, T, d] and Kᵀ [.., H, d, T] (batch 1), or
 * undefined when their shapes are not that (then only the scores can be shown).
 */
export function headQK(q: { dims: readonly number[]; data: Float32Array }, kT: { dims: readonly number[]; data: Float32Array },
  heads: number, t: number, h: number, i: number): { q: Float32Array; kT: Float32Array; d: number } | undefined {
  const qd = q.dims;
  const kd = kT.dims;
  if (qd.length < 2 || kd.length < 2 || qd[qd.length - 2] !== t || kd[kd.length - 1] !== t) return undefined;
  const d = qd[qd.length - 1];
  if (kd[kd.length - 2] !== d || q.data.length !== heads * t * d || kT.data.length !== heads * d * t) return undefined;
  return {
    q: q.data.slice((h * t + i) * d, (h * t + i + 1) * d),
    kT: kT.data.slice(h * d * t, (h + 1) * d * t),
    d,
  };
}
