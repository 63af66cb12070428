/**
 * T5's relative position bias, recomputed instead of tapped (T² values per head): bias[h, i, j] = E[bucket(j − i), h],
 * E the relative_attention_bias embedding [buckets, heads] read from the model's initializer and the bucket rule
 * config.json declares (relative_attention_num_buckets, relative_attention_max_distance; bidirectional in the encoder,
 * not in the decoder). Which direction a layer uses is read off the term the check run tapped, checked on every cell.
 * Pure: no `vscode`, no DOM.
 */
import { isMaskedScore } from './weight-explain';

/** How a relative position j − i maps to one of `buckets` (Hugging Face T5 `_relative_position_bucket`). */
export interface RelativeRule {
  readonly buckets: number;
  readonly maxDistance: number;
  readonly bidirectional: boolean;
}

/** A layer's relative position bias: the rule and the table E [rule.buckets, heads] (row-major). */
export interface RelativeBias {
  readonly rule: RelativeRule;
  readonly heads: number;
  readonly table: Float32Array;
}

const f = Math.fround;

/**
 * The bucket of relative position `rel` = j − i, as transformers computes it, in Float32 step by step as the exported
 * graph does (Div, Log, Div, Mul, then truncation), so bucket edges fall where the model's own fall.
 */
export function relativeBucket(rel: number, rule: RelativeRule): number {
  let n = rule.buckets;
  let bucket = 0;
  let distance: number;
  if (rule.bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) bucket += n;
    distance = Math.abs(rel);
  } else distance = -Math.min(rel, 0);
  const exact = Math.floor(n / 2);
  if (distance < exact) return bucket + distance;
  const ratio = f(f(Math.log(f(distance / exact))) / f(Math.log(rule.maxDistance / exact)));
  const large = Math.trunc(f(ratio * (n - exact)));
  return bucket + Math.min(exact + large, n - 1);
}

/** The bias head h adds to the score of query i for key j. */
export function relativeBiasAt(b: RelativeBias, h: number, i: number, j: number): number {
  return b.table[relativeBucket(j - i, b.rule) * b.heads + h];
}

/**
 * Reads a tapped term [.., heads, T, S] as E[bucket(j − i), h] under `buckets` and `maxDistance` (config.json), bidirectional
 * or not (whichever matches every cell not masked, within `tolerance` relative); or why it is not. A short causal check
 * cannot tell the two apart (both put a key d < buckets/4 behind in bucket d), so a layer whose later keys are all masked
 * (in `scores`, its Softmax input, [heads, T, S]; else in the term) is tried one-directional first, as transformers builds
 * a decoder's, and any other bidirectional first, as an encoder's.
 */
export function identifyRelative(term: { readonly dims: readonly number[]; readonly data: Float32Array },
  table: { readonly dims: readonly number[]; readonly data: Float32Array }, heads: number, t: number, s: number,
  maxDistance: number, scores: Float32Array = term.data, tolerance = 1e-5): RelativeBias | string {
  const [buckets, th] = table.dims;
  if (table.dims.length !== 2 || th !== heads || table.data.length !== buckets * heads) {
    return `its position bias table is [${table.dims.join(', ')}], not [buckets, ${heads}]`;
  }
  if (term.data.length !== heads * t * s) return `its position bias holds ${term.data.length} values, not ${heads}×${t}×${s}`;
  let worst = Infinity;
  let seesLater = false;
  for (let h = 0; h < heads && !seesLater; h++) {
    for (let i = 0; i < t; i++) for (let j = i + 1; j < s; j++) if (!isMaskedScore(scores[(h * t + i) * s + j])) seesLater = true;
  }
  for (const bidirectional of seesLater ? [true, false] : [false, true]) {
    const b: RelativeBias = { rule: { buckets, maxDistance, bidirectional }, heads, table: table.data };
    let off = 0;
    for (let h = 0; h < heads && off <= tolerance; h++) {
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < s; j++) {
          const v = term.data[(h * t + i) * s + j];
          if (isMaskedScore(v)) continue;
          off = Math.max(off, Math.abs(v - relativeBiasAt(b, h, i, j)) / Math.max(1, Math.abs(v)));
        }
      }
    }
    if (off <= tolerance) return b;
    worst = Math.min(worst, off);
  }
  return `its position bias is not E[bucket(j − i), h] of its table (${buckets} buckets, max distance ${maxDistance}), either direction: off by up to ${worst.toPrecision(2)}`;
}

/** Buckets of j − i for j − i from −(span − 1) to span − 1, per rule object, grown as longer runs ask. */
const bucketCache = new WeakMap<RelativeRule, Int32Array>();

/** Head h's bias for query i over keys 0…s−1, added into `out` (length ≥ s). */
export function addRelativeRow(b: RelativeBias, h: number, i: number, s: number, out: Float64Array): void {
  const span = Math.max(i + 1, s);
  let cached = bucketCache.get(b.rule);
  if (!cached || cached.length < 2 * span - 1) {
    cached = Int32Array.from({ length: 2 * span - 1 }, (_, k) => relativeBucket(k - (span - 1), b.rule));
    bucketCache.set(b.rule, cached);
  }
  const mid = (cached.length - 1) / 2;
  for (let j = 0; j < s; j++) out[j] += b.table[cached[mid + j - i] * b.heads + h];
}

/**
 * config.json's relative_attention_max_distance; transformers' default 128 for a T5-family model (model_type t5, mt5,
 * umt5, longt5) that does not say; undefined for any other model.
 */
export function relativeMaxDistanceOf(config: unknown): number | undefined {
  if (!config || typeof config !== 'object') return undefined;
  const c = config as Record<string, unknown>;
  const d = c.relative_attention_max_distance;
  if (typeof d === 'number' && Number.isInteger(d) && d > 0) return d;
  return typeof c.model_type === 'string' && /^(t5|mt5|umt5|longt5)$/.test(c.model_type) ? 128 : undefined;
}
