import assert from 'node:assert/strict';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { requiredInputs, scanOnnx } from '../../src/shared/onnx-tap';
import { toFloat32 } from '../../src/shared/tapped-run';
import { generateSteps, GREEDY, type GeneratedStep } from '../../src/shared/generate';
import { cachePairs, cachedForward, type StepRowSource } from '../../src/shared/kv-forward';
import { identificationFetches, identifyPaths } from '../../src/shared/attention-paths';
import { maxAbsDiff, readBundledOnnx } from '../support/model';
import fs from 'node:fs';
import path from 'node:path';
import { readTestOnnx, testModelsDir } from '../support/test-models';

// Generation on the model's own key/value cache (issue 13: "using past key/values where the model has them"), on
// tiny-gpt2 as optimum exports GPT-2 (past_key_values.N.* inputs, present.N.* outputs). The oracle is the untapped
// model in onnxruntime-node re-run on the whole sequence each step, with an empty past: its greedy continuation, and
// the last row of each prefix's own Softmax outputs.

const ort = require('onnxruntime-node');

/** A session over `bytes`, run with the worker's feeds (empty past) on ids, fetching `names`. */
async function session(bytes: Uint8Array) {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const summary = scanOnnx(bytes);
  const run = async (ids: readonly number[], names?: readonly string[]) => {
    const feeds: Record<string, unknown> = {};
    for (const f of buildFeeds(requiredInputs(summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    return s.run(feeds, names);
  };
  return { s, run };
}

async function collect(gen: AsyncGenerator<GeneratedStep>): Promise<GeneratedStep[]> {
  const out: GeneratedStep[] = [];
  for await (const s of gen) out.push(s);
  return out;
}

describe('generation on the key/value cache (src/shared/kv-forward.ts)', function () {
  this.timeout(60_000);
  const model = readTestOnnx('tiny-gpt2');
  const t = tapAll(model.bytes);
  const self = t.plan.softmaxOutputs.filter((_, i) => (t.plan.kinds?.[i] ?? 'self') === 'self');
  const prompt = [5, 17, 301, 44, 9, 1022, 87, 5, 17, 301];

  it('finds a past/present pair per layer in an optimum export, and none in the bundled model (input_ids only)', () => {
    const pairs = cachePairs(t.summary);
    assert.equal(pairs?.length, 2);
    assert.deepEqual(pairs?.[1], { pastKey: 'past_key_values.1.key', pastValue: 'past_key_values.1.value', presentKey: 'present.1.key', presentValue: 'present.1.value' });
    assert.equal(cachePairs(scanOnnx(readBundledOnnx())), undefined);
  });

  for (const kind of ['softmax', 'paged'] as const) {
    it(`greedy steps on the cache (rows ${kind === 'softmax' ? 'from the Softmax taps' : 'recomputed from q and Kᵀ'}) equal the re-run greedy loop, row by row`, async () => {
      const tapped = await session(t.tapped);
      let rows: StepRowSource = { kind: 'softmax', names: self };
      if (kind === 'paged') {
        const ids = prompt.slice(0, 8);
        const out = await tapped.run(ids, identificationFetches(self, t.sources));
        const paths = identifyPaths(self, t.sources, (n) => (out[n] ? { dims: out[n].dims.map(Number), data: toFloat32(out[n]) } : undefined), ids.length);
        assert.ok(paths.layers.every((p) => p.path === 'qk'), 'every GPT-2 layer is recomputed');
        rows = { kind: 'paged', layers: paths.layers.map((p) => {
          const src = t.sources.find((s) => s.softmax === p.name)!;
          return p.path === 'qk' ? { q: src.q!, kT: src.kT!, form: p.form } : { softmax: p.name };
        }) };
      }
      const cached = cachedForward(ort, tapped.s, t.summary, cachePairs(t.summary)!, rows, 'logits', toFloat32);
      const steps = await collect(generateSteps(cached.forward, prompt, 8, GREEDY));
      cached.dispose();
      assert.equal(cached.cachedSteps(), 7, 'the first step runs the prompt, the other seven one token each');

      // The oracle: the untapped model, whole sequence, empty past.
      const plain = await session(model.bytes);
      const ids = [...prompt];
      for (let k = 0; k < 8; k++) {
        const out = await plain.run(ids, ['logits']);
        const V = out.logits.dims[2];
        const last = (out.logits.data as Float32Array).subarray((ids.length - 1) * V, ids.length * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
        assert.equal(steps[k].token, best, `step ${k}`);
        ids.push(best);
      }
      for (const [k, step] of steps.entries()) {
        const T = prompt.length + k;
        assert.equal(step.keys, T);
        const out = await tapped.run(ids.slice(0, T), self);
        const expected: number[] = [];
        for (const n of self) {
          const d = out[n].data as Float32Array;
          for (let h = 0; h < out[n].dims[1]; h++) expected.push(...d.subarray((h * T + T - 1) * T, (h * T + T) * T));
        }
        assert.equal(step.row.length, expected.length);
        assert.ok(maxAbsDiff(step.row, expected) < 1e-5, `step ${k}: ${maxAbsDiff(step.row, expected)}`);
      }
    });
  }

  it('a merged decoder (If on use_cache_branch) steps on its cache too: its tapped If outputs carry the with-past branch\'s rows', async () => {
    const mt = tapAll(new Uint8Array(fs.readFileSync(path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'decoder_model_merged.onnx'))));
    const names = mt.plan.softmaxOutputs.filter((_, i) => (mt.plan.kinds?.[i] ?? 'self') === 'self');
    const pairs = cachePairs(mt.summary);
    assert.equal(pairs?.length, 2);
    const tapped = await session(mt.tapped);
    const cached = cachedForward(ort, tapped.s, mt.summary, pairs ?? [], { kind: 'softmax', names }, 'logits', toFloat32);
    const steps = await collect(generateSteps(cached.forward, prompt, 6, GREEDY));
    cached.dispose();
    assert.equal(cached.cachedSteps(), 5);
    const ids = [...prompt];
    for (const [k, step] of steps.entries()) {
      // The oracle: the same merged model on the whole prefix, its no-past branch (use_cache_branch false, empty past).
      const T = ids.length;
      const out = await tapped.run(ids, ['logits', ...names]);
      const V = out.logits.dims[2];
      const last = (out.logits.data as Float32Array).subarray((T - 1) * V, T * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
      assert.equal(step.token, best, `step ${k}`);
      const expected: number[] = [];
      for (const n of names) {
        const d = out[n].data as Float32Array;
        for (let h = 0; h < out[n].dims[1]; h++) expected.push(...d.subarray((h * T + T - 1) * T, (h * T + T) * T));
      }
      assert.ok(maxAbsDiff(step.row, expected) < 1e-5, `step ${k}: ${maxAbsDiff(step.row, expected)}`);
      ids.push(best);
    }
  });

  it('a call that does not extend the last by one token runs the whole sequence again', async () => {
    const tapped = await session(t.tapped);
    const cached = cachedForward(ort, tapped.s, t.summary, cachePairs(t.summary)!, { kind: 'softmax', names: self }, 'logits', toFloat32);
    await cached.forward(prompt);
    const again = await cached.forward(prompt.slice(0, 4));
    assert.equal(cached.cachedSteps(), 0);
    assert.equal(again.rows!.data.length, 2 * 4 * 4);
    cached.dispose();
  });
});
