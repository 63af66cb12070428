/**
 * Asking for attention instead of copying it: the queries a view sends to whoever owns a run's stacks (the
 * inference worker), and the store that answers them at display size. The host and the compare view never
 * hold a [layers, heads, T, T] stack; they ask for one row, the top attended tokens, one head's matrix
 * pooled to the pixels it is drawn at, or the heads nearest to one. Pure: no `vscode`, no DOM.
 */
import { blockRowCount, combineHeadBlocks, headView, headMatrix, headRow, matmul, rolloutLayer, topK, type Attention, type AttentionStackKind, type HeadSelector } from './attention';
import { nearestHeadsJob } from './head-compare';
import { ByteLru } from './byte-lru';
import type { AttentionStackKind as StackKind, HeadRef } from './protocol';
import { stackMetricsJob, type HeadMetricValues } from './head-labels';
import { topNextTokens, type Prediction } from './predictions';
import { BlockJob, mapJob, selectorSource, type Job, type RowSource } from './row-blocks';
import { columnJob, matrixJob, type MatrixRegion } from './query-jobs';

export type { MatrixRegion } from './query-jobs';

/** One stack's dimensions, without its data: what the host keeps of a run. */
export type StackShape = Omit<Attention, 'data'>;

/** What a view may ask about a run's attention. */
export type AttentionQuery =
  /** Row `query` of a head (or aggregate): Float32 [keys]. */
  | { readonly kind: 'row'; readonly head: HeadRef; readonly query: number }
  /** Column `key` of a head (or aggregate): how much every query puts on that key ("attended by"), Float32 [queries]. */
  | { readonly kind: 'column'; readonly head: HeadRef; readonly key: number }
  /** The `k` largest weights of row `query`, largest first (ties: earlier key first). */
  | { readonly kind: 'topk'; readonly head: HeadRef; readonly query: number; readonly k: number }
  /**
   * A head's matrix (or the `region` of it a zoomed view shows), max-pooled to at most `maxSide` × `maxSide` cells
   * (full size when it fits or when omitted).
   */
  | { readonly kind: 'matrix'; readonly head: HeadRef; readonly maxSide?: number; readonly region?: MatrixRegion }
  /** The `count` heads of the same stack nearest to a head by mean row JS divergence, nearest first. */
  | { readonly kind: 'nearest'; readonly head: HeadRef; readonly count: number }
  /** Every head's metrics (head-labels.ts) on token ids `ids` (the stack's queries), layer-major, induction left null; none for cross-attention. */
  | { readonly kind: 'metrics'; readonly stack: StackKind; readonly ids: readonly number[] }
  /** The `k` most probable next tokens after position `query` (decoder models with logits). */
  | { readonly kind: 'predictions'; readonly query: number; readonly k: number };

/** The answer to each kind of query. */
export type AttentionAnswer =
  | { readonly kind: 'row'; readonly weights: ArrayBuffer }
  | { readonly kind: 'column'; readonly weights: ArrayBuffer }
  | { readonly kind: 'topk'; readonly keys: readonly number[]; readonly weights: readonly number[] }
  | {
      readonly kind: 'matrix';
      /** Cells drawn (≤ the head's queries × keys); `pooled` when each cell is the max of a block. */
      readonly rows: number;
      readonly cols: number;
      readonly pooled: boolean;
      /**
       * Float32 [rows, cols]. Pooled blocks with no visible (unmasked) cell are NaN, and so is every masked cell of
       * a region; a whole matrix at full size keeps its zeros above the diagonal.
       */
      readonly data: ArrayBuffer;
      /** The window served, when the query named one. */
      readonly region?: MatrixRegion;
      /** Top of the colour scale: the 99th percentile of the full matrix's visible weights (display.ts). */
      readonly scale: number;
      /** True when the matrix drawn is causal (hatch above the diagonal). */
      readonly causal: boolean;
    }
  | { readonly kind: 'nearest'; readonly heads: readonly { readonly head: HeadRef; readonly meanJsd: number }[] }
  | { readonly kind: 'metrics'; readonly rows: readonly HeadMetricValues[] }
  | { readonly kind: 'predictions'; readonly predictions: readonly Prediction[] };

/** The query kinds, for guards on untrusted messages. */
export const QUERY_KINDS: readonly AttentionQuery['kind'][] = ['row', 'column', 'topk', 'matrix', 'nearest', 'metrics', 'predictions'];

/** An answer and the buffers to transfer with it. */
export interface AnsweredQuery {
  readonly answer: AttentionAnswer;
  readonly transfer: ArrayBuffer[];
}

/** The shape of each stack, for a result message (no data). */
export function shapesOf(stacks: readonly Attention[]): StackShape[] {
  return stacks.map(({ kind, layers, heads, queries, keys, causal }) => ({ kind, layers, heads, queries, keys, causal }));
}

/**
 * The stack a head reference names: 'self' and 'encoder' name the run's own (or an encoder–decoder run's
 * encoder) stack, 'decoder' and 'cross' their stacks. Undefined when the run has no such stack.
 */
export function stackFor<S extends StackShape>(stacks: readonly S[], ref: HeadRef): S | undefined {
  return ref.stack === 'self' || ref.stack === 'encoder'
    ? stacks.find((s) => s.kind === 'self' || s.kind === 'encoder')
    : stacks.find((s) => s.kind === ref.stack);
}

/** True when `ref` names a head (or an aggregate) that exists in a stack of `layers` × `heads`. */
export function isValidHead(ref: HeadRef, layers: number, heads: number): boolean {
  const layerOk = Number.isInteger(ref.layer) && ref.layer >= 0 && ref.layer < layers;
  const headOk = ref.head === 'mean' || ref.head === 'max' || ref.head === 'rollout' || (Number.isInteger(ref.head) && ref.head >= 0 && ref.head < heads);
  return layerOk && headOk;
}

/** The selector drawn for a reference: rollout has no cross-attention (non-square) form, so the mean stands in there. */
export function shownSelector(s: StackShape, head: HeadSelector): HeadSelector {
  return head === 'rollout' && (s.kind === 'cross' || s.queries !== s.keys) ? 'mean' : head;
}

/** How many bytes of aggregate matrices (means, maxima, rollouts; each T² floats) a store keeps, the most recently used. */
const KEEP_AGGREGATE_BYTES = 256 * 2 ** 20;

/** Rollout keeps one Float64 T × T product per layer: refused above this many bytes in all. */
const ROLLOUT_BYTES = 1024 * 2 ** 20;

/**
 * The owner of one run's stacks: answers queries from them, computing colour-scale tops once and keeping them, and
 * for a held stack its aggregates (rollout builds on the previous layer's, so asking for every layer costs one product
 * each). A paged stack's rows are streamed a block at a time for every statistic (row-blocks.ts); only rollout, a
 * product of whole layer matrices, is kept whole, and refused past ROLLOUT_BYTES.
 */
export class AttentionStore {
  private readonly aggregates = new ByteLru<string, Float32Array>(KEEP_AGGREGATE_BYTES);
  private readonly scales = new Map<string, number>();
  /** Per stack kind: rollout products Â_l···Â_0 in Float64, by layer. */
  private readonly rollouts = new Map<AttentionStackKind, Float64Array[]>();
  private readonly metricJobs = new Map<string, BlockJob<HeadMetricValues[]>>();

  /** `logits`: Float32 [T, vocab] of a decoder model, for 'predictions'. */
  constructor(readonly stacks: readonly Attention[], readonly logits?: { readonly data: Float32Array; readonly vocab: number }) {}

  /** The stack and selector a reference names; throws a RangeError naming what is wrong. */
  resolve(ref: HeadRef): { stack: Attention; selector: HeadSelector } {
    const stack = stackFor(this.stacks, ref);
    if (!stack) throw new RangeError(`This run has no ${ref.stack} attention.`);
    if (!isValidHead(ref, stack.layers, stack.heads)) throw new RangeError(`There is no head ${String(ref.head)} in layer ${ref.layer} of ${stack.layers}×${stack.heads}.`);
    return { stack, selector: shownSelector(stack, ref.head) };
  }

  /**
   * The whole [queries, keys] matrix a reference names: a view for a held head, a kept matrix for an aggregate. A paged
   * stack computes it whole (T² floats): the store's own answers stream `rows` instead.
   */
  matrix(ref: HeadRef): Float32Array {
    const { stack, selector } = this.resolve(ref);
    if (typeof selector === 'number') return headView(stack, ref.layer, selector);
    if (selector === 'rollout') return this.aggregates.get(aggregateKey(stack, ref.layer, selector), () => Float32Array.from(this.rollout(stack, ref.layer)));
    if (stack.pages) return headMatrix(stack, ref.layer, selector);
    return this.aggregates.get(aggregateKey(stack, ref.layer, selector), () => headMatrix(stack, ref.layer, selector));
  }

  /** A reference's matrix as a row source: streamed block by block on a paged stack (but rollout), else views of the whole matrix. */
  rows(ref: HeadRef): RowSource {
    const { stack, selector } = this.resolve(ref);
    if (stack.pages && selector !== 'rollout') return selectorSource(stack, ref.layer, selector);
    let whole: Float32Array | undefined;
    return selectorSource(stack, ref.layer, selector, () => (whole ??= this.matrix(ref)));
  }

  /** Rollout Â_upTo···Â_0 (attention.ts `rollout`), from the kept product of the layers below. */
  private rollout(stack: Attention, upTo: number): Float64Array {
    let kept = this.rollouts.get(stack.kind);
    if (!kept) this.rollouts.set(stack.kind, (kept = []));
    const t = stack.queries;
    const need = stack.layers * t * t * 8;
    if (need > ROLLOUT_BYTES) {
      throw new RangeError(`Rollout multiplies whole ${t} × ${t} layer matrices, which cannot be streamed by rows: it would keep ` +
        `${(need / 2 ** 30).toFixed(1)} GiB of layer products; choose a head, the mean or the max.`);
    }
    for (let l = kept.length; l <= upTo; l++) {
      const m = rolloutLayer(stack, l);
      kept.push(l === 0 ? m : matmul(m, kept[l - 1], t));
    }
    return kept[upTo];
  }

  /**
   * Row `query` of a reference's matrix, as a new array. A paged stack computes a head's or a mean's row from Q and K
   * (O(H·T·d)): a hover never waits for a T × T matrix.
   */
  row(ref: HeadRef, query: number): Float32Array {
    const { stack, selector } = this.resolve(ref);
    if (!Number.isInteger(query) || query < 0 || query >= stack.queries) throw new RangeError(`There is no query ${query} of ${stack.queries}.`);
    const k = stack.keys;
    if (stack.pages && selector !== 'rollout') return headRow(stack, ref.layer, selector, query); // a new array for a paged stack
    return this.matrix(ref).slice(query * k, (query + 1) * k);
  }

  /** The kept top of the colour scale for a reference's matrix (99th percentile of its visible weights), once a matrix answer found it. */
  private scaleOf(ref: HeadRef): number | undefined {
    const { stack, selector } = this.resolve(ref);
    return this.scales.get(aggregateKey(stack, ref.layer, selector));
  }

  /** Keeps `s` as the reference's colour-scale top and returns it. */
  private keepScale(ref: HeadRef, s: number): number {
    const { stack, selector } = this.resolve(ref);
    this.scales.set(aggregateKey(stack, ref.layer, selector), s);
    return s;
  }

  /**
   * Every head's metrics on `ids` for the stack of `kind`, computed a few row blocks per call: blocks are added until
   * `budgetMs` has passed, and the rows are returned once every head is in (undefined until then). A worker calls
   * it between other questions, so a hover is never stuck behind 144 heads of O(T²) sums. Kept per stack and ids.
   */
  metricsStep(kind: AttentionStackKind, ids: readonly number[], budgetMs: number): HeadMetricValues[] | undefined {
    return this.metricsJob(kind, ids).step(budgetMs);
  }

  /** The job behind metricsStep (kept per stack and ids, so its progress and result stay). */
  private metricsJob(kind: AttentionStackKind, ids: readonly number[]): BlockJob<HeadMetricValues[]> {
    const stack = stackFor(this.stacks, { stack: kind, layer: 0, head: 0 });
    if (!stack) throw new RangeError(`This run has no ${kind} attention.`);
    if (stack.kind === 'cross' || stack.queries !== stack.keys) return new BlockJob([][Symbol.iterator](), 0, () => []);
    if (ids.length !== stack.queries) throw new RangeError(`${ids.length} token ids for ${stack.queries} queries.`);
    const key = `${stack.kind}|${ids.join(',')}`;
    let job = this.metricJobs.get(key);
    if (!job) this.metricJobs.set(key, (job = stackMetricsJob(stack, ids)));
    return job;
  }

  /**
   * The statistics a query needs every row for (a column, a matrix or region, nearest heads, metrics) as a job over row
   * blocks that a worker runs a slice at a time with progress; undefined for the queries answered at once. A paged
   * column comes from its head's row normalisers at once, except in layers `streamed` names (the worker streams those
   * layers' blocks from its WebGPU device).
   */
  job(q: AttentionQuery, streamed?: (layer: number) => boolean): Job<AnsweredQuery> | undefined {
    switch (q.kind) {
      case 'column': {
        const { stack, selector } = this.resolve(q.head);
        if (!Number.isInteger(q.key) || q.key < 0 || q.key >= stack.keys) throw new RangeError(`There is no key ${q.key} of ${stack.keys}.`);
        const direct = streamed?.(q.head.layer) ? undefined : pagedColumn(stack, q.head.layer, selector, q.key);
        if (direct) {
          const weights = direct.buffer as ArrayBuffer;
          return new BlockJob([][Symbol.iterator](), 0, () => ({ answer: { kind: 'column', weights }, transfer: [weights] }));
        }
        return mapJob(columnJob(this.rows(q.head), q.key, blockRowCount(stack)), (c) => {
          const weights = c.buffer as ArrayBuffer;
          return { answer: { kind: 'column', weights }, transfer: [weights] };
        });
      }
      case 'matrix': {
        const { stack } = this.resolve(q.head);
        const region = q.region ? checkRegion(q.region, stack.queries, stack.keys) : undefined;
        const job = matrixJob(this.rows(q.head), stack.causal, q.maxSide ?? Infinity, region, this.scaleOf(q.head), blockRowCount(stack));
        return mapJob(job, ({ matrix: m, scale }) => {
          const data = m.data.buffer as ArrayBuffer;
          return {
            answer: { kind: 'matrix', rows: m.rows, cols: m.cols, pooled: m.pooled, data, scale: this.keepScale(q.head, scale), causal: stack.causal, ...(region ? { region } : {}) },
            transfer: [data],
          };
        });
      }
      case 'nearest': {
        const { stack } = this.resolve(q.head);
        const self = typeof q.head.head === 'number' ? { layer: q.head.layer, head: q.head.head } : undefined;
        return mapJob(nearestHeadsJob(stack, this.rows(q.head), Math.max(0, Math.floor(q.count)), self), (near) => ({
          answer: { kind: 'nearest', heads: near.map((r) => ({ head: { stack: q.head.stack, layer: r.layer, head: r.head }, meanJsd: r.meanJsd })) },
          transfer: [],
        }));
      }
      case 'metrics':
        return mapJob(this.metricsJob(q.stack, q.ids), (rows) => ({ answer: { kind: 'metrics', rows }, transfer: [] }));
      default:
        return undefined;
    }
  }

  /** Answers one query; throws a RangeError for a reference or index the run does not have. */
  answer(q: AttentionQuery): AnsweredQuery {
    const job = this.job(q);
    if (job) return job.run();
    switch (q.kind) {
      case 'row': {
        const weights = this.row(q.head, q.query).buffer as ArrayBuffer;
        return { answer: { kind: 'row', weights }, transfer: [weights] };
      }
      case 'topk': {
        const row = this.row(q.head, q.query);
        const keys = topK(row, Math.floor(q.k));
        return { answer: { kind: 'topk', keys, weights: keys.map((j) => row[j]) }, transfer: [] };
      }
      case 'predictions': {
        const l = this.logits;
        if (!l) throw new RangeError('This run has no logits to predict from.');
        return { answer: { kind: 'predictions', predictions: topNextTokens(l.data, l.vocab, q.query, Math.max(0, Math.floor(q.k))) }, transfer: [] };
      }
      default:
        throw new RangeError(`Unknown attention query ${JSON.stringify((q as { kind?: unknown }).kind)}.`);
    }
  }
}

/** The key a layer's matrix (a head or an aggregate) is kept under: its stack, layer and selector. */
function aggregateKey(stack: StackShape, layer: number, selector: HeadSelector): string {
  return `${stack.kind}|${layer}|${selector}`;
}

/** `r` when it is a window of whole cells inside a [queries, keys] matrix; throws a RangeError otherwise. */
function checkRegion(r: MatrixRegion, queries: number, keys: number): MatrixRegion {
  const ok = [r.row, r.col, r.rows, r.cols].every(Number.isInteger) && r.row >= 0 && r.col >= 0 && r.rows > 0 && r.cols > 0
    && r.row + r.rows <= queries && r.col + r.cols <= keys;
  if (!ok) throw new RangeError(`The region ${JSON.stringify(r)} is not inside the ${queries}×${keys} matrix.`);
  return { row: r.row, col: r.col, rows: r.rows, cols: r.cols };
}

/**
 * A column of a paged stack's head, or of its layer's mean or max, straight from its source (paged-attention.ts
 * `column`: O(T·d) once a head's row normalisers are in) instead of a pass over every row; undefined where the source
 * cannot (rollout, a value-weighted view, a layer with a bias), and the row-block job answers.
 */
function pagedColumn(stack: Attention, layer: number, selector: HeadSelector, key: number): Float32Array | undefined {
  const pages = stack.pages;
  if (!pages?.column || selector === 'rollout') return undefined;
  if (typeof selector === 'number') return pages.column(layer, selector, key);
  const cols: Float32Array[] = [];
  for (let h = 0; h < stack.heads; h++) {
    const c = pages.column(layer, h, key);
    if (!c) return undefined;
    cols.push(c);
  }
  // As layerMeanRows / layerMaxRows combine heads, so a column is the matrices' column.
  return combineHeadBlocks(selector, stack.heads, (h) => cols[h], new Float32Array(stack.queries));
}
