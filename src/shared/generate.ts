/**
 * Generation stepping for decoder-only models, independent of any onnxruntime: choosing the next token from
 * one position's logits (greedy, or sampling with temperature and top-k from a seeded mulberry32), and the
 * loop that extends the ids one token at a time, keeping each step's attention row of the predicting
 * position ([layers, heads, T_step]). A forward either re-runs the model on the whole sequence each step, or steps
 * on the model's own key/value cache where the graph has one (kv-forward.ts); either way every step's row equals
 * the last row of a direct run on its prefix.
 */
import { headRow, type Attention } from './attention';
import { mulberry32 } from './head-labels';

/** How the next token is chosen: temperature 0 is greedy (argmax); topK 0 keeps the whole vocabulary. */
export interface SamplingOptions {
  readonly temperature: number;
  readonly topK: number;
  readonly seed: number;
}

/** Greedy decoding. */
export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, seed: 0 };

/** The most tokens one generation may ask for. */
export const MAX_GENERATE_STEPS = 64;

/** Index of the largest value (the first one on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** The probabilities sampling draws from: softmax(logits / temperature) over the topK largest logits (0 elsewhere). */
export function samplingDistribution(row: ArrayLike<number>, temperature: number, topK: number): Float64Array {
  const V = row.length;
  const keep = topK > 0 && topK < V ? topIndices(row, topK) : undefined;
  const p = new Float64Array(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if ((!keep || keep.has(i)) && row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < V; i++) {
    if (keep && !keep.has(i)) continue;
    p[i] = Math.exp((row[i] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < V; i++) p[i] /= sum;
  return p;
}

/** The indices of the k largest values (lower index first on ties). */
function topIndices(row: ArrayLike<number>, k: number): Set<number> {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b] - row[a] || a - b);
  return new Set(idx.slice(0, k));
}

/** Chooses the next token from one position's logits: argmax when temperature ≤ 0, else one draw of `rand`. */
export function chooseToken(row: ArrayLike<number>, opts: SamplingOptions, rand: () => number): number {
  if (!(opts.temperature > 0)) return argmax(row);
  const p = samplingDistribution(row, opts.temperature, opts.topK);
  const u = rand();
  let acc = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    acc += p[i];
    last = i;
    if (u < acc) return i;
  }
  return last; // u within rounding of 1
}

/**
 * What one forward pass gives the loop: the last position's logits, and its attention: the whole stack (a run on the
 * sequence), or only the last position's rows [layers, heads, T] (a step on the model's key/value cache: kv-forward.ts).
 */
export interface StepOutput {
  readonly attention?: Attention;
  readonly rows?: { readonly layers: number; readonly heads: number; readonly data: Float32Array };
  /** Logits of the last position (length = vocabulary). */
  readonly lastLogits: ArrayLike<number>;
}

/** One generated token: which, and the attention row [layers, heads, keys] of the position that predicted it. */
export interface GeneratedStep {
  /** 0-based step. */
  readonly step: number;
  readonly token: number;
  readonly layers: number;
  readonly heads: number;
  /** How many tokens the predicting position attends over (prompt length + step). */
  readonly keys: number;
  /** Float32 [layers, heads, keys]: the last row of every head on the prefix. */
  readonly row: Float32Array;
}

/** The last row (query T − 1) of every head of a stack: Float32 [layers, heads, T]. */
export function lastRows(a: Attention): Float32Array {
  const T = a.keys;
  const out = new Float32Array(a.layers * a.heads * T);
  for (let l = 0; l < a.layers; l++) {
    for (let h = 0; h < a.heads; h++) out.set(headRow(a, l, h, a.queries - 1), (l * a.heads + h) * T);
  }
  return out;
}

/**
 * Generates up to `steps` tokens after `prompt`, running `forward` on the whole sequence each step; yields each
 * step as soon as it is chosen. Stops early when `stop()` turns true (checked before each forward pass) or
 * when the sequence reaches `maxTokens`.
 */
export async function* generateSteps(forward: (ids: readonly number[]) => Promise<StepOutput>, prompt: readonly number[],
  steps: number, opts: SamplingOptions, limits: { stop?: () => boolean; maxTokens?: number } = {}): AsyncGenerator<GeneratedStep> {
  if (prompt.length === 0) throw new Error('Generation needs at least one token to continue from.');
  const rand = mulberry32(opts.seed);
  const ids = [...prompt];
  const n = Math.min(steps, MAX_GENERATE_STEPS);
  for (let step = 0; step < n; step++) {
    if (limits.stop?.() || (limits.maxTokens !== undefined && ids.length >= limits.maxTokens)) return;
    const out = await forward(ids);
    const token = chooseToken(out.lastLogits, opts, rand);
    const a = out.rows ?? (out.attention && { layers: out.attention.layers, heads: out.attention.heads, data: lastRows(out.attention) });
    if (!a) throw new Error('The forward pass returned no attention.');
    yield { step, token, layers: a.layers, heads: a.heads, keys: ids.length, row: a.data };
    ids.push(token);
  }
}
