import assert from 'node:assert/strict';
import { argmax, chooseToken, generateSteps, GREEDY, samplingDistribution, type GeneratedStep, type SamplingOptions } from '../../src/shared/generate';
import { mulberry32 } from '../../src/shared/head-labels';
import { planTap, scanOnnx, tapAttention } from '../../src/shared/onnx-tap';
import { tappedForward } from '../../src/shared/tapped-run';
import { loadReference, maxAbsDiff, readBundledOnnx } from '../support/model';

const ort = require('onnxruntime-node');

/** The test's own greedy continuation: the untapped model, argmax of the last logits, the whole sequence re-run each step. */
async function directGreedy(session: any, prompt: readonly number[], n: number): Promise<number[]> {
  const ids = [...prompt];
  for (let s = 0; s < n; s++) {
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    const logits = out.logits.data as Float32Array;
    const V = out.logits.dims[2];
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[(ids.length - 1) * V + v] > logits[(ids.length - 1) * V + best]) best = v;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

async function collect(gen: AsyncGenerator<GeneratedStep>): Promise<GeneratedStep[]> {
  const out: GeneratedStep[] = [];
  for await (const s of gen) out.push(s);
  return out;
}

describe('generation stepping (src/shared/generate.ts)', () => {
  it('samples from softmax(logits / temperature) over the top k, reproducibly for a seed', () => {
    const row = [1, 3, 2, 0];
    const p = samplingDistribution(row, 1, 2);
    const z = Math.exp(3) + Math.exp(2);
    assert.ok(Math.abs(p[1] - Math.exp(3) / z) < 1e-12 && Math.abs(p[2] - Math.exp(2) / z) < 1e-12);
    assert.equal(p[0], 0);
    assert.equal(p[3], 0);
    // Frequencies over many draws follow the distribution (top-k 0: all four tokens).
    const all = samplingDistribution(row, 2, 0);
    const counts = [0, 0, 0, 0];
    const rand = mulberry32(7);
    for (let i = 0; i < 20000; i++) counts[chooseToken(row, { temperature: 2, topK: 0, seed: 7 }, rand)]++;
    for (let v = 0; v < 4; v++) assert.ok(Math.abs(counts[v] / 20000 - all[v]) < 0.015, `token ${v}: ${counts[v] / 20000} vs ${all[v]}`);
    assert.equal(argmax(row), 1);
    assert.equal(chooseToken(row, GREEDY, () => 0.999), 1);
  });

  describe('on the bundled model in onnxruntime-node', function () {
    this.timeout(60_000);
    let handle: { session: any; summary: ReturnType<typeof scanOnnx>; plan: ReturnType<typeof planTap> };
    let plain: any;
    const prompt = loadReference()[0].ids.slice(0, 12);

    before(async () => {
      const bytes = readBundledOnnx();
      const summary = scanOnnx(bytes);
      const plan = planTap(summary);
      handle = { session: await ort.InferenceSession.create(tapAttention(bytes, plan), { intraOpNumThreads: 1 }), summary, plan };
      plain = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    });

    it('greedy generation of 8 tokens equals a direct greedy loop, and each step’s row is the last row of a run on its prefix', async () => {
      const steps = await collect(generateSteps(tappedForward(ort, handle), prompt, 8, GREEDY));
      const expected = await directGreedy(plain, prompt, 8);
      console.log(`      greedy continuation of ${prompt.length} tokens: ${expected.join(' ')}`);
      assert.deepEqual(steps.map((s) => s.token), expected);
      const ids = [...prompt, ...expected];
      for (const k of [0, 3, 7]) {
        const T = prompt.length + k;
        const step = steps[k];
        assert.equal(step.keys, T);
        // The test reads the prefix's Softmax outputs itself: [1, H, T, T] per layer, last row.
        const out = await handle.session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.slice(0, T).map(BigInt)), [1, T]) });
        const rows: number[] = [];
        for (const name of handle.plan.softmaxOutputs) {
          const d = out[name].data as Float32Array;
          const H = out[name].dims[1];
          for (let h = 0; h < H; h++) rows.push(...d.subarray((h * T + T - 1) * T, (h * T + T) * T));
        }
        assert.equal(step.row.length, rows.length);
        assert.ok(maxAbsDiff(step.row, rows) < 1e-6, `step ${k}: ${maxAbsDiff(step.row, rows)}`);
      }
    });

    it('sampling: the same seed gives the same tokens, other seeds differ, and temperature → 0 is greedy', async () => {
      const forward = tappedForward(ort, handle);
      const run = async (o: SamplingOptions) => (await collect(generateSteps(forward, prompt, 8, o))).map((s) => s.token);
      const a = await run({ temperature: 1.5, topK: 50, seed: 1 });
      assert.deepEqual(await run({ temperature: 1.5, topK: 50, seed: 1 }), a);
      const others = [await run({ temperature: 1.5, topK: 50, seed: 2 }), await run({ temperature: 1.5, topK: 50, seed: 3 })];
      assert.ok(others.some((o) => o.join() !== a.join()), `seeds 1–3 all gave ${a.join(' ')}`);
      const greedy = await run(GREEDY);
      assert.notDeepEqual(a, greedy);
      assert.deepEqual(await run({ temperature: 1e-4, topK: 0, seed: 9 }), greedy);
      // top-k 1 leaves only the argmax, whatever the temperature.
      assert.deepEqual(await run({ temperature: 5, topK: 1, seed: 4 }), greedy);
    });

    it('stops before the next step when asked', async () => {
      let n = 0;
      const steps = await collect(generateSteps(tappedForward(ort, handle), prompt, 8, GREEDY, { stop: () => n++ >= 3 }));
      assert.equal(steps.length, 3);
    });
  });
});
