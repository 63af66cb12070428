import assert from 'node:assert/strict';
import { blockStart, displaySize, poolMax, selectKth, visibleQuantile, VisibleQuantileSink } from '../../src/shared/display';
import { mulberry32 as rng } from '../../src/shared/head-labels'; // seeded, so failures reproduce

/** Softmax rows of random scores: a [rows, cols] attention-like matrix, causal rows zero above the diagonal. */
function attentionLike(rows: number, cols: number, causal: boolean, rand: () => number, peaky = 4): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const end = causal ? Math.min(i + 1, cols) : cols;
    let z = 0;
    for (let j = 0; j < end; j++) { const e = Math.exp(peaky * rand()); m[i * cols + j] = e; z += e; }
    for (let j = 0; j < end; j++) m[i * cols + j] /= z;
  }
  return m;
}

/** Reference quantile, as the scale was defined before: sort every visible entry and index. */
function sortedQuantile(m: ArrayLike<number>, rows: number, causal: boolean, q: number, cols = rows): number {
  const v: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < (causal ? Math.min(i + 1, cols) : cols); j++) v.push(m[i * cols + j]);
  if (v.length === 0) return 0;
  v.sort((a, b) => a - b);
  const x = v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  return x > 0 ? x : v[v.length - 1];
}

describe('display: selection instead of sorting', () => {
  it('selectKth returns the k-th smallest, for every k, on random, tied, sorted, reversed and constant arrays', () => {
    const rand = rng(1);
    const cases: number[][] = [
      Array.from({ length: 101 }, () => rand()),
      Array.from({ length: 64 }, () => Math.floor(rand() * 4)),
      Array.from({ length: 50 }, (_, i) => i),
      Array.from({ length: 50 }, (_, i) => 50 - i),
      Array.from({ length: 33 }, () => 0.25),
      [7],
      [2, 1],
    ];
    for (const c of cases) {
      const sorted = [...c].sort((a, b) => a - b);
      for (let k = 0; k < c.length; k++) assert.equal(selectKth(Float64Array.from(c), k), sorted[k], `k=${k} of ${JSON.stringify(c.slice(0, 8))}…`);
    }
  });

  it('visibleQuantile equals the sorted quantile on attention-like matrices (causal, bidirectional, cross-shaped)', () => {
    const rand = rng(2);
    for (const [rows, cols, causal] of [[37, 37, true], [40, 40, false], [12, 30, false], [30, 12, true], [1, 1, true]] as const) {
      const m = attentionLike(rows, cols, causal, rand);
      for (const q of [0, 0.01, 0.5, 0.9, 0.99, 1]) {
        assert.equal(visibleQuantile(m, rows, causal, q, cols), sortedQuantile(m, rows, causal, q, cols), `${rows}×${cols} causal=${causal} q=${q}`);
      }
    }
    assert.equal(visibleQuantile(new Float32Array(0), 0, true, 0.99), 0);
    assert.equal(visibleQuantile([0, 0, 0, 0.9], 2, false, 0.5), 0.9, 'a zero quantile falls back to the max');
  });

  it('the streamed quantile (fed blocks of rows, keeping only the top entries) equals the sorted quantile exactly', () => {
    const rand = rng(3);
    const tied = (rows: number, cols: number) => Float32Array.from({ length: rows * cols }, () => Math.floor(rand() * 3) / 4);
    const cases: [Float32Array, number, number, boolean][] = [
      [attentionLike(37, 37, true, rand), 37, 37, true], [attentionLike(40, 40, false, rand), 40, 40, false],
      [attentionLike(12, 30, false, rand), 12, 30, false], [attentionLike(30, 12, true, rand), 30, 12, true],
      [tied(25, 25), 25, 25, true], [Float32Array.from({ length: 64 }, (_, k) => -k / 7), 8, 8, false], [new Float32Array(0), 0, 0, true],
    ];
    for (const [m, rows, cols, causal] of cases) {
      for (const q of [0, 0.01, 0.5, 0.9, 0.99, 1]) {
        for (const block of [1, 4, 7, rows || 1]) {
          const sink = new VisibleQuantileSink(rows, cols, causal, q);
          for (let s = 0; s < rows; s += block) sink.add(m.subarray(s * cols, Math.min(rows, s + block) * cols), s);
          assert.equal(sink.result(), sortedQuantile(m, rows, causal, q, cols), `${rows}×${cols} causal=${causal} q=${q} block=${block}`);
        }
      }
    }
  });
});

describe('display: max-pooling to display resolution', () => {
  /** Brute force: for each output cell, scan its block and take the largest visible value (NaN if none). */
  function bruteForcePool(m: Float32Array, rows: number, cols: number, outR: number, outC: number, causal: boolean): Float32Array {
    const out = new Float32Array(outR * outC);
    for (let a = 0; a < outR; a++) {
      for (let b = 0; b < outC; b++) {
        let best = NaN;
        for (let i = Math.floor((a * rows) / outR); i < Math.floor(((a + 1) * rows) / outR); i++) {
          for (let j = Math.floor((b * cols) / outC); j < Math.floor(((b + 1) * cols) / outC); j++) {
            if (causal && j > i) continue;
            if (Number.isNaN(best) || m[i * cols + j] > best) best = m[i * cols + j];
          }
        }
        out[a * outC + b] = best;
      }
    }
    return out;
  }

  it('equals the brute-force block maximum, masked blocks NaN, for uneven block sizes', () => {
    const rand = rng(3);
    for (const [rows, cols, outR, outC, causal] of [
      [100, 100, 7, 7, true], [100, 100, 33, 33, false], [64, 20, 9, 5, false], [20, 64, 20, 13, true], [1024, 1024, 110, 110, true],
    ] as const) {
      const m = attentionLike(rows, cols, causal, rand);
      const got = poolMax(m, rows, cols, outR, outC, causal);
      const want = bruteForcePool(m, rows, cols, outR, outC, causal);
      assert.deepEqual(Array.from(got), Array.from(want), `${rows}×${cols} → ${outR}×${outC}`);
      if (causal && outR === outC && outR > 1) assert.ok(Number.isNaN(got[outC - 1]), 'the top-right block lies wholly above the diagonal');
    }
  });

  it('is the identity at full resolution (masked cells NaN), and keeps a lone peak', () => {
    const m = Float32Array.from([1, 0, 0.25, 0.75]);
    assert.deepEqual(Array.from(poolMax(m, 2, 2, 2, 2, true)), [1, NaN, 0.25, 0.75]);
    assert.deepEqual(Array.from(poolMax(m, 2, 2, 2, 2, false)), [1, 0, 0.25, 0.75]);
    const big = new Float32Array(512 * 512);
    big[300 * 512 + 7] = 0.5;
    const pooled = poolMax(big, 512, 512, 16, 16, false);
    assert.equal(pooled[Math.floor(300 / 32) * 16 + 0], 0.5, 'a single strong weight survives pooling');
    assert.equal(pooled.filter((v) => v > 0).length, 1);
  });

  it('blocks tile the axis and the display size never exceeds the matrix or the box', () => {
    for (const [n, out] of [[10, 3], [1024, 110], [7, 7]]) {
      assert.equal(blockStart(0, n, out), 0);
      assert.equal(blockStart(out, n, out), n);
      for (let b = 0; b < out; b++) assert.ok(blockStart(b + 1, n, out) > blockStart(b, n, out), 'no empty block');
    }
    assert.deepEqual(displaySize(1024, 512, 220), { rows: 220, cols: 220 });
    assert.deepEqual(displaySize(30, 40, 220), { rows: 30, cols: 40 });
    assert.deepEqual(displaySize(30, 40, 0.5), { rows: 1, cols: 1 });
  });
});
