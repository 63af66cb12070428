import assert from 'node:assert/strict';
import { attentionRow, headMatrix, isValidHead, parseHeadRef } from '../../src/host/attention-math';
import { headLabel } from '../../src/shared/protocol';
import { aggregateMatrix, attentionRollout, matmul, maxHeads, meanHeads } from '../../src/shared/aggregate';

const close = (x: number, y: number, eps = 1e-6) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);
const closeAll = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let k = 0; k < a.length; k++) close(a[k], b[k], eps);
};
const eye = (t: number) => Float32Array.from({ length: t * t }, (_, k) => (Math.floor(k / t) === k % t ? 1 : 0));

describe('aggregation over heads and attention rollout', () => {
  // Two heads of one layer, T = 2: a previous-token head and a self head.
  const prev = [1, 0, 1, 0];
  const self = [1, 0, 0, 1];

  it('takes the mean and the element-wise max over a layer’s heads', () => {
    const data = new Float32Array([...prev, ...self]);
    closeAll(meanHeads(data, 2, 2, 0), [1, 0, 0.5, 0.5]);
    closeAll(maxHeads(data, 2, 2, 0), [1, 0, 1, 1]);
    closeAll(aggregateMatrix(data, 2, 2, 0, 'max'), [1, 0, 1, 1]);
  });

  it('rolls out identity layers to the identity', () => {
    const T = 5;
    const data = new Float32Array([...eye(T), ...eye(T), ...eye(T), ...eye(T), ...eye(T), ...eye(T)]); // L=3, H=2
    for (let l = 0; l < 3; l++) closeAll(attentionRollout(data, 2, T, l), eye(T));
  });

  it('rolls out one layer to ½W + ½I, and two layers to the product, on hand-computed numbers', () => {
    // One head per layer, T = 2, W = previous-token pattern [[1,0],[1,0]].
    const data = new Float32Array([...prev, ...prev]);
    // Â = ½W + ½I = [[1, 0], [0.5, 0.5]] (rows already sum to 1).
    closeAll(attentionRollout(data, 1, 2, 0), [1, 0, 0.5, 0.5]);
    // Â·Â = [[1, 0], [0.5 + 0.25, 0.25]] = [[1, 0], [0.75, 0.25]].
    closeAll(attentionRollout(data, 1, 2, 1), [1, 0, 0.75, 0.25]);
    closeAll(aggregateMatrix(data, 1, 2, 1, 'rollout'), [1, 0, 0.75, 0.25]);
  });

  it('keeps rows stochastic and causal structure on random causal layers, and multiplies later layers on the left', () => {
    const T = 6;
    const L = 3;
    const H = 2;
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const data = new Float32Array(L * H * T * T);
    for (let m = 0; m < L * H; m++) {
      for (let i = 0; i < T; i++) {
        let s = 0;
        for (let j = 0; j <= i; j++) s += (data[(m * T + i) * T + j] = rand());
        for (let j = 0; j <= i; j++) data[(m * T + i) * T + j] /= s;
      }
    }
    const r = attentionRollout(data, H, T, L - 1);
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) {
        s += r[i * T + j];
        if (j > i) assert.equal(r[i * T + j], 0);
      }
      close(s, 1);
    }
    // R_2 = Â_2 · R_1.
    const hat = (l: number) => {
      const w = meanHeads(data, H, T, l);
      return w.map((v, k) => 0.5 * v + (Math.floor(k / T) === k % T ? 0.5 : 0));
    };
    closeAll(r, matmul(hat(2), attentionRollout(data, H, T, 1), T), 1e-6);
  });

  it('is what the host draws for head refs max and rollout, and labels them', () => {
    const data = new Float32Array([...prev, ...self, ...prev, ...prev]); // L=2, H=2, T=2
    const att = { layers: 2, heads: 2, tokens: 2, data };
    closeAll(headMatrix(att, { stack: 'self', layer: 0, head: 'max' }), [1, 0, 1, 1]);
    closeAll(headMatrix(att, { stack: 'self', layer: 1, head: 'rollout' }), attentionRollout(data, 2, 2, 1));
    closeAll(attentionRow(att, { stack: 'self', layer: 1, head: 'rollout' }, 1), attentionRollout(data, 2, 2, 1).slice(2));
    assert.ok(isValidHead({ stack: 'self', layer: 1, head: 'rollout' }, 2, 2));
    assert.deepEqual(parseHeadRef({ layer: 1, head: 'max' }), { stack: 'self', layer: 1, head: 'max' });
    assert.equal(parseHeadRef({ layer: 1, head: 'median' }), undefined);
    assert.equal(headLabel({ stack: 'self', layer: 1, head: 'max' }), 'L1 max');
    assert.equal(headLabel({ stack: 'self', layer: 2, head: 'rollout' }), 'rollout L0–L2');
  });
});
