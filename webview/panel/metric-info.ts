/**
 * Names, descriptions and number formats of the per-head metrics (head-labels.ts), shared by the Metrics
 * table and the Model grid so both say the same thing about the same number.
 */
import type { HeadMetricValues, MetricKey } from '../../src/shared/head-labels';

/** A metric that has a value per head (every table column but the head name). */
export type ValueMetric = Exclude<MetricKey, 'head'>;

/** One metric's short label, its formula in words, and the decimals the table shows. */
export interface MetricInfo {
  readonly key: MetricKey;
  readonly label: string;
  readonly title: string;
  readonly digits: number;
}

/**
 * The table's columns in order, the ones people look for first (induction, previous token) leading so that a
 * half-width panel still shows them; every entry but 'head' is a ValueMetric.
 */
export const METRIC_COLUMNS: readonly MetricInfo[] = [
  { key: 'head', label: 'Head', title: 'Layer and head', digits: 0 },
  { key: 'induction', label: 'Induction', title: 'On a repeated random sequence [r, r]: mean A[p+k, k+1]', digits: 3 },
  { key: 'previousToken', label: 'Prev-token', title: 'Mean weight on the previous token, A[i, i−1]', digits: 3 },
  { key: 'sink', label: 'First token',
    title: 'Mean weight on the first token (sink), A[i, 0] over i ≥ 2, where it is neither the query nor its previous token', digits: 3 },
  { key: 'self', label: 'Self', title: 'Mean weight on the token itself, A[i, i]', digits: 3 },
  { key: 'duplicate', label: 'Duplicate', title: 'Weight on earlier copies of the same token (— when none repeats)', digits: 3 },
  { key: 'entropy', label: 'Entropy', title: 'Mean row entropy / ln(visible keys): 0 = one key, 1 = uniform', digits: 3 },
  { key: 'distance', label: 'Distance', title: 'Mean attention distance Σ_j A[i, j]·|i − j|, in tokens', digits: 1 },
];

/** The per-head metrics (the columns without 'head'), in table order. */
export const VALUE_METRICS: readonly (MetricInfo & { key: ValueMetric })[] =
  METRIC_COLUMNS.filter((c): c is MetricInfo & { key: ValueMetric } => c.key !== 'head');

/** The info of a value metric. */
export function metricInfo(key: ValueMetric): MetricInfo & { key: ValueMetric } {
  return VALUE_METRICS.find((c) => c.key === key)!;
}

/** True when `v` names a value metric (a saved or posted string). */
export function isValueMetric(v: unknown): v is ValueMetric {
  return VALUE_METRICS.some((c) => c.key === v);
}

/** A metric value as text: `digits` decimals (the table's unless given), '—' for null (not measured). */
export function formatMetric(m: HeadMetricValues, key: ValueMetric, digits = metricInfo(key).digits): string {
  const v = m[key];
  return v === null ? '—' : v.toFixed(digits);
}
