/**
 * Panel state: the small UI state persisted with vscode.setState (view, layer, head, locked token), the
 * transient hover, and the run on show: its tokens, shape and what the views asked the worker for.
 */
import type { AttentionAnswer, AttentionQuery, MatrixRegion, StackShape } from '../../src/shared/attention-query';
import type { HeadMetricValues, MetricKey } from '../../src/shared/head-labels';
import type { Prediction } from '../../src/shared/predictions';
import type { AttentionStackKind, HeadRef, PanelView, TokenInfo } from '../../src/shared/protocol';
import { isValueMetric, METRIC_COLUMNS, type ValueMetric } from './metric-info';
import { tokenLabel, type TokenLabel } from '../common/token-text';

/** Which view is on show. */
export type ViewName = PanelView;

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
  /** The Tokens view shows what the focused token attends to (its row), or what attends to it (its column). */
  direction?: 'to' | 'by';
}

const METRIC_KEYS: readonly MetricKey[] = METRIC_COLUMNS.map((c) => c.key);

/** Defaults for a fresh panel. */
export const DEFAULT_STATE: UiState = {
  view: 'tokens', layer: 0, head: 0, locked: null, sortKey: 'head', sortDesc: false, gridMetric: 'previousToken',
};

/** Reads a saved state, repairing anything missing or malformed. */
export function restoreState(saved: unknown): UiState {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Partial<UiState>;
  const view: ViewName = s.view === 'heatmap' || s.view === 'grid' || s.view === 'metrics' || s.view === 'lines' || s.view === 'residual' ? s.view : 'tokens';
  const layer = Number.isInteger(s.layer) && (s.layer as number) >= 0 ? (s.layer as number) : 0;
  const head: HeadChoice = isAggregate(s.head as HeadChoice) || s.head === 'all' || (Number.isInteger(s.head) && (s.head as number) >= 0)
    ? (s.head as HeadChoice) : 0;
  const locked = Number.isInteger(s.locked) && (s.locked as number) >= 0 ? (s.locked as number) : null;
  const sortKey = METRIC_KEYS.includes(s.sortKey as MetricKey) ? (s.sortKey as MetricKey) : 'head';
  const stack = s.stack === 'encoder' || s.stack === 'decoder' || s.stack === 'cross' ? { stack: s.stack } : {};
  const gridMetric = isValueMetric(s.gridMetric) ? s.gridMetric : DEFAULT_STATE.gridMetric;
  return { view, layer, head, locked, sortKey, sortDesc: s.sortDesc === true, gridMetric, ...stack, ...(s.direction === 'by' ? { direction: 'by' as const } : {}) };
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

/** How the panel's run data asks the worker: a query about this run (plain or value-weighted), answered or refused. */
export interface AttentionSource {
  ask(query: AttentionQuery, weighted: boolean): Promise<AttentionAnswer>;
  /** Called when an answer has come in: the views draw again. */
  changed(): void;
}

/** A head's matrix as the worker served it at display size (attention-query.ts). */
export type ServedMatrix = Extract<AttentionAnswer, { kind: 'matrix' }> & { readonly values: Float32Array };

/** How many answers a run keeps (rows, display-size matrices): enough for a 12 × 12 grid, a heatmap and hovering. */
const KEEP_ANSWERS = 600;

/**
 * One stack of a run, as the panel sees it: its tokens and shape, and what the views asked the worker for.
 * The worker owns the attention; a getter returns what has come in (undefined at first) and asks for it once,
 * and the source's changed() draws the views again when it arrives.
 */
export class RunData {
  readonly labels: readonly TokenLabel[];
  private readonly answers = new Map<string, unknown>();
  private readonly asked = new Map<string, Promise<unknown>>();
  private showWeighted = false;
  private weightedReady = false;

  constructor(
    readonly runId: number,
    readonly text: string,
    readonly tokens: readonly TokenInfo[],
    /** The stack's shape; undefined until the worker has answered. */
    readonly shape: StackShape | undefined,
    private readonly source?: AttentionSource,
  ) {
    this.labels = tokens.map((t) => tokenLabel(t, text));
  }

  /** True once the run has a result (the worker holds its attention). */
  get ready(): boolean {
    return this.shape !== undefined;
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
    return this.shape?.layers ?? 0;
  }

  /** Heads per layer (0 before a result). */
  get heads(): number {
    return this.shape?.heads ?? 0;
  }

  /** True when the stack is causal (zeros above the diagonal). */
  get causal(): boolean {
    return this.shape?.causal ?? false;
  }

  /** Each layer's sliding window where the worker verified one (a paged run's paths); query i sees keys i − w < j ≤ i. */
  windows: readonly (number | undefined)[] = [];

  /** True when key j is hidden from query i in `layer` by the causal mask or the layer's sliding window. */
  masked(layer: number, i: number, j: number): boolean {
    const w = this.windows[layer];
    return this.causal && (j > i || (w !== undefined && j <= i - w));
  }

  /** Labels of the key tokens (columns): the tokens' own, except for cross-attention. */
  get keyLabels(): readonly TokenLabel[] {
    return this.labels;
  }

  /** The HeadRef queries name for a head choice of this stack ('all' asks for the mean). */
  ref(layer: number, head: HeadChoice): HeadRef {
    const kind = this.shape?.kind ?? 'self';
    return { stack: kind === 'encoder' ? 'self' : kind, layer, head: head === 'all' ? 'mean' : head };
  }

  /** The answer under `key` if it is in; otherwise asks for it (once) and returns undefined. */
  private cached<T>(key: string, query: AttentionQuery, weighted: boolean, take: (a: AttentionAnswer) => T): T | undefined {
    if (this.answers.has(key)) return this.answers.get(key) as T;
    void this.fetch(key, query, weighted, take);
    return undefined;
  }

  /** Asks for `key` (one request however often it is wanted); resolves with the answer, or undefined when refused. */
  private fetch<T>(key: string, query: AttentionQuery, weighted: boolean, take: (a: AttentionAnswer) => T): Promise<T | undefined> {
    if (this.answers.has(key)) return Promise.resolve(this.answers.get(key) as T);
    let p = this.asked.get(key) as Promise<T | undefined> | undefined;
    if (!p && this.source && this.shape) {
      // A refusal is kept too (as undefined): the same question would be refused again, every frame.
      p = this.source.ask(query, weighted).then(take, () => undefined).then((v) => {
        if (this.answers.size >= KEEP_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
        this.answers.set(key, v);
        return v;
      }).finally(() => {
        this.asked.delete(key);
        this.source?.changed();
      });
      this.asked.set(key, p);
    }
    return p ?? Promise.resolve(undefined);
  }

  private key(kind: string, layer: number, head: HeadChoice, ...rest: (string | number)[]): string {
    return [this.valueWeighted ? 'v' : 'a', kind, layer, head === 'all' ? 'mean' : head, ...rest].join('|');
  }

  /** Row i (query i) of a head choice, once the worker has sent it. */
  row(layer: number, head: HeadChoice, i: number): Float32Array | undefined {
    return this.cached(...this.rowQuestion(layer, head, i));
  }

  /** Column j (key j) of a head choice: how much every query puts on it, once the worker has sent it. */
  column(layer: number, head: HeadChoice, j: number): Float32Array | undefined {
    return this.cached(this.key('column', layer, head, j), { kind: 'column', head: this.ref(layer, head), key: j }, this.valueWeighted,
      (a) => (a.kind === 'column' ? new Float32Array(a.weights) : undefined));
  }

  /** The k largest weights of row i of a head choice, keys largest first, once the worker has sent them. */
  topk(layer: number, head: HeadChoice, i: number, k: number): { readonly keys: readonly number[]; readonly weights: readonly number[] } | undefined {
    return this.cached(this.key('topk', layer, head, i, k), { kind: 'topk', head: this.ref(layer, head), query: i, k }, this.valueWeighted,
      (a) => (a.kind === 'topk' ? { keys: a.keys, weights: a.weights } : undefined));
  }

  /** Row i of a head choice, asked for and awaited. */
  rowAsync(layer: number, head: HeadChoice, i: number): Promise<Float32Array | undefined> {
    return this.fetch(...this.rowQuestion(layer, head, i));
  }

  /** The cache key, query, value weighting and answer reader of row i, for row() and rowAsync(). */
  private rowQuestion(layer: number, head: HeadChoice, i: number):
  [string, AttentionQuery, boolean, (a: AttentionAnswer) => Float32Array | undefined] {
    return [this.key('row', layer, head, i), { kind: 'row', head: this.ref(layer, head), query: i }, this.valueWeighted,
      (a) => (a.kind === 'row' ? new Float32Array(a.weights) : undefined)];
  }

  /**
   * A head choice's matrix (or the `region` a zoomed heatmap shows) max-pooled to at most `maxSide` cells a side, with
   * its colour-scale top, once sent.
   */
  matrix(layer: number, head: HeadChoice, maxSide: number, region?: MatrixRegion): ServedMatrix | undefined {
    const side = Math.max(1, Math.ceil(maxSide));
    const where = region ? `${region.row},${region.col},${region.rows},${region.cols}` : 'all';
    return this.cached(this.key('matrix', layer, head, side, where), { kind: 'matrix', head: this.ref(layer, head), maxSide: side, ...(region ? { region } : {}) },
      this.valueWeighted, (a) => (a.kind === 'matrix' ? { ...a, values: new Float32Array(a.data) } : undefined));
  }

  /** Switches the value-weighted view; `available` once the worker has the value norms. */
  setValueWeighted(on: boolean, available = this.weightedReady): void {
    this.weightedReady = available;
    this.showWeighted = on;
  }

  /** True while the views show α_ij·‖v_j‖ (rows renormalised) instead of α. */
  get valueWeighted(): boolean {
    return this.showWeighted && this.weightedReady;
  }

  /** True once the worker holds the value-weighted stacks. */
  get hasValueNorms(): boolean {
    return this.weightedReady;
  }

  /** Head metrics on this run's ids (induction from the model's probe, when in), layer-major; [] until the worker sends them. */
  metrics(induction?: readonly number[]): HeadMetricValues[] {
    if (!this.shape) return [];
    const base = this.cached(`metrics|${this.shape.kind}`, { kind: 'metrics', stack: this.shape.kind, ids: this.tokens.map((t) => t.id) }, false,
      (a) => (a.kind === 'metrics' ? a.rows : []));
    if (!base) return [];
    const memo = this.metricsMemo;
    if (memo && memo.base === base && memo.induction === induction) return memo.rows;
    const fits = induction?.length === base.length;
    const rows = base.map((m, k) => ({ ...m, induction: fits ? induction[k] : null }));
    this.metricsMemo = { base, induction, rows };
    return rows;
  }

  /** The last metrics() rows, kept while the worker's rows and the induction scores stay the same objects. */
  private metricsMemo?: { base: readonly HeadMetricValues[]; induction?: readonly number[]; rows: HeadMetricValues[] };

  /** True while the head metrics are still to come. */
  get metricsPending(): boolean {
    return !!this.shape && !this.answers.has(`metrics|${this.shape.kind}`);
  }

  /** The `k` most probable next tokens after position i (decoder models with logits), once sent. */
  predictions(i: number, k: number): readonly Prediction[] | undefined {
    return this.cached(`predictions|${i}|${k}`, { kind: 'predictions', query: i, k }, false, (a) => (a.kind === 'predictions' ? a.predictions : []));
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
