import assert from 'node:assert/strict';
import {
  collectAttention, encodeExtraOutputs, ElemType, float16ToFloat32, isCausal, planTap, requiredInputs, scanOnnx,
  tapAttention, TapError,
} from '../../src/shared/onnx-tap';
import fs from 'node:fs';
import path from 'node:path';
import { bundledModelDir, readBundledOnnx } from '../support/model';
import { buildModel } from '../support/onnx-builder';
import { openTapped, runTapped } from '../support/run-tapped';

const ort = require('onnxruntime-node');

describe('the tap on the bundled model', function () {
  this.timeout(60000);
  const model = readBundledOnnx();

  it('finds one Softmax per layer and no attention outputs in the shipped graph', () => {
    const s = scanOnnx(model);
    assert.deepEqual(s.outputs.map((o) => o.name), ['logits'], 'the export has no extra outputs');
    assert.deepEqual(requiredInputs(s).map((i) => i.name), ['input_ids']);
    const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
    assert.equal(planTap(s).softmaxOutputs.length, config.n_layer);
    assert.deepEqual(planTap(s).layerOrder, { status: 'chain' }, 'each layer\'s attention depends on the previous one\'s');
  });

  it('adds graph outputs by appending bytes, leaving the original bytes untouched', () => {
    const plan = planTap(scanOnnx(model));
    const tapped = tapAttention(model, plan);
    assert.deepEqual(tapped.subarray(0, model.length), model);
    const rescanned = scanOnnx(tapped);
    assert.deepEqual(rescanned.outputs.map((o) => o.name), ['logits', ...plan.softmaxOutputs]);
    assert.equal(rescanned.nodes.length, scanOnnx(model).nodes.length, 'appending outputs adds no nodes');
  });

  it('leaves the logits unchanged', async () => {
    const ids = [1, 2, 3, 4, 5, 6, 7];
    const plain = await ort.InferenceSession.create(model);
    const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) };
    const base = (await plain.run(feeds)).logits.data as Float32Array;
    const { logits, attention } = await runTapped(ort, await openTapped(ort, model), ids);
    assert.deepEqual(Array.from(logits), Array.from(base));
    assert.deepEqual([attention.kind, attention.queries, attention.keys], ['self', 7, 7]);
    assert.ok(attention.causal);
  });
});

describe('the tap on hand-built graphs', () => {
  it('encodes extra outputs as a ModelProto fragment that scans back', () => {
    const frag = encodeExtraOutputs(['a', 'bé'], ElemType.FLOAT16);
    const base = buildModel([{ op: 'Softmax', inputs: ['x'], outputs: ['y'] }], ['x'], ['y']);
    const merged = new Uint8Array([...base, ...frag]);
    const s = scanOnnx(merged);
    assert.deepEqual(s.outputs.map((o) => [o.name, o.elemType]), [['y', 1], ['a', 10], ['bé', 10]]);
  });

  it('says an unfused export is needed when attention is a fused com.microsoft op it cannot recompute', () => {
    const m = buildModel([{ op: 'PackedMultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['o'] }],
      ['q', 'k', 'v'], ['o']);
    assert.throws(() => planTap(scanOnnx(m)), (e: unknown) => e instanceof TapError && e.code === 'fused-attention'
      && /com\.microsoft PackedMultiHeadAttention/.test(e.message) && /without attention fusion/.test(e.message));
  });

  it('reports a graph with no Softmax', () => {
    const m = buildModel([{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], ['x'], ['y']);
    assert.throws(() => planTap(scanOnnx(m)), (e: unknown) => e instanceof TapError && e.code === 'no-softmax');
  });

  it('rejects bytes that are not ONNX', () => {
    for (const bad of [new Uint8Array(0), new TextEncoder().encode('{"not": "onnx"} but some text here'),
      readBundledOnnx().subarray(0, 5000)]) {
      assert.throws(() => scanOnnx(bad), (e: unknown) => e instanceof TapError && e.code === 'not-onnx');
    }
  });
});

describe('checking tapped tensors', () => {
  const T = 3;
  const causal = Float32Array.from([1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  const dense = Float32Array.from([0.5, 0.5, 0, 0.2, 0.3, 0.5, 1 / 3, 1 / 3, 1 / 3]);

  it('keeps [1, H, T, T] tensors whose rows sum to 1, in the order given', () => {
    const got = collectAttention([
      { name: 'logits_softmax', dims: [1, T, 5], data: new Float32Array(15).fill(0.2) },
      { name: 'l0', dims: [1, 1, T, T], data: causal },
      { name: 'l1', dims: [1, 1, T, T], data: causal },
    ], T);
    assert.deepEqual(got.names, ['l0', 'l1']);
    assert.equal(got.layers, 2);
    assert.ok(got.causal);
  });

  it('detects a bidirectional model from non-zeros above the diagonal', () => {
    const got = collectAttention([{ name: 'l0', dims: [1, 1, T, T], data: dense }], T);
    assert.equal(got.causal, false);
    assert.equal(isCausal(causal, 1, T), true);
  });

  it('rejects tensors whose rows do not sum to 1, and says when nothing qualifies', () => {
    const bad = Float32Array.from(causal, (v) => v * 0.9);
    assert.throws(() => collectAttention([{ name: 'x', dims: [1, 1, T, T], data: bad }], T),
      (e: unknown) => e instanceof TapError && e.code === 'no-attention');
  });

  it('converts float16 bits', () => {
    assert.deepEqual(Array.from(float16ToFloat32(Uint16Array.from([0x3c00, 0x3800, 0x0000, 0xc000]))), [1, 0.5, 0, -2]);
  });
});
