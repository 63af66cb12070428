/**
 * Head metrics over many windows of a text: per head and metric the mean and standard deviation across the
 * windows (Welford's update, so windows stream in one at a time), and per head and metric the windows where the
 * metric was highest. Pure; imports neither `vscode` nor the DOM.
 */
import { labelHead, type HeadLabel, type HeadMetricValues } from './head-labels';

/** The per-window metrics that are aggregated (induction is a probe of the model, not of the text). */
export const AGGREGATE_METRICS = ['entropy', 'previousToken', 'sink', 'self', 'distance', 'duplicate'] as const;

/** One aggregated metric. */
export type AggregateMetric = (typeof AGGREGATE_METRICS)[number];

/** Mean and population standard deviation of a metric over the `n` windows where it was defined. */
export interface MeanSpread {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

/** A window (its index in the analysis) and the metric's value there. */
export interface WindowScore {
  readonly window: number;
  readonly value: number;
}

/** One head over every window: mean ± sd per metric (null where no window defined it), top windows per metric, labels of the means. */
export interface HeadAggregateRow {
  readonly layer: number;
  readonly head: number;
  readonly metrics: Readonly<Record<AggregateMetric, MeanSpread | null>>;
  readonly top: Readonly<Record<AggregateMetric, readonly WindowScore[]>>;
  readonly labels: readonly HeadLabel[];
}

interface Running { n: number; mean: number; m2: number }

/** Accumulates HeadMetricValues window by window (add) and reports per-head aggregates (rows). */
export class HeadAggregator {
  private readonly running: Running[][] = [];
  private readonly best: WindowScore[][][] = [];
  private heads: { layer: number; head: number }[] | undefined;
  private count = 0;

  /** Keeps the `topCount` highest windows per head and metric. */
  constructor(private readonly topCount = 3) {}

  /** Number of windows added. */
  get windows(): number {
    return this.count;
  }

  /** Adds one window's metrics (every head, layer-major, as stackMetrics returns them); `window` names it in `top`. */
  add(window: number, rows: readonly HeadMetricValues[]): void {
    if (!this.heads) this.heads = rows.map((r) => ({ layer: r.layer, head: r.head }));
    if (rows.length !== this.heads.length) throw new RangeError(`A window has ${rows.length} heads, the first had ${this.heads.length}.`);
    rows.forEach((r, i) => {
      if (r.layer !== this.heads![i].layer || r.head !== this.heads![i].head) throw new RangeError(`Head ${i} is L${r.layer} H${r.head}, not as in the first window.`);
      const run = (this.running[i] ??= AGGREGATE_METRICS.map(() => ({ n: 0, mean: 0, m2: 0 })));
      const best = (this.best[i] ??= AGGREGATE_METRICS.map(() => []));
      AGGREGATE_METRICS.forEach((k, m) => {
        const v = r[k];
        if (v === null || !Number.isFinite(v)) return;
        const s = run[m];
        s.n++;
        const d = v - s.mean;
        s.mean += d / s.n;
        s.m2 += d * (v - s.mean);
        best[m] = insertTop(best[m], { window, value: v }, this.topCount);
      });
    });
    this.count++;
  }

  /** Every head's aggregate, layer-major; empty before the first window. */
  rows(): HeadAggregateRow[] {
    return (this.heads ?? []).map(({ layer, head }, i) => {
      const metrics = {} as Record<AggregateMetric, MeanSpread | null>;
      const top = {} as Record<AggregateMetric, readonly WindowScore[]>;
      AGGREGATE_METRICS.forEach((k, m) => {
        const s = this.running[i][m];
        metrics[k] = s.n === 0 ? null : { mean: s.mean, sd: Math.sqrt(Math.max(0, s.m2 / s.n)), n: s.n };
        top[k] = this.best[i][m];
      });
      return { layer, head, metrics, top, labels: labelHead(meanValues(layer, head, metrics)) };
    });
  }
}

/** The means as one HeadMetricValues (induction null), for labelHead. */
export function meanValues(layer: number, head: number, m: Readonly<Record<AggregateMetric, MeanSpread | null>>): HeadMetricValues {
  const v = (k: AggregateMetric) => m[k]?.mean ?? NaN;
  return { layer, head, entropy: v('entropy'), previousToken: v('previousToken'), sink: v('sink'), self: v('self'),
    distance: v('distance'), duplicate: m.duplicate ? m.duplicate.mean : null, induction: null };
}

/** `list` (highest first) with `s` inserted, cut to `k`; ties keep the earlier window first. */
function insertTop(list: WindowScore[], s: WindowScore, k: number): WindowScore[] {
  const out = list.slice();
  let at = out.findIndex((x) => s.value > x.value);
  if (at < 0) at = out.length;
  out.splice(at, 0, s);
  return out.slice(0, k);
}

/** "0.412 ± 0.031" (distance with two decimals more room: "3.10 ± 0.52"). */
export function formatMeanSpread(s: MeanSpread | null, metric: AggregateMetric): string {
  if (!s) return '—';
  const d = metric === 'distance' ? 2 : 3;
  return `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}`;
}

/** " (file-wide 0.412 ± 0.031 over 12 windows)" for one head and metric of an analysis, '' when it has none (induction). */
export function fileWideText(rows: readonly HeadAggregateRow[], windows: number, layer: number, head: number, metric: string): string {
  const key = AGGREGATE_METRICS.find((k) => k === metric);
  const s = key && rows.find((r) => r.layer === layer && r.head === head)?.metrics[key];
  return key && s ? ` (file-wide ${formatMeanSpread(s, key)} over ${windows} window${windows === 1 ? '' : 's'})` : '';
}
