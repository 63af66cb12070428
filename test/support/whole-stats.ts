/**
 * The store's whole-row statistics computed the way they were before row blocks (issue 16): from a held stack's whole
 * matrices with the whole-matrix functions (head-metrics.ts, display.ts poolMax and visibleQuantile, head-compare.ts
 * jsDivergence summed row by row as meanRowJsDivergence does, over rows of `keys` so cross-attention too), and means,
 * maxima, regions and columns by index arithmetic here. Test-only oracle: none of it
 * goes through row-blocks.ts.
 */
import type { Attention, HeadSelector } from '../../src/shared/attention';
import type { AttentionAnswer, AttentionQuery, MatrixRegion } from '../../src/shared/attention-query';
import { displaySize, poolMax, visibleQuantile } from '../../src/shared/display';
import { jsDivergence } from '../../src/shared/head-compare';
import {
  duplicateTokenScore, inductionScore, meanAttentionDistance, normalisedEntropy, previousTokenScore, selfScore, sinkScore,
} from '../../src/shared/head-metrics';

/** Head h of layer l of a held stack, by offset. */
const headOf = (a: Attention, l: number, h: number): Float32Array =>
  a.data.subarray((l * a.heads + h) * a.queries * a.keys, (l * a.heads + h + 1) * a.queries * a.keys);

/** A selector's whole matrix: a head, or the element-wise mean or max over the layer's heads. */
export function wholeMatrix(a: Attention, l: number, sel: HeadSelector): Float32Array {
  if (typeof sel === 'number') return headOf(a, l, sel);
  const n = a.queries * a.keys;
  const out = new Float32Array(n);
  for (let h = 0; h < a.heads; h++) {
    const m = headOf(a, l, h);
    for (let k = 0; k < n; k++) out[k] = sel === 'mean' ? out[k] + m[k] : h === 0 ? m[k] : Math.max(out[k], m[k]);
  }
  if (sel === 'mean') for (let k = 0; k < n; k++) out[k] /= a.heads;
  return out;
}

/** A region copied out, masked cells −∞ (causal: key after query). */
function regionOf(a: Attention, m: Float32Array, r: MatrixRegion): Float32Array {
  const out = new Float32Array(r.rows * r.cols);
  for (let i = 0; i < r.rows; i++) {
    for (let j = 0; j < r.cols; j++) out[i * r.cols + j] = a.causal && r.col + j > r.row + i ? -Infinity : m[(r.row + i) * a.keys + r.col + j];
  }
  return out;
}

/** The answer a store gives to `q` on the held stack `a`, computed whole. Metrics, matrix, column and nearest only. */
export function wholeAnswer(a: Attention, q: AttentionQuery): AttentionAnswer {
  const T = a.queries;
  switch (q.kind) {
    case 'metrics': {
      const repeats = new Set(q.ids).size < q.ids.length;
      const rows = [];
      for (let l = 0; l < a.layers; l++) {
        for (let h = 0; h < a.heads; h++) {
          const m = headOf(a, l, h);
          rows.push({
            layer: l, head: h, entropy: normalisedEntropy(m, T, a.causal), previousToken: previousTokenScore(m, T), sink: sinkScore(m, T),
            self: selfScore(m, T), distance: meanAttentionDistance(m, T), duplicate: repeats ? duplicateTokenScore(m, T, q.ids) : null, induction: null,
          });
        }
      }
      return { kind: 'metrics', rows };
    }
    case 'column': {
      const m = wholeMatrix(a, q.head.layer, q.head.head);
      return { kind: 'column', weights: Float32Array.from({ length: T }, (_, i) => m[i * a.keys + q.key]).buffer };
    }
    case 'matrix': {
      const m = wholeMatrix(a, q.head.layer, q.head.head);
      const r = q.region;
      const values = r ? regionOf(a, m, r) : m;
      const rows = r ? r.rows : T;
      const cols = r ? r.cols : a.keys;
      const size = displaySize(rows, cols, q.maxSide ?? Infinity);
      const pooled = size.rows !== rows || size.cols !== cols;
      const out = pooled ? poolMax(values, rows, cols, size.rows, size.cols, !r && a.causal) : values.slice();
      for (let k = 0; k < out.length; k++) if (out[k] === -Infinity) out[k] = NaN;
      return {
        kind: 'matrix', rows: size.rows, cols: size.cols, pooled, data: out.buffer as ArrayBuffer, scale: visibleQuantile(m, T, a.causal, 0.99, a.keys),
        causal: a.causal, ...(r ? { region: r } : {}),
      };
    }
    case 'nearest': {
      const target = wholeMatrix(a, q.head.layer, q.head.head);
      const all = [];
      for (let l = 0; l < a.layers; l++) {
        for (let h = 0; h < a.heads; h++) {
          if (l === q.head.layer && h === q.head.head) continue;
          const m = headOf(a, l, h);
          let sum = 0;
          for (let i = 0; i < T; i++) sum += jsDivergence(target.subarray(i * a.keys, (i + 1) * a.keys), m.subarray(i * a.keys, (i + 1) * a.keys));
          all.push({ head: { stack: q.head.stack, layer: l, head: h }, meanJsd: T ? sum / T : 0 });
        }
      }
      all.sort((x, y) => x.meanJsd - y.meanJsd || x.head.layer - y.head.layer || x.head.head - y.head.head);
      return { kind: 'nearest', heads: all.slice(0, q.count) };
    }
    default:
      throw new Error(`no whole form of ${q.kind}`);
  }
}

/** Induction scores of every head on a probe of `period`, from whole heads. */
export function wholeInduction(a: Attention, period: number): number[] {
  const out: number[] = [];
  for (let l = 0; l < a.layers; l++) for (let h = 0; h < a.heads; h++) out.push(inductionScore(headOf(a, l, h), a.queries, period));
  return out;
}
