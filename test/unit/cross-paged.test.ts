import assert from 'node:assert/strict';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32 } from '../../src/shared/tapped-run';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched } from '../../src/shared/attention-paths';
import { headRow, headView } from '../../src/shared/attention';
import { loadTestReference, readTestOnnx } from '../support/test-models';

// Encoder–decoder attention recomputed from Q and K (issue 16) on tiny-t5's decoder, in onnxruntime-node: its
// cross-attention has no mask, no position bias and no scale (T5), and its queries (decoder tokens) are not its keys
// (encoder tokens); its self-attention adds T5's relative position bias and so keeps the Softmax tap. The layers are
// identified on a short run, then a longer one is paged and every row compared with onnxruntime's Softmax output and
// with PyTorch's (reference/).

const ort = require('onnxruntime-node');

type Lookup = (name: string) => { dims: number[]; data: Float32Array } | undefined;

const encoder = tapAll(readTestOnnx('tiny-t5', 'encoder_model.onnx').bytes);
const decoder = tapAll(readTestOnnx('tiny-t5', 'decoder_model.onnx').bytes);
const ofKind = (kind: string) => decoder.plan.softmaxOutputs.filter((_, i) => (decoder.plan.kinds?.[i] ?? 'self') === kind);
const sessions: Record<string, any> = {};

/** Runs the encoder on `ids`, then the decoder on `decIds` over its output, fetching `names` of the decoder. */
async function run(ids: readonly number[], decIds: readonly number[], names: readonly string[]): Promise<Lookup> {
  sessions.enc ??= await ort.InferenceSession.create(encoder.tapped, { intraOpNumThreads: 1 });
  sessions.dec ??= await ort.InferenceSession.create(decoder.tapped, { intraOpNumThreads: 1 });
  const feeds = (t: typeof encoder, x: readonly number[], opts = {}) => Object.fromEntries(buildFeeds(requiredInputs(t.summary), x, opts)
    .map((f) => [f.name, new ort.Tensor(f.type, f.data, f.dims)]));
  const hidden = (await sessions.enc.run(feeds(encoder, ids), ['last_hidden_state'])).last_hidden_state;
  const encoderHiddenStates = { data: toFloat32(hidden).slice(), dims: hidden.dims.map(Number) };
  const out = await sessions.dec.run(feeds(decoder, decIds, { encoderHiddenStates }), [...new Set(names)]);
  return (name) => (out[name] ? { dims: out[name].dims.map(Number), data: toFloat32(out[name]).slice() } : undefined);
}

/** Ids below tiny-t5's vocabulary, with repeats. */
const idsOf = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + seed + ((i * i) % 5)) % 60 + 3);

describe('tiny-t5 cross-attention recomputed from Q and K (decoder queries over encoder keys, onnxruntime-node)', function () {
  this.timeout(60000);
  const cross = ofKind('cross');
  const self = ofKind('self');

  it('identifies the cross layers (no mask, scale 1) and turns the self layers to the fallback (relative position bias)', async () => {
    const get = await run(idsOf(9, 1), idsOf(5, 2), identificationFetches([...cross, ...self], decoder.sources));
    const crossPaths = identifyPaths(cross, decoder.sources, get, 5, { keys: 9 }).layers;
    assert.equal(crossPaths.length, 2);
    for (const p of crossPaths) {
      assert.equal(p.path, 'qk', JSON.stringify(p));
      if (p.path === 'qk') assert.deepEqual(p.form, { scale: 1, causal: false });
    }
    const selfPaths = identifyPaths(self, decoder.sources, get, 5).layers;
    assert.equal(selfPaths.length, 2);
    for (const p of selfPaths) {
      assert.equal(p.path, 'softmax');
      if (p.path === 'softmax') assert.match(p.reason, /added to its scores, is \[1, \d+, \d+, \d+\], not one bias per head and key/);
    }
  });

  it('every row of every cross head of a longer run equals onnxruntime\'s Softmax and PyTorch\'s within 1e-5', async () => {
    const check = await run(idsOf(9, 1), idsOf(5, 2), identificationFetches(cross, decoder.sources));
    const paths = identifyPaths(cross, decoder.sources, check, 5, { keys: 9 }).layers;
    assert.deepEqual(paths.map((p) => p.path), ['qk', 'qk'], 'both cross layers recomputed');
    const cases: { ids: readonly number[]; dec: readonly number[]; want?: Float32Array }[] = [
      { ids: idsOf(29, 4), dec: idsOf(17, 5) },
      ...loadTestReference('tiny-t5').map((r) => ({ ids: r.ids, dec: r.decoderIds!, want: r.tensors.cross_attention.data })),
    ];
    for (const c of cases) {
      const [S, T] = [c.ids.length, c.dec.length];
      const get = await run(c.ids, c.dec, [...pagedFetches(paths, decoder.sources), ...cross]);
      const paged = pagedFromFetched(paths, decoder.sources, get, T, 0, S);
      assert.equal(paged.kind, 'cross');
      assert.deepEqual([paged.queries, paged.keys], [T, S]);
      let worst = 0;
      for (let l = 0; l < paths.length; l++) {
        const tap = get(cross[l])!.data;
        for (let h = 0; h < paged.heads; h++) {
          const head = headView(paged, l, h);
          for (let i = 0; i < T; i++) {
            const row = headRow(paged, l, h, i);
            for (let j = 0; j < S; j++) {
              const at = (h * T + i) * S + j;
              worst = Math.max(worst, Math.abs(row[j] - tap[at]), Math.abs(head[i * S + j] - tap[at]));
              if (c.want) worst = Math.max(worst, Math.abs(row[j] - c.want[l * paged.heads * T * S + at]));
            }
          }
        }
      }
      console.log(`      T_dec ${T} × T_enc ${S}: max |recomputed − Softmax${c.want ? ', PyTorch' : ''}| = ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-5, String(worst));
    }
  });
});
