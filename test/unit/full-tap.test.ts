import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { planFullTap, tapAll } from '../../src/shared/full-tap';
import { scanOnnx, tapSuffix } from '../../src/shared/onnx-tap';
import { scoreTapNames } from '../../src/shared/score-tap';
import { readBundledOnnx } from '../support/model';
import { readTestOnnx, testModelsDir } from '../support/test-models';

// What the inference worker does with the bytes it is sent (webview/worker/session.ts prepareModel → tapAll).
describe('the worker’s full tap: Softmax and score taps in one allocation', () => {
  const models: [string, Uint8Array][] = [
    ['lens-gpt', readBundledOnnx()],
    ['tiny-gpt2 fp16', readTestOnnx('tiny-gpt2', 'model_fp16.onnx').bytes],
    ['tiny-bert', readTestOnnx('tiny-bert').bytes],
    ['tiny-t5 decoder', readTestOnnx('tiny-t5', 'decoder_model.onnx').bytes],
  ];

  for (const [name, raw] of models) {
    it(`${name}: an untapped model is copied once, with one suffix, into a new buffer it alone holds`, () => {
      const before = raw.slice();
      const full = planFullTap(scanOnnx(raw));
      const t = tapAll(raw);
      assert.notEqual(t.tapped.buffer, raw.buffer);
      assert.deepEqual([t.tapped.byteOffset, t.tapped.byteLength], [0, t.tapped.buffer.byteLength], 'a buffer of its own, exactly its size');
      assert.equal(t.tapped.length, raw.length + full.suffix.length);
      assert.equal(t.added, full.suffix.length);
      assert.deepEqual(t.tapped.subarray(0, raw.length), before, 'the model bytes, unchanged');
      assert.deepEqual(t.tapped.subarray(raw.length), full.suffix);
      assert.deepEqual(raw, before, 'the bytes received are not modified');
      // One suffix for both taps: the Softmax outputs and the score sources, each once, unless already an output.
      const outputs = new Set(scanOnnx(raw).outputs.map((o) => o.name));
      const wanted = [...new Set([...t.plan.softmaxOutputs, ...scoreTapNames(t.sources)])];
      assert.deepEqual(full.toAppend, wanted.filter((n) => !outputs.has(n)));
      assert.ok(t.sources.length > 0, 'score taps found');
      assert.ok(full.suffix.length > tapSuffix(t.plan).length);
      // The summary handed back is the tapped model's, without scanning it again.
      assert.deepEqual(t.summary, scanOnnx(t.tapped));
    });

    it(`${name}: a tapped model needs nothing: the same buffer comes back`, () => {
      const once = tapAll(raw);
      const twice = tapAll(once.tapped);
      assert.equal(twice.tapped, once.tapped);
      assert.equal(twice.added, 0);
      assert.deepEqual(twice.sources, once.sources);
      assert.deepEqual(planFullTap(twice.summary).toAppend, []);
    });
  }

  it('lens-gpt: finds scores, Q, Kᵀ and V for every layer', () => {
    const t = tapAll(readBundledOnnx());
    assert.equal(t.sources.length, t.plan.softmaxOutputs.length);
    assert.ok(t.sources.every((s) => s.logits && s.q && s.kT && s.v && s.scaling === 'div'), JSON.stringify(t.sources));
  });

  it('a merged decoder is rewritten once (no score taps inside If branches), then used as is', () => {
    const raw = new Uint8Array(fs.readFileSync(path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'decoder_model_merged.onnx')));
    const t = tapAll(raw);
    assert.ok(t.added > 0 && t.added < 1024, `the rewrite adds ${t.added} bytes`);
    assert.deepEqual(t.plan.softmaxOutputs, ['attention_lens.tap/0/self/0', 'attention_lens.tap/0/self/1']);
    assert.deepEqual(t.sources, []);
    const again = tapAll(t.tapped);
    assert.equal(again.tapped, t.tapped);
    assert.equal(again.added, 0);
  });
});
