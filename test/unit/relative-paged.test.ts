import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32 } from '../../src/shared/tapped-run';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { readFloatInitializer } from '../../src/shared/onnx-initializer';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, type IdentifyOptions } from '../../src/shared/attention-paths';
import { headRow } from '../../src/shared/attention';
import { loadTestReference, readTestOnnx, testModelsDir } from '../support/test-models';

// T5's relative position bias recomputed from its table E and config.json's bucket rule (issue 16), on tiny-t5 in
// onnxruntime-node: the encoder's self-attention (bidirectional buckets) and the decoder's (one direction, causal) are
// identified on a short run, then longer runs are paged and every row compared with onnxruntime's Softmax output and
// with PyTorch's attention (reference/, written by transformers' T5 when the model was built).

const ort = require('onnxruntime-node');

type Lookup = (name: string) => { dims: number[]; data: Float32Array } | undefined;
const enc = readTestOnnx('tiny-t5', 'encoder_model.onnx');
const dec = readTestOnnx('tiny-t5', 'decoder_model.onnx');
const encoder = tapAll(enc.bytes);
const decoder = tapAll(dec.bytes);
const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-t5', 'config.json'), 'utf8')) as { relative_attention_max_distance: number };
const relativeOf = (bytes: Uint8Array): IdentifyOptions['relative'] =>
  ({ maxDistance: config.relative_attention_max_distance, table: (n) => readFloatInitializer(bytes, n) });
const selfOf = (t: typeof encoder) => t.plan.softmaxOutputs.filter((_, i) => (t.plan.kinds?.[i] ?? 'self') === 'self');
const sessions: Record<string, any> = {};

/** Runs the encoder on `ids` (fetching `encNames`), then the decoder on `decIds` over its output (fetching `decNames`). */
async function run(ids: readonly number[], decIds: readonly number[], encNames: readonly string[],
  decNames: readonly string[]): Promise<{ e: Lookup; d: Lookup }> {
  sessions.enc ??= await ort.InferenceSession.create(encoder.tapped, { intraOpNumThreads: 1 });
  sessions.dec ??= await ort.InferenceSession.create(decoder.tapped, { intraOpNumThreads: 1 });
  const feeds = (t: typeof encoder, x: readonly number[], opts = {}) => Object.fromEntries(buildFeeds(requiredInputs(t.summary), x, opts)
    .map((f) => [f.name, new ort.Tensor(f.type, f.data, f.dims)]));
  const eo = await sessions.enc.run(feeds(encoder, ids), [...new Set([...encNames, 'last_hidden_state'])]);
  const hidden = eo.last_hidden_state;
  const encoderHiddenStates = { data: toFloat32(hidden).slice(), dims: hidden.dims.map(Number) };
  const dout = await sessions.dec.run(feeds(decoder, decIds, { encoderHiddenStates }), [...new Set(decNames)]);
  const lookup = (out: Record<string, any>): Lookup => (name) =>
    (out[name] ? { dims: out[name].dims.map(Number), data: toFloat32(out[name]).slice() } : undefined);
  return { e: lookup(eo), d: lookup(dout) };
}

/** Ids below tiny-t5's vocabulary, with repeats. */
const idsOf = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + seed + ((i * i) % 5)) % 60 + 3);

describe('tiny-t5 self-attention recomputed with its relative position bias (onnxruntime-node, PyTorch)', function () {
  this.timeout(60000);
  const encSelf = selfOf(encoder);
  const decSelf = selfOf(decoder);

  it('identifies both stacks from a short run: encoder bidirectional, decoder one direction and causal, scale 1', async () => {
    const { e, d } = await run(idsOf(8, 1), idsOf(6, 2), identificationFetches(encSelf, encoder.sources), identificationFetches(decSelf, decoder.sources));
    const ep = identifyPaths(encSelf, encoder.sources, e, 8, { relative: relativeOf(enc.bytes) }).layers;
    const dp = identifyPaths(decSelf, decoder.sources, d, 6, { relative: relativeOf(dec.bytes) }).layers;
    for (const [paths, bidirectional, causal] of [[ep, true, false], [dp, false, true]] as const) {
      assert.equal(paths.length, 2);
      for (const p of paths) {
        assert.equal(p.path, 'qk', JSON.stringify(p.path === 'softmax' ? p.reason : ''));
        if (p.path !== 'qk') continue;
        assert.equal(p.relative?.rule.bidirectional, bidirectional);
        assert.equal(p.form.causal, causal);
        assert.equal(p.form.scale, 1);
      }
    }
  });

  it('every row of every head of longer runs equals onnxruntime\'s Softmax, and PyTorch\'s, within 1e-5', async () => {
    const { e, d } = await run(idsOf(8, 1), idsOf(6, 2), identificationFetches(encSelf, encoder.sources), identificationFetches(decSelf, decoder.sources));
    const ep = identifyPaths(encSelf, encoder.sources, e, 8, { relative: relativeOf(enc.bytes) }).layers;
    const dp = identifyPaths(decSelf, decoder.sources, d, 6, { relative: relativeOf(dec.bytes) }).layers;
    const cases: { ids: readonly number[]; dec: readonly number[]; want?: { encoder: Float32Array; decoder: Float32Array } }[] = [
      { ids: idsOf(90, 4), dec: idsOf(70, 5) },
      ...loadTestReference('tiny-t5').map((r) => ({ ids: r.ids, dec: r.decoderIds!, want: { encoder: r.tensors.encoder_attention.data, decoder: r.tensors.decoder_attention.data } })),
    ];
    for (const c of cases) {
      const got = await run(c.ids, c.dec, [...pagedFetches(ep, encoder.sources), ...encSelf], [...pagedFetches(dp, decoder.sources), ...decSelf]);
      for (const [stack, paths, names, get, T] of [['encoder', ep, encSelf, got.e, c.ids.length], ['decoder', dp, decSelf, got.d, c.dec.length]] as const) {
        const paged = pagedFromFetched(paths, stack === 'encoder' ? encoder.sources : decoder.sources, get, T, 0);
        let worst = 0;
        let worstTorch = 0;
        paths.forEach((_, l) => {
          const tap = get(names[l])!.data;
          for (let h = 0; h < paged.heads; h++) {
            for (let i = 0; i < T; i++) {
              const row = headRow(paged, l, h, i);
              for (let j = 0; j < T; j++) {
                const at = (h * T + i) * T + j;
                worst = Math.max(worst, Math.abs(row[j] - tap[at]));
                if (c.want) worstTorch = Math.max(worstTorch, Math.abs(row[j] - c.want[stack][l * paged.heads * T * T + at]));
              }
            }
          }
        });
        console.log(`      ${stack} T ${T}: max |recomputed − Softmax| = ${worst.toExponential(2)}${c.want ? `, − PyTorch = ${worstTorch.toExponential(2)}` : ''}`);
        assert.ok(worst <= 1e-5 && worstTorch <= 1e-5, `${stack} T ${T}: ${worst}, ${worstTorch}`);
      }
    }
  });
});
