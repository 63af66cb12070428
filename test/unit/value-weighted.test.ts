import assert from 'node:assert/strict';
import { selfAttention } from '../../src/shared/attention';
import { collectAttention, planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planScoreTaps } from '../../src/shared/score-tap';
import { tapAll } from '../../src/shared/full-tap';
import { valueNorms, valueWeightedStack } from '../../src/shared/value-weighted';
import { loadReference, readBundledOnnx } from '../support/model';

const close = (x: number, y: number, eps = 1e-6) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);

describe('attention scaled by value norms α_ij·‖v_j‖', () => {
  it('computes ‖v_j‖ per head and token, and reweights each row by them, renormalised', () => {
    // H = 1, T = 2, d = 2: v_0 = (3, 4) → 5, v_1 = (0, 1) → 1.
    const norms = valueNorms([3, 4, 0, 1], 1, 2, 2);
    assert.deepEqual(Array.from(norms), [5, 1]);
    const stack = selfAttention(1, 1, 2, new Float32Array([1, 0, 0.5, 0.5]), true);
    const w = valueWeightedStack(stack, norms).data;
    close(w[0], 1);
    close(w[2], (0.5 * 5) / (0.5 * 5 + 0.5 * 1));
    close(w[3], (0.5 * 1) / 3);
    // A zero-norm row keeps α.
    assert.deepEqual(Array.from(valueWeightedStack(stack, new Float32Array([0, 0])).data), [1, 0, 0.5, 0.5]);
    assert.throws(() => valueWeightedStack(selfAttention(2, 1, 2, new Float32Array(8)), norms), /expected 4/);
  });

  it('finds V of every layer of the shipped model; equal norms would leave α unchanged', async () => {
    const ort = require('onnxruntime-node');
    const model = readBundledOnnx();
    const summary = scanOnnx(model);
    const plan = planTap(summary);
    const sources = planScoreTaps(summary, plan.softmaxOutputs);
    assert.ok(sources.every((s) => s.v), JSON.stringify(sources));
    const session = await ort.InferenceSession.create(tapAll(model).tapped, { intraOpNumThreads: 1 });
    const ref = loadReference()[0];
    const T = ref.ids.length;
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ref.ids.map(BigInt)), [1, T]) });
    const att = collectAttention(plan.softmaxOutputs.map((n) => ({ name: n, dims: out[n].dims, data: out[n].data })), T);
    const v = out[sources[0].v!];
    assert.deepEqual(v.dims.map(Number), [1, att.heads, T, 32]);
    const norms = valueNorms(v.data, att.heads, T, 32);
    assert.ok(norms.every((x: number) => x > 0));
    const same = valueWeightedStack(selfAttention(1, att.heads, T, att.data.subarray(0, att.heads * T * T)), new Float32Array(att.heads * T).fill(2)).data;
    for (let k = 0; k < same.length; k++) close(same[k], att.data[k], 1e-6);
  });
});
