import assert from 'node:assert/strict';
import {
  duplicateTokenScore, inductionScore, meanAttentionDistance, normalisedEntropy,
  previousTokenScore, rowEntropy, selfScore, sinkScore,
} from '../../src/shared/head-metrics';

/** Builds a T×T matrix from a function of (i, j), then normalises each row. */
function matrix(t: number, f: (i: number, j: number) => number): Float32Array {
  const a = new Float32Array(t * t);
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let j = 0; j < t; j++) s += (a[i * t + j] = f(i, j));
    for (let j = 0; j < t; j++) a[i * t + j] /= s;
  }
  return a;
}
const close = (x: number, y: number, eps = 1e-6) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);

describe('head metrics on hand-built matrices', () => {
  const T = 6;
  const previous = matrix(T, (i, j) => (i === 0 ? (j === 0 ? 1 : 0) : j === i - 1 ? 1 : 0));
  const uniformCausal = matrix(T, (i, j) => (j <= i ? 1 : 0));
  const sink = matrix(T, (_i, j) => (j === 0 ? 1 : 0));
  const identity = matrix(T, (i, j) => (i === j ? 1 : 0));

  it('a pure previous-token pattern scores 1 on previous-token and 0 on sink', () => {
    close(previousTokenScore(previous, T), 1);
    // Exactly 0, not 1/(T−1): row 1's previous token is the first token, and the sink score skips rows 0 and 1.
    assert.equal(sinkScore(previous, T), 0);
    close(selfScore(previous, T), 1 / T);
  });

  it('the sink score counts only rows i ≥ 2 and is 1 for a pure first-token pattern', () => {
    close(sinkScore(sink, T), 1);
    // Weight on key 0 in rows 0 and 1 only (row 0: itself; row 1: its previous token) does not count.
    const early = matrix(T, (i, j) => (i <= 1 ? (j === 0 ? 1 : 0) : j === i ? 1 : 0));
    assert.equal(sinkScore(early, T), 0);
    // Half the weight on key 0 in every row i ≥ 2 gives ½; the mean is over the T − 2 rows i ≥ 2.
    const half = matrix(T, (i, j) => (j === 0 ? 1 : 0) + (j === i ? 1 : 0));
    close(sinkScore(half, T), 0.5);
    const oneRow = matrix(T, (i, j) => (i === 3 ? (j === 0 ? 1 : 0) : j === i ? 1 : 0));
    close(sinkScore(oneRow, T), 1 / (T - 2));
    assert.equal(sinkScore(sink, 2), 0, 'no row i ≥ 2');
  });

  it('uniform causal attention has normalised entropy 1 and the entropy you can write down', () => {
    close(normalisedEntropy(uniformCausal, T, true), 1);
    // Row i spreads evenly over its i + 1 visible keys: H = ln(i + 1) nats.
    for (let i = 0; i < T; i++) close(rowEntropy(uniformCausal, T, i), Math.log(i + 1));
    close(meanAttentionDistance(uniformCausal, T), [0, 0.5, 1, 1.5, 2, 2.5].reduce((a, b) => a + b) / T);
  });

  it('uniform bidirectional attention has entropy ln T in every row, normalised 1 when causal = false', () => {
    const uniform = matrix(T, () => 1);
    for (let i = 0; i < T; i++) close(rowEntropy(uniform, T, i), Math.log(T));
    close(normalisedEntropy(uniform, T, false), 1);
    // Read as causal, row i would be normalised by ln(i + 1) < ln T, so the score would exceed 1: the flag matters.
    assert.ok(normalisedEntropy(uniform, T, true) > 1.1);
    // One key per row (bidirectional, so row 0 counts too): 0; half on each of two keys: ln 2 / ln T.
    close(normalisedEntropy(identity, T, false), 0);
    const two = matrix(T, (i, j) => (j === i || j === (i + 1) % T ? 1 : 0));
    close(normalisedEntropy(two, T, false), Math.log(2) / Math.log(T));
  });

  it('a sink head has zero entropy; the identity has self 1 and distance 0', () => {
    close(normalisedEntropy(sink, T, true), 0);
    close(selfScore(identity, T), 1);
    close(meanAttentionDistance(identity, T), 0);
  });

  it('an ideal induction head on [r, r] scores 1', () => {
    const period = 3;
    const ind = matrix(T, (i, j) => (i >= period ? (j === i - period + 1 ? 1 : 0) : j === 0 ? 1 : 0));
    close(inductionScore(ind, T, period), 1);
    close(inductionScore(previous, T, period), 0);
  });

  it('duplicate-token score sums the weight on earlier copies of the same token', () => {
    const ids = [5, 7, 5, 9, 7, 1];
    const dup = matrix(T, (i, j) => (j < i && ids[j] === ids[i] ? 1 : j === i ? 1 : 0));
    // Rows 2 and 4 repeat a token; each puts 1/2 on the earlier copy.
    close(duplicateTokenScore(dup, T, ids), 0.5);
    close(duplicateTokenScore(uniformCausal, T, [1, 2, 3, 4, 5, 6]), 0);
  });
});
