import assert from 'node:assert/strict';
import { collectAttention, planTap } from '../../src/shared/onnx-tap';
import { tapAll } from '../../src/shared/full-tap';
import { explainFusedRow, fusedValueNorms } from '../../src/shared/fused-explain';
import { layerParts } from '../../src/shared/fused-layouts';
import { planScoreTaps } from '../../src/shared/score-tap';
import { fetchedLookup } from '../../src/shared/tapped-run';
import { valueNorms } from '../../src/shared/value-weighted';
import { explainWeight } from '../../src/shared/weight-explain';
import { readTestOnnx, type TestOnnx } from '../support/test-models';

// Explain one weight and ‖v‖ on fused models (test/models/tiny-fused): the q·k, scale, mask and softmax the panel shows
// for a recomputed layer must give the unfused twin's tapped weight, and ‖v_j‖ must be the twin's V norms, to 1e-5.
const ort = require('onnxruntime-node');
const T = 17;
const ids = Array.from({ length: T }, (_, i) => (i * 11 + 4) % 32);

async function run(m: TestOnnx): Promise<Record<string, any>> {
  const session = await ort.InferenceSession.create(tapAll(m.bytes).tapped, { intraOpNumThreads: 1 });
  const feeds: Record<string, unknown> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
  };
  for (const i of m.summary.inputs) if (i.name.startsWith('past_key_values')) feeds[i.name] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
  return session.run(feeds);
}

describe('explaining one weight and ‖v‖ on fused attention (onnxruntime-node)', function () {
  this.timeout(60000);
  // [file, scaling the panel is sent, whether the operator adds something on top of q·k·scale (softcap)]
  const cases: [string, 'div' | 'none', boolean][] = [
    ['ms-attention', 'div', false], ['ms-mha', 'none', false], ['ms-gqa', 'div', false], ['ms-gqa-packed', 'none', true], ['onnx-attention', 'none', true],
  ];
  for (const [name, scaling, softcap] of cases) {
    it(`${name}: every weight of 3 rows per head from q·k, scale, mask and softmax, and ‖v‖, match the unfused twin to 1e-5`, async () => {
      const fused = readTestOnnx('tiny-fused', `${name}.onnx`);
      const twin = readTestOnnx('tiny-fused', `${name}_unfused.onnx`);
      const [a, b] = [await run(fused), await run(twin)];
      const tap = collectAttention(twin.plan.softmaxOutputs.map((n) => ({ name: n, dims: b[n].dims, data: b[n].data })), T);
      const twinSources = planScoreTaps(twin.summary, planTap(twin.summary).softmaxOutputs);
      const get = fetchedLookup(a);
      let worst = 0;
      let worstNorm = 0;
      let biased = 0;
      fused.plan.fused!.forEach((node, l) => {
        const parts = layerParts(node, get);
        for (let h = 0; h < 4; h++) {
          for (const i of [0, 8, T - 1]) {
            const e = explainFusedRow(parts, h, i);
            assert.equal(e.scaling, scaling);
            for (let j = 0; j <= i; j++) {
              const w = explainWeight({ query: i, key: j, tokens: T, causal: true, q: e.q, kT: e.kT, dHead: e.dHead, scaling: e.scaling, scores: e.scores });
              assert.equal(w.source, 'qk');
              worst = Math.max(worst, Math.abs(w.weight - tap.data[((l * 4 + h) * T + i) * T + j]));
              if (w.bias !== 0) biased++;
            }
          }
        }
        const v = b[twinSources[l].v!];
        const expected = valueNorms(v.data as Float32Array, 4, T, 16);
        const norms = fusedValueNorms(parts);
        for (let k = 0; k < expected.length; k++) worstNorm = Math.max(worstNorm, Math.abs(norms[k] - expected[k]));
      });
      assert.ok(worst <= 1e-5, `max |explained weight − twin's tap| = ${worst}`);
      assert.ok(worstNorm <= 1e-5, `max |‖v‖ − twin's ‖v‖| = ${worstNorm}`);
      assert.equal(biased > 0, softcap, softcap ? 'softcap shows as what the operator adds on top of q·k·scale' : 'nothing on top of q·k·scale');
    });
  }
});
