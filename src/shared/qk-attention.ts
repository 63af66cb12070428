/**
 * Attention recomputed from a layer's tapped queries and keys instead of held: α = softmax(s·QKᵀ + mask), row by
 * row, in O(T·d) per row. What `s` and the mask are is identified on a run that also fetched the layer's Softmax
 * input and output (attention-paths.ts), never assumed. Pure: no `vscode`, no DOM.
 */
import { isMaskedScore } from './weight-explain';

/** How a layer forms its scores from q·k: a scale, and a causal mask or none. */
export interface ScoreForm {
  /** The factor on q·k (1/√d_k for most models; 1 where Q or K was scaled before the product). */
  readonly scale: number;
  readonly causal: boolean;
}

/** One layer's tapped Q [heads, T, d] and Kᵀ [kvHeads, d, T] (batch 1), and how its scores are formed. */
export interface LayerQK {
  readonly heads: number;
  /** Heads of Kᵀ: `heads`, or fewer when query heads share keys (grouped-query attention). */
  readonly kvHeads: number;
  readonly tokens: number;
  readonly d: number;
  readonly q: Float32Array;
  readonly kT: Float32Array;
  readonly form: ScoreForm;
}

/** The Q and Kᵀ part of a layer, before its score form is known. */
export type LayerTensors = Omit<LayerQK, 'form'>;

/**
 * Reads tapped Q ([1, H, T, d] or [H, T, d]) and Kᵀ ([1, Hk, d, T] or [Hk, d, T], Hk dividing H) as a layer of
 * `tokens` queries, or says why they are not that.
 */
export function layerTensors(q: { dims: readonly number[]; data: Float32Array }, kT: { dims: readonly number[]; data: Float32Array },
  tokens: number): LayerTensors | string {
  const strip = (d: readonly number[]): readonly number[] => (d.length === 4 && d[0] === 1 ? d.slice(1) : d);
  const qd = strip(q.dims);
  const kd = strip(kT.dims);
  if (qd.length !== 3 || kd.length !== 3) return `Q is [${q.dims.join(', ')}] and Kᵀ [${kT.dims.join(', ')}], not [heads, T, d] and [heads, d, T]`;
  const [heads, t, d] = qd;
  const [kvHeads, dk, tk] = kd;
  if (t !== tokens || tk !== tokens) return `Q and Kᵀ cover ${t} and ${tk} positions, not the ${tokens} tokens`;
  if (dk !== d || kvHeads < 1 || heads % kvHeads !== 0) return `Q [${qd.join(', ')}] and Kᵀ [${kd.join(', ')}] do not multiply head by head`;
  if (q.data.length !== heads * t * d || kT.data.length !== kvHeads * d * t) return 'Q or Kᵀ holds fewer values than its shape says';
  return { heads, kvHeads, tokens, d, q: q.data, kT: kT.data };
}

/** Raw products q_i·k_j of head h for keys 0…T−1 into `out` (Float64 accumulation). */
export function rowDots(x: LayerTensors, h: number, i: number, out: Float64Array): Float64Array {
  const { tokens: t, d } = x;
  const kh = Math.floor(h / (x.heads / x.kvHeads));
  const qOff = (h * t + i) * d;
  const kOff = kh * d * t;
  out.fill(0, 0, t);
  for (let c = 0; c < d; c++) {
    const qc = x.q[qOff + c];
    if (qc === 0) continue;
    const k = kOff + c * t;
    for (let j = 0; j < t; j++) out[j] += qc * x.kT[k + j];
  }
  return out;
}

/**
 * Row i of head h: softmax over keys of s·q_i·k_j (keys after i masked in a causal layer, weight 0), written into
 * `out` (length T) and returned. `scratch`: a Float64Array of length ≥ T to reuse.
 */
export function qkRow(x: LayerQK, h: number, i: number, out = new Float32Array(x.tokens), scratch = new Float64Array(x.tokens)): Float32Array {
  const t = x.tokens;
  const end = x.form.causal ? i + 1 : t;
  const z = rowDots(x, h, i, scratch);
  let max = -Infinity;
  for (let j = 0; j < end; j++) {
    z[j] *= x.form.scale;
    if (z[j] > max) max = z[j];
  }
  let sum = 0;
  for (let j = 0; j < end; j++) sum += (z[j] = Math.exp(z[j] - max));
  for (let j = 0; j < end; j++) out[j] = z[j] / sum;
  out.fill(0, end, t);
  return out;
}

/** Head h's whole [T, T] matrix, one row at a time. */
export function qkHead(x: LayerQK, h: number): Float32Array {
  const t = x.tokens;
  const out = new Float32Array(t * t);
  const scratch = new Float64Array(t);
  for (let i = 0; i < t; i++) qkRow(x, h, i, out.subarray(i * t, (i + 1) * t), scratch);
  return out;
}

/** The usual scales on q·k for head size d, snapped to when a fitted scale is this close (relative). */
const SNAP = 1e-4;

/**
 * Identifies how a layer formed its scores from the tapped Softmax input `logits` ([H, T, T], batch 1) of the same
 * run: which keys are masked (none, or exactly those after the query), and the one factor s with logits = s·q·k on
 * every unmasked cell (least squares, snapped to 1/√d or 1 when that close). Anything else added on top (ALiBi, a
 * relative position bias, a padding or sliding-window mask) is a reason string, not a form. `tolerance`: the largest
 * relative difference of a score from s·q·k taken as rounding (1e-3; an fp16 graph rounds more).
 */
export function identifyForm(x: LayerTensors, logits: Float32Array, tolerance = 1e-3): ScoreForm | string {
  const t = x.tokens;
  if (logits.length !== x.heads * t * t) return `the Softmax input holds ${logits.length} values, not ${x.heads}×${t}×${t}`;
  let causal = true;
  let none = true;
  let num = 0;
  let den = 0;
  const dots = new Float64Array(t * t * x.heads);
  for (let h = 0; h < x.heads; h++) {
    for (let i = 0; i < t; i++) {
      const row = dots.subarray((h * t + i) * t, (h * t + i + 1) * t);
      rowDots(x, h, i, row);
      for (let j = 0; j < t; j++) {
        const masked = isMaskedScore(logits[(h * t + i) * t + j]);
        if (masked !== (j > i)) causal = false;
        if (masked) none = false;
        else {
          num += logits[(h * t + i) * t + j] * row[j];
          den += row[j] * row[j];
        }
      }
    }
  }
  if (!causal && !none) return 'its mask is neither causal nor absent';
  if (causal && none) return 'one token cannot tell a causal mask from none';
  if (!(den > 0)) return 'q·k is zero everywhere, so its scale cannot be identified';
  let scale = num / den;
  for (const s of [1 / Math.sqrt(x.d), 1]) if (Math.abs(scale - s) <= SNAP * s) scale = s;
  let worst = 0;
  for (let c = 0; c < logits.length; c++) {
    const l = logits[c];
    if (isMaskedScore(l)) continue;
    worst = Math.max(worst, Math.abs(l - scale * dots[c]) / Math.max(1, Math.abs(l)));
  }
  if (worst > tolerance) return `something is added to q·k×${scale.toPrecision(4)} before the Softmax (a position bias such as ALiBi, or another mask): off by up to ${worst.toPrecision(2)}`;
  return { scale, causal };
}

/** Largest |recomputed − tapped| over every row of the given heads (all by default); `softmax` is [H, T, T]. */
export function maxRowDifference(x: LayerQK, softmax: Float32Array, heads?: readonly number[]): number {
  const t = x.tokens;
  const row = new Float32Array(t);
  const scratch = new Float64Array(t);
  let worst = 0;
  for (const h of heads ?? Array.from({ length: x.heads }, (_, k) => k)) {
    for (let i = 0; i < t; i++) {
      qkRow(x, h, i, row, scratch);
      const off = (h * t + i) * t;
      for (let j = 0; j < t; j++) worst = Math.max(worst, Math.abs(row[j] - softmax[off + j]));
    }
  }
  return worst;
}

/**
 * Rows start…end−1 of head h as one [end − start, keys] block, qkRow for each (a statistic's row block: row-blocks.ts);
 * `keys`: the row length, the layer's tokens unless its queries attend over other keys.
 */
export function qkRows(x: LayerQK, h: number, start: number, end: number, keys = x.tokens): Float32Array {
  const out = new Float32Array((end - start) * keys);
  const scratch = new Float64Array(keys);
  for (let i = start; i < end; i++) qkRow(x, h, i, out.subarray((i - start) * keys, (i - start + 1) * keys), scratch);
  return out;
}
