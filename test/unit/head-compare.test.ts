import assert from 'node:assert/strict';
import { selfAttention } from '../../src/shared/attention';
import {
  differenceMatrix, jsDivergence, meanRowJsDivergence, pairwiseDivergence, rowJsDivergence, similarity,
} from '../../src/shared/head-compare';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

describe('head-compare: Jensen–Shannon divergence', () => {
  it('is 0 for identical distributions and 1 for disjoint ones', () => {
    close(jsDivergence([0.2, 0.8], [0.2, 0.8]), 0);
    close(jsDivergence([1, 0], [0, 1]), 1);
  });
  it('is symmetric and matches a hand computation', () => {
    const p = [0.5, 0.5];
    const q = [1, 0];
    // M = [0.75, 0.25]; KL(p||M) = 0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25); KL(q||M) = log2(1/0.75)
    const expected = (0.5 * Math.log2(0.5 / 0.75) + 0.5 * Math.log2(2) + Math.log2(1 / 0.75)) / 2;
    close(jsDivergence(p, q), expected);
    close(jsDivergence(q, p), expected);
  });
  it('normalises its inputs and handles empty mass', () => {
    close(jsDivergence([2, 2], [1, 1]), 0);
    assert.equal(jsDivergence([0, 0], [0, 0]), 0);
    assert.equal(jsDivergence([0, 0], [1, 0]), 1);
    assert.throws(() => jsDivergence([1], [0.5, 0.5]), /length/);
  });
});

describe('head-compare: matrices', () => {
  // Two causal 3×3 heads: A attends to itself, B to the first token.
  const A = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const B = new Float32Array([1, 0, 0, 1, 0, 0, 1, 0, 0]);
  it('gives per-row divergences and their mean', () => {
    const rows = rowJsDivergence(A, B, 3);
    assert.deepEqual(Array.from(rows), [0, 1, 1]);
    close(meanRowJsDivergence(A, B, 3), 2 / 3);
    close(similarity(2 / 3), 1 / 3);
    assert.equal(similarity(1.5), 0);
  });
  it('computes a − b', () => {
    assert.deepEqual(Array.from(differenceMatrix(A, B, 3)), [0, 0, 0, -1, 1, 0, -1, 0, 1]);
  });
  it('compares every pair of a stack', () => {
    const stack = new Float32Array([...A, ...B, ...A]);
    const pairs = pairwiseDivergence(stack, 3, 3);
    assert.deepEqual(pairs.map((p) => [p.a, p.b]), [[0, 1], [0, 2], [1, 2]]);
    close(pairs[0].meanJsd, 2 / 3);
    close(pairs[1].meanJsd, 0);
    close(pairs[1].similarity, 1);
    assert.throws(() => pairwiseDivergence(stack, 4, 3), /expected/);
  });
});

describe('related heads', () => {
  it('ranks every other head by mean row JS divergence from the target, nearest first', async () => {
    const { nearestHeads } = await import('../../src/shared/head-compare');
    const T = 3;
    const prev = [1, 0, 0, 1, 0, 0, 0, 1, 0];
    const self = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const almostPrev = [1, 0, 0, 0.9, 0.1, 0, 0, 0.9, 0.1];
    const stack = new Float32Array([...prev, ...self, ...almostPrev, ...prev]); // L=2, H=2
    const att = selfAttention(2, 2, T, stack);
    const r = nearestHeads(att, Float32Array.from(prev), 3, { layer: 0, head: 0 });
    assert.deepEqual(r.map((x) => `L${x.layer} H${x.head}`), ['L1 H1', 'L1 H0', 'L0 H1']);
    assert.equal(r[0].meanJsd, 0);
    assert.ok(r[1].meanJsd > 0 && r[1].meanJsd < r[2].meanJsd);
    assert.equal(nearestHeads(att, Float32Array.from(prev), 10).length, 4);
  });
});
