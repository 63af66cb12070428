import assert from 'node:assert/strict';
import { collectAttention, planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planScoreTaps } from '../../src/shared/score-tap';
import { tapAll } from '../../src/shared/full-tap';
import { explainWeight, headQK, isMaskedScore, softmax } from '../../src/shared/weight-explain';
import { loadReference, readBundledOnnx } from '../support/model';

const close = (x: number, y: number, eps = 1e-9) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);

describe('explaining one weight: the maths', () => {
  // d_k = 4, T = 3; q_2 and the columns of Kᵀ chosen so the dot products are 8, 4 and 0.
  const q = [1, 1, 1, 1];
  const kT = [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]; // [d=4, T=3]: k_0 = (2,2,2,2), k_1 = (1,1,1,1), k_2 = 0

  it('computes q·k, ÷√d_k, the softmax over the row and the weight', () => {
    const e = explainWeight({ query: 2, key: 0, tokens: 3, causal: true, q, kT, dHead: 4, scaling: 'div' });
    assert.equal(e.source, 'qk');
    close(e.dot!, 8);
    close(e.scale!, 0.5);
    close(e.scaled!, 4);
    assert.deepEqual(e.logits, [4, 2, 0]);
    const z = Math.exp(4) + Math.exp(2) + 1;
    close(e.weight, Math.exp(4) / z);
    close(e.row[1], Math.exp(2) / z);
    close(e.max, 4);
    close(e.expSum, z / Math.exp(4));
    assert.equal(e.masked, 0);
  });

  it('masks keys after the query with −∞ in a causal model', () => {
    const e = explainWeight({ query: 1, key: 0, tokens: 3, causal: true, q, kT, dHead: 4, scaling: 'div' });
    assert.deepEqual(e.logits, [4, 2, -Infinity]);
    assert.equal(e.masked, 1);
    close(e.weight, Math.exp(4) / (Math.exp(4) + Math.exp(2)));
    assert.equal(e.row[2], 0);
  });

  it('shows a bias the graph adds after the product, and uses the tapped scores alone when there is no Q/K', () => {
    const scores = [4.5, 2, -3.4e38];
    const e = explainWeight({ query: 1, key: 0, tokens: 3, causal: true, q, kT, dHead: 4, scaling: 'div', scores });
    close(e.bias, 0.5);
    assert.deepEqual(e.logits, [4.5, 2, -Infinity]);
    const s = explainWeight({ query: 1, key: 0, tokens: 3, causal: true, scores });
    assert.equal(s.source, 'scores');
    assert.equal(s.dot, undefined);
    close(s.weight, e.weight);
    assert.ok(isMaskedScore(-3.4e38) && isMaskedScore(-Infinity) && !isMaskedScore(-50));
    assert.throws(() => explainWeight({ query: 0, key: 0, tokens: 1, causal: true }), /Nothing to explain/);
  });

  it('has a softmax that ignores −∞ and sums to 1', () => {
    const s = softmax([1000, 1000, -Infinity]);
    assert.deepEqual(s.probs, [0.5, 0.5, 0]);
  });
});

describe('explaining one weight on the shipped model (onnxruntime-node)', function () {
  this.timeout(60000);
  const ort = require('onnxruntime-node');

  it('finds Q, Kᵀ and the scaled scores of every layer, and recomputes every shown weight from q and k to 1e-5', async () => {
    const model = readBundledOnnx();
    const summary = scanOnnx(model);
    const plan = planTap(summary);
    const sources = planScoreTaps(summary, plan.softmaxOutputs);
    assert.equal(sources.length, plan.softmaxOutputs.length);
    for (const s of sources) assert.ok(s.q && s.kT && s.scaling === 'div', JSON.stringify(s));
    const tapped = tapAll(model).tapped; // as the worker taps it: Softmax and score taps in one append
    const session = await ort.InferenceSession.create(tapped, { intraOpNumThreads: 1 });
    const ref = loadReference().reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    const T = ref.ids.length;
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ref.ids.map(BigInt)), [1, T]) });
    const att = collectAttention(plan.softmaxOutputs.map((n) => ({ name: n, dims: out[n].dims, data: out[n].data })), T);
    let worst = 0;
    let checked = 0;
    for (let l = 0; l < att.layers; l++) {
      const s = sources[l];
      const Q = { dims: out[s.q!].dims as number[], data: out[s.q!].data as Float32Array };
      const K = { dims: out[s.kT!].dims as number[], data: out[s.kT!].data as Float32Array };
      const scores = out[s.logits].data as Float32Array;
      for (let h = 0; h < att.heads; h++) {
        for (const i of [0, 5, T - 1]) {
          const qk = headQK(Q, K, att.heads, T, h, i)!;
          assert.ok(qk, 'Q and Kᵀ have the [1, H, T, d] / [1, H, d, T] shapes');
          for (let j = 0; j <= i; j++) {
            const e = explainWeight({
              query: i, key: j, tokens: T, causal: true, q: qk.q, kT: qk.kT, dHead: qk.d, scaling: s.scaling,
              scores: scores.subarray((h * T + i) * T, (h * T + i + 1) * T),
            });
            const shown = att.data[((l * att.heads + h) * T + i) * T + j];
            worst = Math.max(worst, Math.abs(e.weight - shown));
            assert.equal(e.bias, 0, 'plain scaled dot-product attention adds nothing');
            checked++;
          }
        }
      }
    }
    console.log(`      ${checked} weights recomputed from q·k/√d_k + mask + softmax: max |Δ| = ${worst.toExponential(2)} (d_k = 32)`);
    assert.ok(worst <= 1e-5, `max |Δ| ${worst}`);
  });
});

describe('score taps on Hugging Face-shaped test models', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const { repoRoot } = require('../support/model') as typeof import('../support/model');
  const plan = (rel: string) => {
    const s = scanOnnx(new Uint8Array(fs.readFileSync(path.join(repoRoot, 'test', 'models', rel))));
    return planScoreTaps(s, planTap(s).softmaxOutputs);
  };

  it('finds Q·Kᵀ ÷ √d through GPT-2’s Where/Add mask, and T5’s unscaled product plus position bias', () => {
    const gpt2 = plan('tiny-gpt2/onnx/model.onnx');
    assert.ok(gpt2.length > 0 && gpt2.every((s) => s.q && s.kT && s.scaling === 'div'), JSON.stringify(gpt2));
    const t5 = plan('tiny-t5/onnx/encoder_model.onnx');
    assert.ok(t5.length > 0 && t5.every((s) => s.q && s.kT && s.scaling === 'none'), JSON.stringify(t5));
  });
});

describe('explaining one weight through baddbmm (BLOOM- and GPT-NeoX-shaped scores, test/models/tiny-bloom)', function () {
  this.timeout(60000);
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const { repoRoot } = require('../support/model') as typeof import('../support/model');
  const model = new Uint8Array(fs.readFileSync(path.join(repoRoot, 'test', 'models', 'tiny-bloom', 'onnx', 'model.onnx')));

  it('finds Q and Kᵀ through Reshape, Add(ALiBi) and Mul(α), and V through Cast and Reshape; every weight is recomputed to 1e-5', async () => {
    const ort = require('onnxruntime-node');
    const summary = scanOnnx(model);
    const plan = planTap(summary);
    const sources = planScoreTaps(summary, plan.softmaxOutputs);
    assert.equal(sources.length, 2);
    for (const s of sources) assert.ok(s.q && s.kT && s.v && s.scaling === 'mul' && !s.qkMissing && !s.vMissing, JSON.stringify(s));
    const session = await ort.InferenceSession.create(tapAll(model).tapped, { intraOpNumThreads: 1 });
    const T = 11;
    const ids = Array.from({ length: T }, (_, i) => (i * 5 + 2) % 32);
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
    });
    const att = collectAttention(plan.softmaxOutputs.map((n) => ({ name: n, dims: out[n].dims, data: out[n].data })), T);
    let worst = 0;
    let biased = 0;
    for (let l = 0; l < att.layers; l++) {
      const s = sources[l];
      assert.deepEqual(out[s.q!].dims.map(Number), [4, T, 16], 'Q as baddbmm\'s batch [heads, T, d]');
      assert.deepEqual(out[s.v!].dims.map(Number), [4, T, 16], 'V after the probabilities are reshaped back');
      const Q = { dims: out[s.q!].dims as number[], data: out[s.q!].data as Float32Array };
      const K = { dims: out[s.kT!].dims as number[], data: out[s.kT!].data as Float32Array };
      const scores = out[s.logits].data as Float32Array;
      for (let h = 0; h < att.heads; h++) {
        for (let i = 0; i < T; i++) {
          const qk = headQK(Q, K, att.heads, T, h, i);
          assert.ok(qk);
          for (let j = 0; j <= i; j++) {
            const e = explainWeight({ query: i, key: j, tokens: T, causal: true, q: qk.q, kT: qk.kT, dHead: qk.d, scaling: s.scaling,
              scores: scores.subarray((h * T + i) * T, (h * T + i + 1) * T) });
            worst = Math.max(worst, Math.abs(e.weight - att.data[((l * att.heads + h) * T + i) * T + j]));
            if (e.bias !== 0) biased++;
          }
        }
      }
    }
    assert.ok(worst <= 1e-5, `max |Δ| ${worst}`);
    assert.ok(biased > 0, 'ALiBi shows as a bias on top of q·k/√d');
  });

  it('says at what node the walk stopped when Q, K or V cannot be followed', () => {
    const summary = scanOnnx(model);
    const plan = planTap(summary);
    // The same graph seen with its score MatMuls and probability Reshapes replaced by ops the walk does not pass.
    const nodes = summary.nodes.map((n) => (n.opType === 'MatMul' && n.inputs[1]?.startsWith('transpose') ? { ...n, opType: 'Einsum', name: 'scores' }
      : n.opType === 'Reshape' && n.inputs[0]?.startsWith('cast') ? { ...n, opType: 'Squeeze', name: 'probs' } : n));
    const [s] = planScoreTaps({ ...summary, nodes }, plan.softmaxOutputs);
    assert.equal(s.q, undefined);
    assert.match(s.qkMissing ?? '', /^the walk back from the Softmax ends at .*Einsum "scores".*, not at a MatMul of Q and Kᵀ$/);
    assert.equal(s.v, undefined);
    assert.equal(s.vMissing, 'the probabilities go to Squeeze "probs", not to a MatMul with V');
  });
});
