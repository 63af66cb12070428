/**
 * Attention recomputed from a layer's tapped queries and keys instead of held: α = softmax(s·QKᵀ + mask), row by
 * row, in O(T·d) per row. What `s` and the mask are is identified on a run that also fetched the layer's Softmax
 * input and output (attention-paths.ts), never assumed. Pure: no `vscode`, no DOM.
 */
import { isMaskedScore } from './weight-explain';
import { addRelativeRow, type RelativeBias } from './relative-bias';

/** How a layer forms its scores from q·k: a scale, and a causal mask (banded by a sliding window, or not) or none. */
export interface ScoreForm {
  /** The factor on q·k (1/√d_k for most models; 1 where Q or K was scaled before the product). */
  readonly scale: number;
  readonly causal: boolean;
  /**
   * A causal layer's sliding window (Mistral, Qwen2, Gemma 2/3 sliding layers): query i sees keys j with
   * i − window < j ≤ i, that is `window` keys including its own. This is Hugging Face's convention
   * (transformers masking_utils `sliding_window_overlay`: kv_idx > q_idx − sliding_window, on top of the causal
   * kv_idx ≤ q_idx) and onnxruntime's GroupQueryAttention `local_window_size`. Absent: no window.
   */
  readonly window?: number;
  /**
   * True where the graph adds a per-head, per-key term to s·q·k before the Softmax (BLOOM's ALiBi: slope_h × key
   * position, the same for every query): each run taps it (ScoreSources.biases) into LayerQK.bias.
   */
  readonly bias?: boolean;
  /** True where the graph adds T5's relative position bias, recomputed from its table (LayerQK.relative). */
  readonly relative?: boolean;
}

/** The mask part of a score form. */
export type Mask = Pick<ScoreForm, 'causal' | 'window'>;

/** Whether query i sees key j under `form` (the one mask test every recomputation shares). */
export function isVisible(i: number, j: number, form: Mask): boolean {
  return !form.causal || (j <= i && (form.window === undefined || j > i - form.window));
}

/** The keys query i sees under `form`, as the half-open range [start, end) (every mask here is one band). */
export function visibleKeys(i: number, tokens: number, form: Mask): { start: number; end: number } {
  if (!form.causal) return { start: 0, end: tokens };
  return { start: form.window === undefined ? 0 : Math.max(0, i - form.window + 1), end: Math.min(i + 1, tokens) };
}

/** One layer's tapped Q [heads, T, d] and Kᵀ [kvHeads, d, S] (batch 1), and how its scores are formed. */
export interface LayerQK {
  readonly heads: number;
  /** Heads of Kᵀ: `heads`, or fewer when query heads share keys (grouped-query attention). */
  readonly kvHeads: number;
  /** Queries T. */
  readonly tokens: number;
  /** Cross-attention only: the keys S (the encoder's tokens) the queries attend over; absent, the keys are the T queries. */
  readonly keys?: number;
  /**
   * The position of query 0 among the keys, for the mask and position biases: a step on a key/value cache holds only
   * its newest query, at position S − 1 (kv-forward.ts); absent, query i is at position i.
   */
  readonly queryStart?: number;
  readonly d: number;
  readonly q: Float32Array;
  readonly kT: Float32Array;
  /** What the graph adds to head h's score of key j, for every query: bias[h·S + j] ([heads, S]); absent: nothing. */
  readonly bias?: Float32Array;
  /** T5's relative position bias the graph adds: E[bucket(j − i), h] (relative-bias.ts); absent: none. */
  readonly relative?: RelativeBias;
  readonly form: ScoreForm;
}

/** The Q and Kᵀ part of a layer, before its score form is known. */
export type LayerTensors = Omit<LayerQK, 'form'>;

/** How many keys each query of `x` sees before masking: `keys` for cross-attention, else the queries. */
export const keyCount = (x: LayerTensors): number => x.keys ?? x.tokens;

/**
 * Reads tapped Q ([1, H, T, d] or [H, T, d]) and Kᵀ ([1, Hk, d, S] or [Hk, d, S], Hk dividing H) as a layer of
 * `tokens` queries over as many keys, or (cross-attention) over `keys` keys; or says why they are not that.
 */
export function layerTensors(q: { dims: readonly number[]; data: Float32Array }, kT: { dims: readonly number[]; data: Float32Array },
  tokens: number, keys?: number): LayerTensors | string {
  const strip = (d: readonly number[]): readonly number[] => (d.length === 4 && d[0] === 1 ? d.slice(1) : d);
  const qd = strip(q.dims);
  const kd = strip(kT.dims);
  if (qd.length !== 3 || kd.length !== 3) return `Q is [${q.dims.join(', ')}] and Kᵀ [${kT.dims.join(', ')}], not [heads, T, d] and [heads, d, T]`;
  const [heads, t, d] = qd;
  const [kvHeads, dk, tk] = kd;
  const s = keys ?? tokens;
  if (t !== tokens || tk !== s) return `Q and Kᵀ cover ${t} and ${tk} positions, not the ${tokens} queries and ${s} keys`;
  if (dk !== d || kvHeads < 1 || heads % kvHeads !== 0) return `Q [${qd.join(', ')}] and Kᵀ [${kd.join(', ')}] do not multiply head by head`;
  if (q.data.length !== heads * t * d || kT.data.length !== kvHeads * d * s) return 'Q or Kᵀ holds fewer values than its shape says';
  return { heads, kvHeads, tokens, ...(keys === undefined ? {} : { keys }), d, q: q.data, kT: kT.data };
}

/** Raw products q_i·k_j of head h for keys 0…S−1 into `out` (Float64 accumulation). */
export function rowDots(x: LayerTensors, h: number, i: number, out: Float64Array): Float64Array {
  const { tokens: t, d } = x;
  const s = keyCount(x);
  const kh = Math.floor(h / (x.heads / x.kvHeads));
  const qOff = (h * t + i) * d;
  const kOff = kh * d * s;
  out.fill(0, 0, s);
  for (let c = 0; c < d; c++) {
    const qc = x.q[qOff + c];
    if (qc === 0) continue;
    const k = kOff + c * s;
    for (let j = 0; j < s; j++) out[j] += qc * x.kT[k + j];
  }
  return out;
}

/**
 * Row i of head h: softmax over keys of s·q_i·k_j (keys the form masks, visibleKeys, get weight 0), written into
 * `out` (length S, the keys) and returned. `scratch`: a Float64Array of length ≥ S to reuse.
 */
export function qkRow(x: LayerQK, h: number, i: number, out = new Float32Array(keyCount(x)), scratch = new Float64Array(keyCount(x))): Float32Array {
  const t = keyCount(x);
  const { z, start, end } = rowScores(x, h, i, scratch);
  let max = -Infinity;
  for (let j = start; j < end; j++) {
    if (z[j] > max) max = z[j];
  }
  let sum = 0;
  for (let j = start; j < end; j++) sum += (z[j] = Math.exp(z[j] - max));
  for (let j = start; j < end; j++) out[j] = z[j] / sum;
  out.fill(0, 0, start);
  out.fill(0, end, t);
  return out;
}

/**
 * Row i of head h's scores before the softmax, s·q_i·k_j plus what the graph adds (its per-key bias, its relative
 * position bias), into `scratch` (Float64, length ≥ S), and the keys [start, end) the row sees: what qkRow takes the
 * softmax of, and what column normalisers (qk-columns.ts) sum.
 */
export function rowScores(x: LayerQK, h: number, i: number, scratch: Float64Array): { z: Float64Array; start: number; end: number } {
  const s = keyCount(x);
  const at = (x.queryStart ?? 0) + i;
  const { start, end } = visibleKeys(at, s, x.form);
  const z = rowDots(x, h, i, scratch);
  for (let j = start; j < end; j++) z[j] *= x.form.scale;
  addBiases(x, h, at, z);
  return { z, start, end };
}

/** Adds what the graph adds to head h's scores of the query at position `at` (its per-key bias, its relative position bias) into `z`. */
function addBiases(x: LayerTensors, h: number, at: number, z: Float64Array): void {
  const s = keyCount(x);
  if (x.bias) for (let j = 0, o = h * s; j < s; j++) z[j] += x.bias[o + j];
  if (x.relative) addRelativeRow(x.relative, h, at, s, z);
}

/** Head h's whole [T, S] matrix, one row at a time. */
export function qkHead(x: LayerQK, h: number): Float32Array {
  const s = keyCount(x);
  const out = new Float32Array(x.tokens * s);
  const scratch = new Float64Array(s);
  for (let i = 0; i < x.tokens; i++) qkRow(x, h, i, out.subarray(i * s, (i + 1) * s), scratch);
  return out;
}

/** The usual scales on q·k for head size d, snapped to when a fitted scale is this close (relative). */
const SNAP = 1e-4;

/**
 * Identifies how a layer formed its scores from the tapped Softmax input `logits` ([H, T, S], batch 1) of the same
 * run: which keys are masked (none; exactly those after the query; or those and the ones a sliding window leaves
 * behind, the band read off the masked cells: a window shows only when the run is longer than it; cross-attention:
 * none), and the one
 * factor s with logits = s·q·k + bias on every unmasked cell (least squares, snapped to 1/√d or 1 when that close;
 * bias: x.bias, the per-key terms the graph was seen to add, or 0). Anything else added on top (a relative position
 * bias that varies by query, a mask of another shape) is a reason string, not a form. `tolerance`:
 * the largest relative difference of a score from s·q·k taken as rounding (1e-3; an fp16 graph rounds more).
 */
export function identifyForm(x: LayerTensors, logits: Float32Array, tolerance = 1e-3): ScoreForm | string {
  const t = x.tokens;
  const s = keyCount(x);
  if (logits.length !== x.heads * t * s) return `the Softmax input holds ${logits.length} values, not ${x.heads}×${t}×${s}`;
  const mask = x.keys === undefined ? maskOf(logits, x.heads, t)
    : logits.some(isMaskedScore) ? 'it masks some of the keys it attends over' : { causal: false };
  if (typeof mask === 'string') return mask;
  const biases = new Float64Array(s);
  let num = 0;
  let den = 0;
  const dots = new Float64Array(t * s * x.heads);
  const logitsLessBias = new Float64Array(t * s * x.heads);
  for (let h = 0; h < x.heads; h++) {
    for (let i = 0; i < t; i++) {
      const row = dots.subarray((h * t + i) * s, (h * t + i + 1) * s);
      rowDots(x, h, i, row);
      biases.fill(0);
      addBiases(x, h, i, biases);
      for (let j = 0; j < s; j++) {
        // What the graph adds is taken off the scores before the fit, and left there for the check below.
        logitsLessBias[(h * t + i) * s + j] = logits[(h * t + i) * s + j] - biases[j];
        if (!isVisible(i, j, mask)) continue;
        num += logitsLessBias[(h * t + i) * s + j] * row[j];
        den += row[j] * row[j];
      }
    }
  }
  if (!(den > 0)) return 'q·k is zero everywhere, so its scale cannot be identified';
  let scale = num / den;
  for (const usual of [1 / Math.sqrt(x.d), 1]) if (Math.abs(scale - usual) <= SNAP * usual) scale = usual;
  let worst = 0;
  for (let c = 0; c < logits.length; c++) {
    const l = logits[c];
    if (isMaskedScore(l)) continue;
    worst = Math.max(worst, Math.abs(logitsLessBias[c] - scale * dots[c]) / Math.max(1, Math.abs(l)));
  }
  if (worst > tolerance) {
    return `something ${x.bias || x.relative ? 'besides the bias found ' : ''}is added to q·k×${scale.toPrecision(4)} before the Softmax ` +
      `(a position bias that varies by query, or another mask): off by up to ${worst.toPrecision(2)}`;
  }
  return { scale, ...mask, ...(x.bias ? { bias: true } : {}), ...(x.relative ? { relative: true } : {}) };
}

/**
 * The mask of scores `logits` [H, T, T]: none, causal, or causal within a sliding window (the most keys any query
 * sees, when some query past it sees fewer than all before it), checked on every cell; else why not.
 */
function maskOf(logits: Float32Array, heads: number, t: number): Mask | string {
  let widest = 0;
  let masked = 0;
  for (let r = 0; r < heads * t; r++) {
    let seen = 0;
    for (let j = 0; j < t; j++) if (!isMaskedScore(logits[r * t + j])) seen++;
    widest = Math.max(widest, seen);
    masked += t - seen;
  }
  if (t === 1) return 'one token cannot tell a causal mask from none';
  if (masked === 0) return { causal: false };
  const form: Mask = widest < t ? { causal: true, window: widest } : { causal: true };
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < t; j++) {
        if (isMaskedScore(logits[(h * t + i) * t + j]) === isVisible(i, j, form)) {
          return form.window === undefined ? 'its mask is neither causal nor absent'
            : `its mask is neither causal nor absent, nor a causal sliding window (the widest row sees ${form.window} keys)`;
        }
      }
    }
  }
  return form;
}

/** Largest |recomputed − tapped| over every row of the given heads (all by default); `softmax` is [H, T, S]. */
export function maxRowDifference(x: LayerQK, softmax: Float32Array, heads?: readonly number[]): number {
  const s = keyCount(x);
  const row = new Float32Array(s);
  const scratch = new Float64Array(s);
  let worst = 0;
  for (const h of heads ?? Array.from({ length: x.heads }, (_, k) => k)) {
    for (let i = 0; i < x.tokens; i++) {
      qkRow(x, h, i, row, scratch);
      const off = (h * x.tokens + i) * s;
      for (let j = 0; j < s; j++) worst = Math.max(worst, Math.abs(row[j] - softmax[off + j]));
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
