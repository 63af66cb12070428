import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import {
  axesOf, formatWeight, headMatrix, headRow, headView, layerMax, layerMean, matmul, rollout, selectTargets, selfAttention,
  topK, type Attention,
} from '../../src/shared/attention';
import { isValidHead, parseHeadRef } from '../../src/host/attention-math';
import { AttentionStore } from '../../src/shared/attention-query';
import { headLabel, type WorkerToPanel } from '../../src/shared/protocol';

const close = (x: number, y: number, eps = 1e-6) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);
const closeAll = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let k = 0; k < a.length; k++) close(a[k], b[k], eps);
};
const eye = (t: number) => Float32Array.from({ length: t * t }, (_, k) => (Math.floor(k / t) === k % t ? 1 : 0));

/** Receives one message on a fresh channel, transferring the listed buffers. */
function roundTrip<T>(msg: T, transfer: ArrayBuffer[]): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port2.once('message', (m) => { port1.close(); port2.close(); resolve(m as T); });
    port1.postMessage(msg, transfer);
  });
}

describe('attention: the one stack type and its views', () => {
  // 2 layers, 2 heads, 2 tokens; value = 1000*l + 100*h + 10*i + j
  const coded = new Float32Array(16);
  for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
    coded[((l * 2 + h) * 2 + i) * 2 + j] = 1000 * l + 100 * h + 10 * i + j;
  }
  const att = selfAttention(2, 2, 2, coded);

  it('reads one head as a view into the stack, and rows of it', () => {
    assert.deepEqual(Array.from(headView(att, 1, 0)), [1000, 1001, 1010, 1011]);
    assert.equal(headView(att, 1, 1).buffer, coded.buffer, 'a view, not a copy');
    assert.deepEqual(Array.from(headRow(att, 0, 1, 1)), [110, 111]);
    assert.deepEqual(Array.from(headMatrix(att, 1, 1)), [1100, 1101, 1110, 1111]);
  });

  it('takes the mean and the element-wise max over a layer’s heads, as matrices and as rows', () => {
    assert.deepEqual(Array.from(layerMean(att, 1)), [1050, 1051, 1060, 1061]);
    assert.deepEqual(Array.from(layerMax(att, 1)), [1100, 1101, 1110, 1111]);
    assert.deepEqual(Array.from(headRow(att, 1, 'mean', 1)), [1060, 1061]);
    assert.deepEqual(Array.from(headRow(att, 0, 'max', 0)), [100, 101]);
    // A previous-token and a self head, T = 2.
    const two = selfAttention(1, 2, 2, new Float32Array([1, 0, 1, 0, 1, 0, 0, 1]), true);
    closeAll(headMatrix(two, 0, 'mean'), [1, 0, 0.5, 0.5]);
    closeAll(headMatrix(two, 0, 'max'), [1, 0, 1, 1]);
  });

  it('rolls out identity layers to the identity', () => {
    const T = 5;
    const id = selfAttention(3, 2, T, new Float32Array([...eye(T), ...eye(T), ...eye(T), ...eye(T), ...eye(T), ...eye(T)]));
    for (let l = 0; l < 3; l++) closeAll(rollout(id, l), eye(T));
  });

  it('rolls out one layer to ½W + ½I, and two layers to the product, on hand-computed numbers', () => {
    const prev = [1, 0, 1, 0];
    const a = selfAttention(2, 1, 2, new Float32Array([...prev, ...prev]), true);
    closeAll(rollout(a, 0), [1, 0, 0.5, 0.5]); // Â = ½W + ½I = [[1, 0], [0.5, 0.5]]
    closeAll(rollout(a, 1), [1, 0, 0.75, 0.25]); // Â·Â
    closeAll(headMatrix(a, 1, 'rollout'), [1, 0, 0.75, 0.25]);
    closeAll(headRow(a, 1, 'rollout', 1), [0.75, 0.25]);
  });

  it('keeps rollout rows stochastic and causal on random causal layers, later layers multiplied on the left', () => {
    const T = 6, L = 3, H = 2;
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
    const a = selfAttention(L, H, T, data, true);
    const r = rollout(a, L - 1);
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) {
        s += r[i * T + j];
        if (j > i) assert.equal(r[i * T + j], 0);
      }
      close(s, 1);
    }
    // R_2 = Â_2 · R_1, with Â_2 written out here from the heads (not from layerMean).
    const hat = new Float64Array(T * T);
    for (let k = 0; k < T * T; k++) hat[k] = 0.5 * (data[(2 * H) * T * T + k] + data[(2 * H + 1) * T * T + k]) / 2 + (Math.floor(k / T) === k % T ? 0.5 : 0);
    closeAll(r, matmul(hat, rollout(a, 1), T), 1e-6);
  });

  it('has no rollout for cross-attention (queries ≠ keys), and gives cross rows of the key length', () => {
    const cross: Attention = { kind: 'cross', layers: 1, heads: 1, queries: 2, keys: 3, causal: false, data: new Float32Array([0.5, 0.25, 0.25, 0, 0, 1]) };
    assert.throws(() => rollout(cross, 0), /queries = keys/);
    assert.deepEqual(Array.from(headRow(cross, 0, 0, 1)), [0, 0, 1]);
    assert.deepEqual(axesOf('cross'), { queryAxis: 'decoder', keyAxis: 'input' });
    assert.deepEqual(axesOf('decoder'), { queryAxis: 'decoder', keyAxis: 'decoder' });
    assert.deepEqual(axesOf('encoder'), { queryAxis: 'input', keyAxis: 'input' });
  });

  it('serves a pinned head\'s matrix, aggregates included, at full size for the compare view', () => {
    const store = new AttentionStore([att]);
    const full = (head: 0 | 'mean') => store.answer({ kind: 'matrix', head: { stack: 'self', layer: head === 0 ? 1 : 0, head } }).answer;
    const a = full(0);
    const b = full('mean');
    assert.ok(a.kind === 'matrix' && b.kind === 'matrix' && !a.pooled && !b.pooled);
    assert.deepEqual([...Array.from(new Float32Array(a.data)), ...Array.from(new Float32Array(b.data))], [1000, 1001, 1010, 1011, 50, 51, 60, 61]);
    assert.ok(isValidHead({ stack: 'self', layer: 1, head: 'rollout' }, 2, 2));
    assert.deepEqual(parseHeadRef({ layer: 1, head: 'max' }), { stack: 'self', layer: 1, head: 'max' });
    assert.equal(parseHeadRef({ layer: 1, head: 'median' }), undefined);
    assert.equal(headLabel({ stack: 'self', layer: 1, head: 'max' }), 'L1 max');
    assert.equal(headLabel({ stack: 'self', layer: 2, head: 'rollout' }), 'rollout L0–L2');
  });

  it('ranks the top-k positive weights, ties by position, and selects targets topped up to the minimum count', () => {
    assert.deepEqual(topK([0.1, 0.5, 0, 0.5, 0.2], 3), [1, 3, 4]);
    assert.deepEqual(topK([0, 0], 5), []);
    assert.deepEqual(topK([0.2, 0.3], 0), []);
    assert.deepEqual(selectTargets([0.5, 0.005, 0.3, 0.195], 0.01, 3), [0, 2, 3]);
    assert.deepEqual(selectTargets([0.98, 0.005, 0.006, 0.009], 0.01, 3), [0, 2, 3]);
    assert.deepEqual(selectTargets([1, 0, 0, 0], 0.01, 3), [0], 'zero weights are never targets');
    assert.deepEqual(selectTargets([0.2, 0.2, 0.2, 0.2, 0.2], 0.01, 3), [0, 1, 2, 3, 4]);
  });

  it('formats a weight the same way everywhere: four decimals', () => {
    assert.equal(formatWeight(0.123456), '0.1235');
    assert.equal(formatWeight(1), '1.0000');
    assert.equal(formatWeight(0.00004), '0.0000');
  });
});

describe('attention in transit', () => {
  it('a served head travels as a transferred ArrayBuffer, not a JSON array, and arrives with its shape', async () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => i / 100);
    const { answer, transfer } = new AttentionStore([selfAttention(2, 3, 4, data)]).answer({ kind: 'matrix', head: { stack: 'self', layer: 1, head: 2 } });
    const msg: WorkerToPanel = { type: 'answer', id: 1, runId: 7, answer };
    const got = await roundTrip(msg, transfer);
    assert.ok(answer.kind === 'matrix' && answer.data.byteLength === 0, 'the sender\'s buffer was transferred (detached), not copied');
    assert.ok(got.type === 'answer' && got.answer?.kind === 'matrix');
    assert.deepEqual([got.answer.rows, got.answer.cols, got.answer.pooled, got.answer.causal], [4, 4, false, false]);
    assert.deepEqual(Array.from(new Float32Array(got.answer.data)), Array.from(data.subarray(5 * 16, 6 * 16)));
  });

  it('refuses a stack whose size does not match its shape', () => {
    assert.throws(() => selfAttention(1, 1, 4, new Float32Array(10)), /expected 1×1×4²/);
  });
});
