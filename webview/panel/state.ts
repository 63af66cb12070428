/**
 * Panel state: the small UI state persisted with vscode.setState (view, layer, head, locked token), the
 * transient hover, and the data of the run on show with its per-head and mean matrices.
 */
import { headMatrix, meanOverHeads, type StackDims } from '../../src/shared/colors';
import { stackMetrics, type HeadMetricValues, type MetricKey } from '../../src/shared/head-labels';
import type { HeadRef, TokenInfo } from '../../src/shared/protocol';
import { tokenLabel, type TokenLabel } from '../common/token-text';

/** Which view is on show. */
export type ViewName = 'tokens' | 'heatmap' | 'grid' | 'metrics';

/** A head choice in the panel: one head, the mean over heads, or all heads side by side (Tokens view). */
export type HeadChoice = number | 'mean' | 'all';

/** The UI state saved in vscode.setState. */
export interface UiState {
  view: ViewName;
  layer: number;
  head: HeadChoice;
  locked: number | null;
  /** Metrics table sort column and direction. */
  sortKey: MetricKey;
  sortDesc: boolean;
}

const METRIC_KEYS: readonly MetricKey[] = ['head', 'entropy', 'previousToken', 'sink', 'self', 'distance', 'duplicate', 'induction'];

/** Defaults for a fresh panel. */
export const DEFAULT_STATE: UiState = { view: 'tokens', layer: 0, head: 0, locked: null, sortKey: 'head', sortDesc: false };

/** Reads a saved state, repairing anything missing or malformed. */
export function restoreState(saved: unknown): UiState {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Partial<UiState>;
  const view: ViewName = s.view === 'heatmap' || s.view === 'grid' || s.view === 'metrics' ? s.view : 'tokens';
  const layer = Number.isInteger(s.layer) && (s.layer as number) >= 0 ? (s.layer as number) : 0;
  const head: HeadChoice = s.head === 'mean' || s.head === 'all' || (Number.isInteger(s.head) && (s.head as number) >= 0)
    ? (s.head as HeadChoice) : 0;
  const locked = Number.isInteger(s.locked) && (s.locked as number) >= 0 ? (s.locked as number) : null;
  const sortKey = METRIC_KEYS.includes(s.sortKey as MetricKey) ? (s.sortKey as MetricKey) : 'head';
  return { view, layer, head, locked, sortKey, sortDesc: s.sortDesc === true };
}

/** The HeadRef a head choice stands for ('all' reports as the mean). */
export function headRefOf(layer: number, head: HeadChoice): HeadRef {
  return { stack: 'self', layer, head: head === 'all' ? 'mean' : head };
}

/** Label of a head choice: "H2", "mean", "all heads". */
export function headChoiceLabel(head: HeadChoice): string {
  return head === 'mean' ? 'mean' : head === 'all' ? 'all heads' : `H${head}`;
}

/** One run's tokens and attention, with cached mean matrices. */
export class RunData {
  readonly dims: StackDims;
  readonly labels: readonly TokenLabel[];
  private readonly means = new Map<number, Float32Array>();
  private metricsCache?: { induction?: readonly number[]; rows: HeadMetricValues[] };

  constructor(
    readonly runId: number,
    readonly text: string,
    readonly tokens: readonly TokenInfo[],
    /** Float32 [L,H,T,T]; undefined until the worker has answered. */
    readonly attention: Float32Array | undefined,
    dims: StackDims,
    readonly causal: boolean,
  ) {
    this.dims = dims;
    this.labels = tokens.map((t) => tokenLabel(t, text));
  }

  /** Number of tokens. */
  get T(): number {
    return this.tokens.length;
  }

  /** The [T,T] matrix for a layer and head choice ('all' shows the mean), or undefined before a result. */
  matrix(layer: number, head: HeadChoice): Float32Array | undefined {
    if (!this.attention) return undefined;
    if (head === 'mean' || head === 'all') {
      let m = this.means.get(layer);
      if (!m) {
        m = meanOverHeads(this.attention, this.dims, layer);
        this.means.set(layer, m);
      }
      return m;
    }
    return headMatrix(this.attention, this.dims, layer, head);
  }

  /** Every head's metrics on this run's ids (induction from the model's probe, when in); cached. */
  metrics(induction?: readonly number[]): HeadMetricValues[] {
    if (!this.attention) return [];
    let c = this.metricsCache;
    if (!c || c.induction !== induction) {
      const ids = this.tokens.map((t) => t.id);
      c = { induction, rows: stackMetrics(this.attention, this.dims.layers, this.dims.heads, ids, this.causal, induction) };
      this.metricsCache = c;
    }
    return c.rows;
  }

  /** Row i (query i) of a head choice's matrix. */
  row(layer: number, head: HeadChoice, i: number): Float32Array | undefined {
    const m = this.matrix(layer, head);
    return m?.subarray(i * this.T, (i + 1) * this.T);
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
