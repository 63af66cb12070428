import assert from 'node:assert/strict';
import { tapAll } from '../../src/shared/full-tap';
import { headRow, headView } from '../../src/shared/attention';
import { fusedTapNames } from '../../src/shared/fused-plan';
import { identifyFusedPaths, pagedFused } from '../../src/shared/fused-paged';
import { fetchedLookup, runTappedModel } from '../../src/shared/tapped-run';
import { buildFeeds } from '../../src/shared/feeds';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { readTestOnnx } from '../support/test-models';

// Fused attention paged (issue 16): each fused node's layer identified on a short run, then a longer run keeps only
// Q and Kᵀ; every row of every head must equal the unfused twin's Softmax output (same weights, exported without the
// fused operator) on the same ids, within 1e-5. onnxruntime-node runs both.

const ort = require('onnxruntime-node');

/** Token ids below the models' vocabulary of 32, with repeats. */
const idsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + 5 + ((i * i) % 5)) % 32);

/** Runs the fused model (tapped as the worker taps it) on `ids`, returning a lookup of its fetched taps. */
async function fusedRun(name: string, ids: readonly number[]) {
  const m = readTestOnnx('tiny-fused', `${name}.onnx`);
  const t = tapAll(m.bytes);
  const session = await ort.InferenceSession.create(t.tapped, { intraOpNumThreads: 1 });
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(t.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  const sources = t.plan.fused!;
  return { sources, get: fetchedLookup(await session.run(feeds, fusedTapNames(sources))) };
}

describe('fused attention paged from Q and K equals the unfused twin\'s Softmax (onnxruntime-node)', function () {
  this.timeout(120000);
  for (const [name, pageable] of [['ms-attention', true], ['ms-mha', true], ['ms-gqa', true], ['ms-gqa-packed', false], ['onnx-attention', false],
    ['ms-gqa-window', true]] as const) {
    it(`${name}: ${pageable ? 'every layer paged' : 'softcapped, so recomputed whole'}; rows match the twin's Softmax`, async () => {
      const short = await fusedRun(name, idsOf(7));
      const found = identifyFusedPaths(short.sources, short.get, 7);
      if (typeof found === 'string') assert.fail(found);
      for (const p of found.layers) {
        assert.equal(p.path, pageable ? 'qk' : 'softmax', JSON.stringify(p));
        if (p.path === 'softmax') assert.match(p.reason, /softcap/);
        // GroupQueryAttention's local_window_size 5: the sliding window i − 5 < j ≤ i (qk-attention.ts ScoreForm.window).
        if (p.path === 'qk') assert.equal(p.form.window, name === 'ms-gqa-window' ? 5 : undefined);
      }
      const T = 26;
      const ids = idsOf(T);
      const long = await fusedRun(name, ids);
      const paged = pagedFused(long.sources, found.layers, long.get, T, 0);
      const twin = readTestOnnx('tiny-fused', `${name}_unfused.onnx`);
      const twinSession = await ort.InferenceSession.create(tapAll(twin.bytes).tapped, { intraOpNumThreads: 1 });
      const oracle = (await runTappedModel(ort, { session: twinSession, ...twin }, ids)).self;
      assert.deepEqual([paged.layers, paged.heads], [oracle.layers, oracle.heads]);
      let worst = 0;
      for (let l = 0; l < paged.layers; l++) {
        for (let h = 0; h < paged.heads; h++) {
          const whole = headView(paged, l, h);
          const want = headView(oracle, l, h);
          for (let i = 0; i < T; i++) {
            const row = headRow(paged, l, h, i);
            for (let j = 0; j < T; j++) worst = Math.max(worst, Math.abs(row[j] - want[i * T + j]), Math.abs(whole[i * T + j] - want[i * T + j]));
          }
        }
      }
      assert.ok(worst <= 1e-5, `max |paged − twin's Softmax| = ${worst}`);
    });
  }
});
