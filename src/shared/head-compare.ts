/**
 * Pure maths for comparing attention heads on the same tokens: Jensen–Shannon divergence per query row
 * (base 2, so in [0, 1]), its mean over rows, a similarity figure, and the difference matrix.
 * Imports neither `vscode` nor the DOM.
 */
import { blockRowCount, type Attention } from './attention';
import { BlockJob, selectorSource, type BlockUnit, type RowSink, type RowSource } from './row-blocks';

/** Jensen–Shannon divergence (base 2, in [0, 1]) of two distributions; each is normalised first. */
export function jsDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`distributions differ in length: ${p.length} vs ${q.length}`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += Math.max(0, p[i]);
    sq += Math.max(0, q[i]);
  }
  if (!(sp > 0) || !(sq > 0)) return sp > 0 || sq > 0 ? 1 : 0;
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    const a = Math.max(0, p[i]) / sp;
    const b = Math.max(0, q[i]) / sq;
    const m = (a + b) / 2;
    if (a > 0) d += a * Math.log2(a / m);
    if (b > 0) d += b * Math.log2(b / m);
  }
  return Math.min(1, Math.max(0, d / 2));
}

/** JS divergence of each row of two [T,T] matrices: a Float64Array of length T. */
export function rowJsDivergence(a: Float32Array, b: Float32Array, tokens: number): Float64Array {
  checkSquare(a, b, tokens);
  const out = new Float64Array(tokens);
  for (let i = 0; i < tokens; i++) {
    out[i] = jsDivergence(a.subarray(i * tokens, (i + 1) * tokens), b.subarray(i * tokens, (i + 1) * tokens));
  }
  return out;
}

/** Mean over query rows of the row JS divergence (0 = identical heads, 1 = disjoint attention). */
export function meanRowJsDivergence(a: Float32Array, b: Float32Array, tokens: number): number {
  if (tokens === 0) return 0;
  const rows = rowJsDivergence(a, b, tokens);
  let s = 0;
  for (const v of rows) s += v;
  return s / tokens;
}

/** Similarity figure shown next to a divergence: 1 − mean JS divergence, in [0, 1]. */
export function similarity(meanJsd: number): number {
  return Math.min(1, Math.max(0, 1 - meanJsd));
}

/** Element-wise a − b of two [T,T] matrices. */
export function differenceMatrix(a: Float32Array, b: Float32Array, tokens: number): Float32Array {
  checkSquare(a, b, tokens);
  const out = new Float32Array(tokens * tokens);
  for (let k = 0; k < out.length; k++) out[k] = a[k] - b[k];
  return out;
}

/** One compared pair of pinned heads (indices into the pinned list). */
export interface PairDivergence {
  readonly a: number;
  readonly b: number;
  readonly meanJsd: number;
  readonly similarity: number;
}

/** Mean row JS divergence of every pair (a < b) of `count` stacked [T,T] matrices in `stack`. */
export function pairwiseDivergence(stack: Float32Array, count: number, tokens: number): PairDivergence[] {
  const n = tokens * tokens;
  if (stack.length < count * n) throw new Error(`stack holds ${stack.length} values, expected ${count * n}`);
  const out: PairDivergence[] = [];
  for (let a = 0; a < count; a++) {
    for (let b = a + 1; b < count; b++) {
      const d = meanRowJsDivergence(stack.subarray(a * n, (a + 1) * n), stack.subarray(b * n, (b + 1) * n), tokens);
      out.push({ a, b, meanJsd: d, similarity: similarity(d) });
    }
  }
  return out;
}

function checkSquare(a: Float32Array, b: Float32Array, tokens: number): void {
  const n = tokens * tokens;
  if (a.length < n || b.length < n) throw new Error(`matrices hold ${a.length} and ${b.length} values, expected ${n}`);
}

/** A head and its mean row JS divergence from a reference head. */
export interface RelatedHead {
  readonly layer: number;
  readonly head: number;
  readonly meanJsd: number;
}

/** The running sum of row JS divergences of one head from a target whose current block `target()` holds. */
class JsSink implements RowSink {
  sum = 0;

  constructor(private readonly keys: number, private readonly target: () => Float32Array) {}

  add(block: Float32Array): void {
    const k = this.keys;
    const t = this.target();
    for (let r = 0; r < block.length / k; r++) this.sum += jsDivergence(t.subarray(r * k, (r + 1) * k), block.subarray(r * k, (r + 1) * k));
  }
}

/**
 * nearestHeads as a job over row blocks: each block of the target's rows, then the same rows of every other head, so
 * no more than one block of each is held; `target` serves the reference matrix's rows (row-blocks.ts selectorSource).
 */
export function nearestHeadsJob(att: Attention, target: RowSource, k: number, exclude?: { layer: number; head: number },
  blockRows = blockRowCount(att)): BlockJob<RelatedHead[]> {
  let held: Float32Array = new Float32Array(0);
  const hold: RowSink = { add: (block) => { held = block; } };
  const heads: { layer: number; head: number; sink: JsSink; source: RowSource }[] = [];
  for (let l = 0; l < att.layers; l++) {
    for (let h = 0; h < att.heads; h++) {
      if (exclude && exclude.layer === l && exclude.head === h) continue;
      heads.push({ layer: l, head: h, sink: new JsSink(att.keys, () => held), source: selectorSource(att, l, h) });
    }
  }
  const t = att.queries;
  function* units(): Generator<BlockUnit> {
    for (let s = 0; s < t; s += blockRows) {
      const e = Math.min(t, s + blockRows);
      yield { source: target, start: s, end: e, sinks: [hold] };
      for (const c of heads) yield { source: c.source, start: s, end: e, sinks: [c.sink] };
    }
  }
  const blocks = Math.ceil(t / blockRows) * (heads.length + 1);
  return new BlockJob(units(), blocks, () => heads.map((c) => ({ layer: c.layer, head: c.head, meanJsd: t ? c.sink.sum / t : 0 }))
    .sort((a, b) => a.meanJsd - b.meanJsd || a.layer - b.layer || a.head - b.head).slice(0, Math.max(0, k)));
}

/**
 * The `k` heads of a stack nearest to `target` (a [queries, keys] matrix) by mean row JS divergence,
 * nearest first (ties by layer, then head); `exclude` (layer, head) is left out (the target itself).
 */
export function nearestHeads(att: Attention, target: Float32Array, k: number, exclude?: { layer: number; head: number }): RelatedHead[] {
  const source: RowSource = { rows: att.queries, keys: att.keys, block: (s, e) => target.subarray(s * att.keys, e * att.keys) };
  return nearestHeadsJob(att, source, k, exclude).run();
}
