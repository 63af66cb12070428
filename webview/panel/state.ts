/**
 * Panel state: the small UI state persisted with vscode.setState (view, layer, head, locked token), the
 * transient hover, and the data of the run on show with its per-head and mean matrices.
 */
import { headMatrix, headView, type Attention } from '../../src/shared/attention';
import { valueWeightedStack } from '../../src/shared/value-weighted';
import { scaleMax } from '../../src/shared/colors';
import { hasRepeat, headMetrics, type HeadMetricValues, type MetricKey } from '../../src/shared/head-labels';
import type { AttentionStackKind, HeadRef, TokenInfo } from '../../src/shared/protocol';
import { isValueMetric, METRIC_COLUMNS, type ValueMetric } from './metric-info';
import { tokenLabel, type TokenLabel } from '../common/token-text';

/** Which view is on show. */
export type ViewName = 'tokens' | 'heatmap' | 'grid' | 'metrics';

/**
 * A head choice in the panel: one head, the mean or max over the layer's heads, attention rollout up to the
 * layer, or all heads side by side (Tokens view).
 */
export type HeadChoice = number | 'mean' | 'max' | 'rollout' | 'all';

/** True for the choices that aggregate a layer's heads (or layers, for rollout) into one matrix. */
export function isAggregate(h: HeadChoice): h is 'mean' | 'max' | 'rollout' {
  return h === 'mean' || h === 'max' || h === 'rollout';
}

/** The UI state saved in vscode.setState. */
export interface UiState {
  view: ViewName;
  layer: number;
  head: HeadChoice;
  locked: number | null;
  /** Metrics table sort column and direction. */
  sortKey: MetricKey;
  sortDesc: boolean;
  /** The metric whose value the Model grid writes on each head's thumbnail. */
  gridMetric: ValueMetric;
  /** Encoder–decoder runs: the stack on show (encoder self, decoder self or cross). */
  stack?: AttentionStackKind;
}

const METRIC_KEYS: readonly MetricKey[] = METRIC_COLUMNS.map((c) => c.key);

/** Defaults for a fresh panel. */
export const DEFAULT_STATE: UiState = {
  view: 'tokens', layer: 0, head: 0, locked: null, sortKey: 'head', sortDesc: false, gridMetric: 'previousToken',
};

/** Reads a saved state, repairing anything missing or malformed. */
export function restoreState(saved: unknown): UiState {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Partial<UiState>;
  const view: ViewName = s.view === 'heatmap' || s.view === 'grid' || s.view === 'metrics' ? s.view : 'tokens';
  const layer = Number.isInteger(s.layer) && (s.layer as number) >= 0 ? (s.layer as number) : 0;
  const head: HeadChoice = isAggregate(s.head as HeadChoice) || s.head === 'all' || (Number.isInteger(s.head) && (s.head as number) >= 0)
    ? (s.head as HeadChoice) : 0;
  const locked = Number.isInteger(s.locked) && (s.locked as number) >= 0 ? (s.locked as number) : null;
  const sortKey = METRIC_KEYS.includes(s.sortKey as MetricKey) ? (s.sortKey as MetricKey) : 'head';
  const stack = s.stack === 'encoder' || s.stack === 'decoder' || s.stack === 'cross' ? { stack: s.stack } : {};
  const gridMetric = isValueMetric(s.gridMetric) ? s.gridMetric : DEFAULT_STATE.gridMetric;
  return { view, layer, head, locked, sortKey, sortDesc: s.sortDesc === true, gridMetric, ...stack };
}

/** The HeadRef a head choice stands for ('all' reports as the mean). */
export function headRefOf(layer: number, head: HeadChoice, stack: AttentionStackKind = 'self'): HeadRef {
  return { stack, layer, head: head === 'all' ? 'mean' : head };
}

/** Label of a head choice: "H2", "mean", "max", "rollout from L0", "all heads". */
export function headChoiceLabel(head: HeadChoice): string {
  if (head === 'rollout') return 'rollout from L0';
  return head === 'all' ? 'all heads' : typeof head === 'number' ? `H${head}` : head;
}

/** One run's tokens and attention (one stack), with cached aggregate matrices and colour scales. */
export class RunData {
  readonly labels: readonly TokenLabel[];
  private readonly aggregates = new Map<string, Float32Array>();
  private readonly scales = new Map<string, number>();
  /** The value-weighted stack (α_ij·‖v_j‖, rows renormalised) once the norms are in, and whether it is shown. */
  private weighted?: Attention;
  private showWeighted = false;
  /** Head metrics without induction, computed a few heads per call (metrics()); and the rows with induction. */
  private readonly baseMetrics: HeadMetricValues[] = [];
  private metricsCache?: { induction?: readonly number[]; count: number; rows: HeadMetricValues[] };
  /** When the current slice of metrics work ends (performance.now() time). */
  private sliceEnd = -Infinity;
  /** The run's token ids and whether one repeats, for the metrics (set on the first slice). */
  private metricInput?: { ids: number[]; repeats: boolean };

  constructor(
    readonly runId: number,
    readonly text: string,
    readonly tokens: readonly TokenInfo[],
    /** The stack; undefined until the worker has answered. */
    readonly attention: Attention | undefined,
  ) {
    this.labels = tokens.map((t) => tokenLabel(t, text));
  }

  /** Number of tokens (query rows). */
  get T(): number {
    return this.tokens.length;
  }

  /** Number of key tokens (columns): T, except for cross-attention (stack-run.ts). */
  get K(): number {
    return this.T;
  }

  /** Layers of the stack (0 before a result). */
  get layers(): number {
    return this.attention?.layers ?? 0;
  }

  /** Heads per layer (0 before a result). */
  get heads(): number {
    return this.attention?.heads ?? 0;
  }

  /** True when the stack is causal (zeros above the diagonal). */
  get causal(): boolean {
    return this.attention?.causal ?? false;
  }

  /** Labels of the key tokens (columns): the tokens' own, except for cross-attention. */
  get keyLabels(): readonly TokenLabel[] {
    return this.labels;
  }

  /** The matrix for a layer and head choice ('all' shows the mean), or undefined before a result or where it has no form. */
  matrix(layer: number, head: HeadChoice): Float32Array | undefined {
    const att = this.shown;
    if (!att) return undefined;
    if (typeof head === 'number') return headView(att, layer, head);
    const how = head === 'all' ? 'mean' : head;
    // Rollout multiplies a stack's layers through the residual stream: it has no cross-attention form.
    if (how === 'rollout' && (att.kind === 'cross' || att.queries !== att.keys)) return undefined;
    const key = `${how}|${layer}|${att === this.attention ? 'a' : 'v'}`;
    let m = this.aggregates.get(key);
    if (!m) {
      m = headMatrix(att, layer, how);
      this.aggregates.set(key, m);
    }
    return m;
  }

  /**
   * Top of the colour scale of a head choice's matrix (scaleMax: the 99th percentile of its visible weights),
   * computed once per matrix shown and kept, so hovering and redrawing never recompute it.
   */
  scaleOf(layer: number, head: HeadChoice): number {
    const key = `${layer}|${head}|${this.valueWeighted ? 'v' : 'a'}`;
    let s = this.scales.get(key);
    if (s === undefined) {
      const m = this.matrix(layer, head);
      s = m ? scaleMax(m, this.T, this.causal, undefined, this.K) : 0;
      this.scales.set(key, s);
    }
    return s;
  }

  /** One weight of the stack on show: head `head` of `layer`, query `i`, key `j`. */
  weight(layer: number, head: number, i: number, j: number): number {
    const att = this.shown;
    return att ? headView(att, layer, head)[i * att.keys + j] : 0;
  }

  /** The stack the views draw: the attention, or its value-weighted form when that is switched on and in. */
  get shown(): Attention | undefined {
    return this.showWeighted && this.weighted ? this.weighted : this.attention;
  }

  /** True while the views show α_ij·‖v_j‖ (rows renormalised) instead of α. */
  get valueWeighted(): boolean {
    return this.showWeighted && !!this.weighted;
  }

  /** Switches the value-weighted view; `norms` (Float32 [L, H, T] of ‖v_j‖) is kept once given. */
  setValueWeighted(on: boolean, norms?: Float32Array): void {
    if (norms && !this.weighted && this.attention) this.weighted = valueWeightedStack(this.attention, norms);
    this.showWeighted = on;
  }

  /** True once the value norms have been given. */
  get hasValueNorms(): boolean {
    return !!this.weighted;
  }

  /**
   * Head metrics on this run's ids (induction from the model's probe, when in), layer-major. Heads are computed
   * within a budget of METRICS_BUDGET_MS per call and kept, so no call is one long task at large T: until
   * metricsPending is false the list holds the heads done so far (by their index; later ones missing).
   */
  metrics(induction?: readonly number[]): HeadMetricValues[] {
    const att = this.attention;
    if (!att) return [];
    const total = att.layers * att.heads;
    if (this.baseMetrics.length < total) {
      // One slice of work per frame, however often a draw calls this (the grid asks once per head): a call
      // well after the last slice ended starts a new one; calls inside or just after it add nothing.
      const now = performance.now();
      if (now >= this.sliceEnd + 8) this.sliceEnd = now + RunData.METRICS_BUDGET_MS;
      if (!this.metricInput) {
        const tokenIds = this.tokens.map((t) => t.id);
        this.metricInput = { ids: tokenIds, repeats: hasRepeat(tokenIds) };
      }
      const { ids, repeats } = this.metricInput;
      while (this.baseMetrics.length < total && performance.now() < this.sliceEnd) {
        const k = this.baseMetrics.length;
        this.baseMetrics.push(headMetrics(att, Math.floor(k / att.heads), k % att.heads, ids, repeats));
      }
    }
    let c = this.metricsCache;
    if (!c || c.induction !== induction || c.count !== this.baseMetrics.length) {
      const fits = induction?.length === total;
      c = { induction, count: this.baseMetrics.length, rows: this.baseMetrics.map((m, k) => ({ ...m, induction: fits ? induction[k] : null })) };
      this.metricsCache = c;
    }
    return c.rows;
  }

  /** Time one metrics() call may spend computing heads. */
  static readonly METRICS_BUDGET_MS = 30;

  /** True while some head's metrics are still to be computed (call metrics() again on a later frame). */
  get metricsPending(): boolean {
    return !!this.attention && this.baseMetrics.length < this.attention.layers * this.attention.heads;
  }

  /** Row i (query i) of a head choice's matrix. */
  row(layer: number, head: HeadChoice, i: number): Float32Array | undefined {
    const m = this.matrix(layer, head);
    return m?.subarray(i * this.K, (i + 1) * this.K);
  }
}

/** Trailing-edge throttle: calls `fn` at most once per `ms`, always with the latest arguments. */
export function throttle<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let args: A;
  return (...a: A) => {
    args = a;
    const wait = last + ms - performance.now();
    if (wait <= 0 && !timer) {
      last = performance.now();
      fn(...args);
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        last = performance.now();
        fn(...args);
      }, Math.max(0, wait));
    }
  };
}
