/**
 * Statistics over every row of an attention matrix, streamed a block of rows at a time (issue 16): a source serves
 * rows start…end−1 of a head (or of a layer's mean or max), sinks are fed each block in order, and a job pulls the
 * blocks a slice at a time so a worker can answer hovers in between and report progress. Sinks are pure and only see
 * one block, so a driver may compute a paged source's blocks elsewhere (the worker's WebGPU kernel: `stepAsync` with a
 * BlockFetch) and await them. Each sink adds in row order, so its result equals the same statistic over the whole
 * matrix exactly. Pure: no `vscode`, no DOM.
 */
import { headRows, layerMaxRows, layerMeanRows, type Attention, type HeadSelector } from './attention';
import { blockStart } from './display';

/** One [rows, keys] matrix served a block of rows at a time. */
export interface RowSource {
  readonly rows: number;
  readonly keys: number;
  /** Rows start…end−1 as a [end − start, keys] block (a view or a new array; sinks do not write to it). */
  block(start: number, end: number): Float32Array;
  /** For a paged stack's head, or the mean or max of a layer's heads: what the rows are, so a driver may compute them elsewhere. */
  readonly origin?: BlockOrigin;
}

/** A paged stack's head (or a layer's mean or max over heads) that a source serves. */
export interface BlockOrigin {
  readonly attention: Attention;
  readonly layer: number;
  readonly selector: number | 'mean' | 'max';
}

/**
 * Computes a unit's block somewhere else than its source (the worker's GPU): a promise of the same rows the source would
 * give, or undefined to leave the unit to its source. It must not reject (it falls back to the source itself).
 */
export type BlockFetch = (unit: BlockUnit) => Promise<Float32Array> | undefined;

/** A statistic fed a matrix's row blocks in order: `block` holds rows start… (block.length / keys of them). */
export interface RowSink {
  add(block: Float32Array, start: number): void;
}

/** One block to compute and the sinks to feed it to. */
export interface BlockUnit {
  readonly source: RowSource;
  readonly start: number;
  readonly end: number;
  readonly sinks: readonly RowSink[];
}

/** A selector's matrix of `layer` as a row source; `whole` serves an aggregate that cannot stream (rollout) from a kept matrix. */
export function selectorSource(a: Attention, layer: number, selector: HeadSelector, whole?: () => Float32Array): RowSource {
  const k = a.keys;
  const block = typeof selector === 'number' ? (s: number, e: number) => headRows(a, layer, selector, s, e)
    : selector === 'mean' ? (s: number, e: number) => layerMeanRows(a, layer, s, e)
    : selector === 'max' ? (s: number, e: number) => layerMaxRows(a, layer, s, e)
    : (s: number, e: number) => {
      if (!whole) throw new RangeError('Rollout is a product of whole layer matrices and does not stream by rows.');
      return whole().subarray(s * k, e * k);
    };
  const origin: BlockOrigin | undefined = a.pages && selector !== 'rollout' ? { attention: a, layer, selector } : undefined;
  return { rows: a.queries, keys: k, block, ...(origin ? { origin } : {}) };
}

/** The units that feed rows from…to−1 (every row by default) of `source` to `sinks`, `blockRows` rows a unit. */
export function* passOver(source: RowSource, sinks: readonly RowSink[], blockRows: number, from = 0, to = source.rows): Generator<BlockUnit> {
  for (let s = from; s < to; s += blockRows) yield { source, start: s, end: Math.min(to, s + blockRows), sinks };
}

/** Work done a slice at a time: `done` of `total` units so far, the result once every unit ran. */
export interface Job<R> {
  readonly done: number;
  readonly total: number;
  /** Runs units until `budgetMs` has passed (at least one); the result once none is left, else undefined. */
  step(budgetMs?: number): R | undefined;
  /** Runs every unit left and returns the result. */
  run(): R;
  /**
   * As `step`, but each unit's block is asked of `fetch` first and awaited when it gives one (else its source computes
   * it). Calls run one after another, in the order made, so sinks still see their blocks in row order.
   */
  stepAsync(budgetMs: number, fetch: BlockFetch): Promise<R | undefined>;
}

/** A job whose result is passed through `f` (once, when it is done). */
export function mapJob<A, B>(job: Job<A>, f: (a: A) => B): Job<B> {
  let out: { value: B } | undefined;
  const step = (budgetMs?: number): B | undefined => {
    if (out) return out.value;
    const r = job.step(budgetMs);
    return r === undefined ? undefined : (out = { value: f(r) }).value;
  };
  const stepAsync = async (budgetMs: number, fetch: BlockFetch): Promise<B | undefined> => {
    if (out) return out.value;
    const r = await job.stepAsync(budgetMs, fetch);
    return r === undefined ? undefined : (out ??= { value: f(r) }).value;
  };
  return { get done() { return job.done; }, get total() { return job.total; }, step, run: () => step(Infinity) as B, stepAsync };
}

/**
 * Blocks pulled from a lazy list of units (a generator, so a later pass may depend on an earlier one's result), a
 * slice at a time; `result()` once every unit ran. `total`: how many units there are (the job ends after that many;
 * 0 when not known: it ends when the list does).
 */
export class BlockJob<R> implements Job<R> {
  private ran = 0;
  private finished: { value: R } | undefined;
  /** The asynchronous steps made so far, chained (each starts once the one before has ended). */
  private chain: Promise<unknown> = Promise.resolve();
  /** Whether an asynchronous step is awaiting a block: a synchronous step then would feed sinks out of order. */
  private awaiting = false;

  constructor(private readonly units: Iterator<BlockUnit>, readonly total: number, private readonly result: () => R) {}

  /** Units run so far. */
  get done(): number {
    return this.ran;
  }

  /** Runs units until `budgetMs` has passed (at least one); the result once none is left, else undefined. */
  step(budgetMs = Infinity): R | undefined {
    if (this.awaiting) throw new Error('This job is waiting for a block computed elsewhere; step it with stepAsync.');
    const end = performance.now() + budgetMs;
    for (let n = 0; !this.finished && (n === 0 || performance.now() < end); n++) {
      const u = this.units.next();
      if (u.done) { this.finished = { value: this.result() }; break; }
      this.feed(u.value, u.value.source.block(u.value.start, u.value.end));
    }
    return this.finished?.value;
  }

  /** Runs units until `budgetMs` has passed (at least one), each block from `fetch` when it gives one; see Job.stepAsync. */
  stepAsync(budgetMs: number, fetch: BlockFetch): Promise<R | undefined> {
    const run = this.chain.then(async () => {
      const end = performance.now() + budgetMs;
      for (let n = 0; !this.finished && (n === 0 || performance.now() < end); n++) {
        const u = this.units.next();
        if (u.done) { this.finished = { value: this.result() }; break; }
        const pending = fetch(u.value);
        let block: Float32Array;
        if (pending) {
          this.awaiting = true;
          try { block = await pending; } finally { this.awaiting = false; }
        } else {
          block = u.value.source.block(u.value.start, u.value.end);
        }
        this.feed(u.value, block);
      }
      return this.finished?.value;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Feeds one unit's block to its sinks; the last unit ends the job at once (total counts them), so no call is spent finding the list empty. */
  private feed(u: BlockUnit, block: Float32Array): void {
    for (const s of u.sinks) s.add(block, u.start);
    if (++this.ran === this.total) this.finished = { value: this.result() };
  }

  /** Runs every unit left and returns the result. */
  run(): R {
    return this.step(Infinity) as R;
  }
}

/** Column `key` of a matrix, gathered block by block: Float32 [rows]. */
export class ColumnSink implements RowSink {
  readonly column: Float32Array;

  constructor(rows: number, private readonly keys: number, private readonly key: number) {
    this.column = new Float32Array(rows);
  }

  add(block: Float32Array, start: number): void {
    const n = block.length / this.keys;
    for (let r = 0; r < n; r++) this.column[start + r] = block[r * this.keys + this.key];
  }
}

/**
 * A matrix, or a window of it, at display size, block by block: as attention-query's 'matrix' answer has it. Whole and
 * not pooled: a copy. Whole and pooled: each cell the max of its block's visible entries (NaN when none; display.ts
 * poolMax). A region: masked cells (causal, key after query) count as −∞ and come out NaN, pooled or not.
 */
export class PoolSink implements RowSink {
  readonly out: Float32Array;
  private readonly rowCell: Int32Array;
  private readonly colCell: Int32Array;

  constructor(private readonly keys: number, private readonly region: { row: number; col: number; rows: number; cols: number },
    private readonly outRows: number, private readonly outCols: number, private readonly causal: boolean, private readonly isRegion: boolean) {
    this.out = new Float32Array(outRows * outCols).fill(NaN);
    this.rowCell = cellsOf(region.rows, outRows);
    this.colCell = cellsOf(region.cols, outCols);
  }

  add(block: Float32Array, start: number): void {
    const { row, col, rows, cols } = this.region;
    const n = block.length / this.keys;
    const pooled = this.outRows !== rows || this.outCols !== cols;
    for (let i = Math.max(start, row); i < Math.min(start + n, row + rows); i++) {
      const base = this.rowCell[i - row] * this.outCols;
      const src = (i - start) * this.keys + col;
      // Keys a whole causal matrix pools over (visible ones), or a region marks −∞ past (masked ones).
      const visible = this.causal ? Math.max(0, Math.min(cols, i + 1 - col)) : cols;
      const end = !this.isRegion && pooled ? visible : cols;
      for (let j = 0; j < end; j++) {
        const o = base + this.colCell[j];
        const v = this.isRegion && j >= visible ? -Infinity : block[src + j];
        if (!(this.out[o] >= v)) this.out[o] = v; // NaN compares false: the first value always lands
      }
    }
  }

  /** The cells, with a region's −∞ (nothing visible) as NaN. */
  result(): Float32Array {
    if (this.isRegion) for (let k = 0; k < this.out.length; k++) if (this.out[k] === -Infinity) this.out[k] = NaN;
    return this.out;
  }
}

/** Cell of each of `n` positions pooled into `cells` blocks (display.ts blockStart). */
function cellsOf(n: number, cells: number): Int32Array {
  const out = new Int32Array(n);
  for (let b = 0; b < cells; b++) for (let p = blockStart(b, n, cells), e = blockStart(b + 1, n, cells); p < e; p++) out[p] = b;
  return out;
}
