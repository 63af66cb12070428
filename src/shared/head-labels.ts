/**
 * Per-head metrics of a whole attention stack and the automatic head labels derived from them, plus the
 * induction probe: a seeded random token string r repeated, [r, r], whose run gives each head's induction
 * score. Thresholds are exported so the panel can show them. Pure; imports neither `vscode` nor the DOM.
 *
 * Metrics (A = one head's T×T matrix, row i = query i; formulas in head-metrics.ts):
 * - entropy: mean over rows of H(A[i,·]) / ln(n_i), n_i = visible keys (1 = uniform, 0 = one key);
 * - previousToken: mean over i ≥ 1 of A[i, i−1];
 * - sink: mean over i ≥ 2 of A[i, 0] (rows where key 0 is neither the query itself nor its previous token);
 * - self: mean over i of A[i, i];
 * - distance: mean over i of Σ_j A[i, j]·|i − j| (tokens);
 * - duplicate: over queries whose token occurred earlier, mean weight on the earlier copies (null when none);
 * - induction: on the probe [r, r] of period p, mean over k of A[p + k, k + 1] (null until probed).
 */
import { blockRowCount, type Attention } from './attention';
import { HeadMetricsSink, type HeadMetricSums } from './head-metrics';
import { BlockJob, passOver, selectorSource, type BlockUnit } from './row-blocks';

/** One head's metrics on the current input (and, for induction, on the probe). */
export interface HeadMetricValues extends HeadMetricSums {
  readonly layer: number;
  readonly head: number;
}

/** The automatic head labels. */
export type HeadLabel = 'previous-token' | 'sink' | 'induction' | 'duplicate' | 'local' | 'broad';

/** Thresholds of the labels; a head gets a label when its metric passes the threshold. */
export const LABEL_THRESHOLDS = {
  /** previous-token: previousToken ≥ this (as in the bundled model's card). */
  previousToken: 0.5,
  /** sink: sink (first-token) score ≥ this. */
  sink: 0.5,
  /** induction: induction score on the probe ≥ this. */
  induction: 0.3,
  /** duplicate: duplicate-token score ≥ this. */
  duplicate: 0.5,
  /** local: mean attention distance ≤ this many tokens (and not previous-token, which is local already). */
  localDistance: 1.5,
  /** broad: normalised entropy ≥ this. */
  broadEntropy: 0.85,
} as const;

/** Thresholds with the same keys as LABEL_THRESHOLDS. */
export type LabelThresholds = { readonly [K in keyof typeof LABEL_THRESHOLDS]: number };

/** Every label with the rule that gives it, for legends. */
export function labelRules(t: LabelThresholds = LABEL_THRESHOLDS): readonly { label: HeadLabel; rule: string }[] {
  return [
    { label: 'previous-token', rule: `mean A[i, i−1] ≥ ${t.previousToken}` },
    { label: 'sink', rule: `mean over i ≥ 2 of A[i, 0] ≥ ${t.sink}` },
    { label: 'induction', rule: `induction on a repeated random sequence ≥ ${t.induction}` },
    { label: 'duplicate', rule: `weight on earlier copies of the same token ≥ ${t.duplicate}` },
    { label: 'local', rule: `mean distance ≤ ${t.localDistance} tokens` },
    { label: 'broad', rule: `normalised entropy ≥ ${t.broadEntropy}` },
  ];
}

/** What each label means, in one plain sentence (the metrics table, its legend and the grid's tooltips). */
export const LABEL_MEANINGS: Readonly<Record<HeadLabel, string>> = {
  'previous-token': 'Looks at the token just before each token.',
  sink: 'Parks most of its attention on the first token when nothing else stands out (an attention sink).',
  induction: 'Finds where the current token appeared before and looks at the token that followed it there, so a repeated pattern can be continued.',
  duplicate: 'Looks back at earlier copies of the current token.',
  local: 'Looks only at the few tokens nearest each token.',
  broad: 'Spreads its attention almost evenly over all the tokens it can see.',
};

/** Labels with their meanings, for a tooltip: "previous-token: looks at the token just before each token." */
export function describeLabels(labels: readonly HeadLabel[]): string {
  return labels.map((l) => `${l}: ${LABEL_MEANINGS[l].charAt(0).toLowerCase()}${LABEL_MEANINGS[l].slice(1)}`).join(' ');
}

/** Short badge text of a label (grid thumbnails). */
export const LABEL_SHORT: Readonly<Record<HeadLabel, string>> = {
  'previous-token': 'prev', sink: 'sink', induction: 'ind', duplicate: 'dup', local: 'local', broad: 'broad',
};

/** The labels one head's metrics earn, in a fixed order. */
export function labelHead(m: HeadMetricValues, t: LabelThresholds = LABEL_THRESHOLDS): HeadLabel[] {
  const out: HeadLabel[] = [];
  const prev = m.previousToken >= t.previousToken;
  if (prev) out.push('previous-token');
  if (m.sink >= t.sink) out.push('sink');
  if (m.induction !== null && m.induction >= t.induction) out.push('induction');
  if (m.duplicate !== null && m.duplicate >= t.duplicate) out.push('duplicate');
  if (!prev && m.distance <= t.localDistance) out.push('local');
  if (m.entropy >= t.broadEntropy) out.push('broad');
  return out;
}

/** True when some token id occurs twice in `ids`. */
export function hasRepeat(ids: ArrayLike<number>): boolean {
  const seen = new Set<number>();
  for (let i = 0; i < ids.length; i++) {
    if (seen.has(ids[i])) return true;
    seen.add(ids[i]);
  }
  return false;
}

/**
 * Metrics of every head of a self-attention stack on input `ids`, layer-major. `induction` is the
 * probe's [L·H] scores (see inductionScores), or undefined before the probe ran.
 */
export function stackMetrics(att: Attention, ids: ArrayLike<number>, induction?: ArrayLike<number>): HeadMetricValues[] {
  const repeats = hasRepeat(ids);
  const out: HeadMetricValues[] = [];
  for (let l = 0; l < att.layers; l++) {
    for (let h = 0; h < att.heads; h++) out.push(headMetrics(att, l, h, ids, repeats, induction));
  }
  return out;
}

/**
 * Metrics of one head (stackMetrics computes every head with it); `repeats` is hasRepeat(ids), passed in so
 * callers that go head by head compute it once. Streams the head's rows a block at a time (row-blocks.ts).
 */
export function headMetrics(att: Attention, l: number, h: number, ids: ArrayLike<number>, repeats: boolean,
  induction?: ArrayLike<number>): HeadMetricValues {
  const sink = new HeadMetricsSink(ids.length, att.causal, repeats ? ids : undefined);
  new BlockJob(passOver(selectorSource(att, l, h), [sink], blockRowCount(att)), 0, () => undefined).run();
  return metricValues(att, l, h, sink, induction);
}

/** A head's metric values from its finished sink. */
function metricValues(att: Attention, l: number, h: number, sink: HeadMetricsSink, induction?: ArrayLike<number>): HeadMetricValues {
  const m = sink.result();
  return {
    layer: l, head: h, entropy: m.entropy, previousToken: m.previousToken, sink: m.sink, self: m.self, distance: m.distance,
    duplicate: m.duplicate,
    induction: induction && induction.length === att.layers * att.heads ? induction[l * att.heads + h] : null,
  };
}

/**
 * Every head's metrics on `ids` (stackMetrics) as a job over row blocks, head after head, so a worker can run it a
 * slice at a time and report how many blocks are done. Layer-major rows, induction null.
 */
export function stackMetricsJob(att: Attention, ids: ArrayLike<number>, blockRows = blockRowCount(att)): BlockJob<HeadMetricValues[]> {
  const repeats = hasRepeat(ids);
  const sinks = Array.from({ length: att.layers * att.heads }, () => new HeadMetricsSink(ids.length, att.causal, repeats ? ids : undefined));
  function* units(): Generator<BlockUnit> {
    for (let k = 0; k < sinks.length; k++) yield* passOver(selectorSource(att, Math.floor(k / att.heads), k % att.heads), [sinks[k]], blockRows);
  }
  return new BlockJob(units(), sinks.length * Math.ceil(att.queries / blockRows),
    () => sinks.map((s, k) => metricValues(att, Math.floor(k / att.heads), k % att.heads, s)));
}

/** Deterministic PRNG (mulberry32): the same sequence for the same seed on every machine. */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of the induction probe (fixed, so the probe and its scores are reproducible). */
export const PROBE_SEED = 20261122;

/** The induction probe: ids [r, r] and the period |r|. */
export interface InductionProbe {
  readonly ids: number[];
  readonly period: number;
}

/** The probe's period when the context allows: the probe is [r, r] with |r| = this, 128 tokens. */
export const PROBE_PERIOD = 64;

/**
 * The probe's period for a model of context length `context`: PROBE_PERIOD, or ⌊context/2⌋ when the context
 * is shorter. Depends on the model only (never on the input or the maxTokens setting), so a stored probe
 * result stays valid for the model.
 */
export function probePeriod(context: number): number {
  return Math.min(PROBE_PERIOD, Math.floor(context / 2));
}

/**
 * The probe for a model of context length `context`: r is probePeriod(context) ids drawn uniformly from
 * [firstId, vocab) by mulberry32(seed), and the probe is [r, r]. Returns undefined when it cannot be built.
 */
export function inductionProbe(vocab: number, context: number, seed = PROBE_SEED, firstId = 1): InductionProbe | undefined {
  const period = probePeriod(context);
  if (!(period >= 2) || vocab - firstId < 2) return undefined;
  const rand = mulberry32(seed);
  const r = Array.from({ length: period }, () => firstId + Math.floor(rand() * (vocab - firstId)));
  return { ids: [...r, ...r], period };
}

/** Induction score of every head of a stack computed on a probe of `period`: [L·H], layer-major. */
export function inductionScores(att: Attention, period: number): number[] {
  const out: number[] = [];
  const rows = blockRowCount(att);
  for (let l = 0; l < att.layers; l++) {
    for (let h = 0; h < att.heads; h++) {
      // Only the rows period…2·period−2 hold the score.
      const sink = new HeadMetricsSink(att.queries, att.causal, undefined, period);
      const source = selectorSource(att, l, h);
      const from = Math.min(att.queries, period);
      const to = Math.min(att.queries, 2 * period - 1);
      for (let s = from; s < to; s += rows) sink.add(source.block(s, Math.min(to, s + rows)), s);
      out.push(sink.result().induction ?? 0);
    }
  }
  return out;
}

/** Sortable columns of the metrics table. */
export type MetricKey = 'head' | 'entropy' | 'previousToken' | 'sink' | 'self' | 'distance' | 'duplicate' | 'induction';

/** Rows sorted by a column (nulls last either way; ties by layer, then head). */
export function sortMetrics(rows: readonly HeadMetricValues[], key: MetricKey, descending: boolean): HeadMetricValues[] {
  const order = (a: HeadMetricValues, b: HeadMetricValues): number => a.layer - b.layer || a.head - b.head;
  return rows.slice().sort((a, b) => {
    if (key === 'head') return descending ? -order(a, b) : order(a, b);
    const x = a[key];
    const y = b[key];
    if (x === null || y === null) return x === y ? order(a, b) : x === null ? 1 : -1;
    return (descending ? y - x : x - y) || order(a, b);
  });
}
