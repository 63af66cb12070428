import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32 } from '../../src/shared/tapped-run';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, type LayerPath } from '../../src/shared/attention-paths';
import { headRow } from '../../src/shared/attention';
import { checkTokens, declaredWindows, MAX_WINDOW_CHECK_TOKENS, unshownWindow, type DeclaredWindows } from '../../src/shared/sliding-window';
import { loadTestReference, readTestOnnx, testModelsDir } from '../support/test-models';

// Sliding-window attention (issue 16): tiny-window is a Mistral-style decoder whose layers 0 and 2 see the 8 keys
// i − 8 < j ≤ i and layer 1 every key j ≤ i (config.json layer_types). Its layers are identified on a check run, then
// a 64-token run (longer than the window and the 32-token check) is recomputed from Q and K, row by row, and compared
// with onnxruntime-node's own Softmax output and with PyTorch's (the recipe's model, reference/).

const ort = require('onnxruntime-node');

const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-window', 'config.json'), 'utf8'));
const m = readTestOnnx('tiny-window');
const t = tapAll(m.bytes);
const self = t.plan.softmaxOutputs;
let session: any;

/** A run of `ids` fetching `names`, as a lookup. */
async function run(ids: readonly number[], names: readonly string[]) {
  session ??= await ort.InferenceSession.create(t.tapped, { intraOpNumThreads: 1 });
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(t.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  const out = await session.run(feeds, [...new Set(names)]);
  return (name: string) => (out[name] ? { dims: out[name].dims.map(Number) as number[], data: toFloat32(out[name]).slice() } : undefined);
}

/** Token ids below the vocabulary (164), with repeats. */
const idsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 37 + 11 + ((i * i) % 13)) % 164);

/** The layers' paths identified on a check of `n` tokens, with the declared windows and context when given. */
async function identify(n: number, windows?: { declared?: DeclaredWindows; context: number }): Promise<readonly LayerPath[]> {
  return identifyPaths(self, t.sources, await run(idsOf(n), identificationFetches(self, t.sources)), n, windows).layers;
}

/** Largest |paged row − want| over every row of every head of a paged run of `ids`; `want(l, h, i, j)`. */
async function worstRow(paths: readonly LayerPath[], ids: readonly number[], want: (l: number, h: number, i: number, j: number) => number): Promise<number> {
  const paged = pagedFromFetched(paths, t.sources, await run(ids, pagedFetches(paths, t.sources)), ids.length, 0);
  const T = ids.length;
  let worst = 0;
  for (let l = 0; l < paths.length; l++) {
    for (let h = 0; h < paged.heads; h++) {
      for (let i = 0; i < T; i++) {
        const row = headRow(paged, l, h, i);
        for (let j = 0; j < T; j++) worst = Math.max(worst, Math.abs(row[j] - want(l, h, i, j)));
      }
    }
  }
  return worst;
}

describe('sliding-window attention: config.json, the check run and tiny-window (onnxruntime-node, PyTorch)', function () {
  this.timeout(60000);

  it('reads each layer\'s declared window the way transformers\' configs define it', () => {
    assert.deepEqual(declaredWindows(config), [8, null, 8]);
    const w = 4096;
    assert.deepEqual(declaredWindows({ model_type: 'mistral', num_hidden_layers: 3, sliding_window: w }), [w, w, w]);
    assert.equal(declaredWindows({ model_type: 'mistral', num_hidden_layers: 3, sliding_window: null }), undefined);
    assert.equal(declaredWindows({ model_type: 'qwen2', num_hidden_layers: 4, sliding_window: w, use_sliding_window: false, max_window_layers: 2 }), undefined);
    assert.deepEqual(declaredWindows({ model_type: 'qwen2', num_hidden_layers: 4, sliding_window: w, use_sliding_window: true, max_window_layers: 2 }), [null, null, w, w]);
    assert.deepEqual(declaredWindows({ model_type: 'gemma2', num_hidden_layers: 4, sliding_window: w }), [w, null, w, null]);
    assert.deepEqual(declaredWindows({ model_type: 'gemma3_text', num_hidden_layers: 7, sliding_window: w }), [w, w, w, w, w, null, w]);
    assert.deepEqual(declaredWindows({ model_type: 'cohere2', num_hidden_layers: 4, sliding_window: w, sliding_window_pattern: 4 }), [w, w, w, null]);
    assert.deepEqual(declaredWindows({ model_type: 'gemma3', text_config: { num_hidden_layers: 2, sliding_window: w, layer_types: ['full_attention', 'sliding_attention'] } }), [null, w]);
  });

  it('lengthens the check past a small declared window a run can exceed, and only then', () => {
    // w + 2 tokens show the window whether the graph keeps w keys (transformers' masks) or w + 1 (flash-attention's count).
    assert.equal(checkTokens(6, 128, [8, null, 8]), 10);
    assert.equal(checkTokens(32, 128, [8, null, 8]), 32);
    assert.equal(checkTokens(32, 4096, [100]), 102);
    assert.equal(checkTokens(32, 101, [100]), 101, 'never past the context');
    assert.equal(unshownWindow([30], 0, 1, 32, 128), undefined, 'a 32-token check shows 30 and 31 keys');
    assert.match(unshownWindow([31], 0, 1, 32, 128) ?? '', /sliding window of 31 tokens/, 'a 32-token check cannot show 32 keys');
    assert.equal(unshownWindow([31], 0, 1, 32, 32), undefined, 'no run is longer than 32 tokens');
    assert.equal(checkTokens(32, 64, [64]), 32, 'no run is longer than the window');
    assert.equal(checkTokens(32, 131072, [MAX_WINDOW_CHECK_TOKENS]), 32, 'too long to check');
  });

  it('the 32-token check finds the 8-token window on the sliding layers and plain causal attention on the full one', async () => {
    const paths = await identify(32, { declared: declaredWindows(config), context: 128 });
    assert.equal(paths.length, 3);
    paths.forEach((p, l) => {
      assert.equal(p.path, 'qk', JSON.stringify(p));
      if (p.path !== 'qk') return;
      assert.equal(p.form.causal, true);
      assert.equal(p.form.window, l === 1 ? undefined : 8, `layer ${l}`);
      assert.ok(Math.abs(p.form.scale - 1 / Math.sqrt(8)) < 1e-9, String(p.form.scale));
    });
  });

  it('every row of every head at T = 64, recomputed from Q and K, equals onnxruntime\'s Softmax and PyTorch\'s within 1e-5', async () => {
    const paths = await identify(32);
    assert.deepEqual(paths.map((p) => p.path), ['qk', 'qk', 'qk'], 'every layer is recomputed, none served from its Softmax');
    const ref = loadTestReference('tiny-window')[0];
    const T = ref.ids.length;
    assert.equal(T, 64);
    const tap = await run(ref.ids, self);
    const H = 4;
    const ortWorst = await worstRow(paths, ref.ids, (l, h, i, j) => tap(self[l])!.data[(h * T + i) * T + j]);
    const ptWorst = await worstRow(paths, ref.ids, (l, h, i, j) => ref.tensors.attention.data[((l * H + h) * T + i) * T + j]);
    console.log(`      T = ${T}, 3 layers × ${H} heads, every row: max |recomputed − onnxruntime| = ${ortWorst.toExponential(2)}, − PyTorch = ${ptWorst.toExponential(2)}`);
    assert.ok(ortWorst <= 1e-5, `onnxruntime: ${ortWorst}`);
    assert.ok(ptWorst <= 1e-5, `PyTorch: ${ptWorst}`);
    // The window matters at this length: the sliding layers' far keys carry weight under plain causal attention.
    const far = tap(self[1])!.data;
    assert.ok(far[(0 * T + 63) * T + 0] > 0 && tap(self[0])!.data[(0 * T + 63) * T + 0] === 0);
  });

  it('a check too short to show the window sees plain causal attention; lengthened (10 tokens) it finds the window', async () => {
    const short = await identify(6);
    for (const p of short) assert.ok(p.path === 'qk' && p.form.window === undefined, JSON.stringify(p));
    const n = checkTokens(6, 128, declaredWindows(config));
    const lengthened = await identify(n, { declared: declaredWindows(config), context: 128 });
    assert.deepEqual(lengthened.map((p) => (p.path === 'qk' ? p.form.window ?? null : p.reason)), [8, null, 8]);
  });

  it('tiny-fused ms-gqa-window_unfused (onnxruntime\'s local window of 5, written out): found on a 7-token check, rows equal at T = 25', async () => {
    const twin = readTestOnnx('tiny-fused', 'ms-gqa-window_unfused.onnx');
    const tt = tapAll(twin.bytes);
    const s = await ort.InferenceSession.create(tt.tapped, { intraOpNumThreads: 1 });
    const runTwin = async (ids: readonly number[], names: readonly string[]) => {
      const feeds: Record<string, unknown> = {};
      for (const f of buildFeeds(requiredInputs(tt.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
      const out = await s.run(feeds, [...new Set(names)]);
      return (n: string) => (out[n] ? { dims: out[n].dims.map(Number) as number[], data: toFloat32(out[n]).slice() } : undefined);
    };
    const sm = tt.plan.softmaxOutputs;
    const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7 + 5 + ((i * i) % 5)) % 32);
    const paths = identifyPaths(sm, tt.sources, await runTwin(ids(7), identificationFetches(sm, tt.sources)), 7).layers;
    assert.deepEqual(paths.map((p) => (p.path === 'qk' ? p.form.window : p.reason)), [5, 5]);
    const T = 25;
    const get = await runTwin(ids(T), [...pagedFetches(paths, tt.sources), ...sm]);
    const paged = pagedFromFetched(paths, tt.sources, get, T, 0);
    let worst = 0;
    for (let l = 0; l < paths.length; l++) {
      for (let h = 0; h < paged.heads; h++) {
        for (let i = 0; i < T; i++) {
          const row = headRow(paged, l, h, i);
          for (let j = 0; j < T; j++) worst = Math.max(worst, Math.abs(row[j] - get(sm[l])!.data[(h * T + i) * T + j]));
        }
      }
    }
    assert.ok(worst <= 1e-5, String(worst));
  });

  it('a declared window longer than the check and too long to lengthen it to: those layers fall back, naming the window', async () => {
    const declared = [1000, null, 1000];
    const n = checkTokens(32, 4096, declared);
    assert.equal(n, 32);
    const paths = await identify(n, { declared, context: 4096 });
    assert.deepEqual(paths.map((p) => p.path), ['softmax', 'qk', 'softmax']);
    for (const p of [paths[0], paths[2]]) if (p.path === 'softmax') assert.match(p.reason, /sliding window of 1000 tokens.*32-token check/);
    // A context no longer than the window: no run can exceed it, so nothing falls back.
    assert.deepEqual((await identify(32, { declared, context: 1000 })).map((p) => p.path), ['qk', 'qk', 'qk']);
  });
});
