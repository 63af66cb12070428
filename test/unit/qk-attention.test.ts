import assert from 'node:assert/strict';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32 } from '../../src/shared/tapped-run';
import { requiredInputs, scanOnnx } from '../../src/shared/onnx-tap';
import { retapForPaging } from '../../src/shared/paged-tap';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, pathsTitle, summarisePaths, type IdentifyOptions, type LayerPath } from '../../src/shared/attention-paths';
import { headView, headRow } from '../../src/shared/attention';
import { readBundledOnnx } from '../support/model';
import { readTestOnnx } from '../support/test-models';
import { buildModel } from '../support/onnx-builder';
import { readFloatInitializer } from '../../src/shared/onnx-initializer';
import { testModelsDir } from '../support/test-models';
import * as fs from 'node:fs';
import * as path from 'node:path';

// Attention recomputed from tapped Q and K (issue 16), checked against onnxruntime-node's own Softmax output (the
// oracle: a different implementation of the same graph) on every test model with a Softmax: each layer's path is
// identified on a short run, then a longer run fetches only Q and Kᵀ (or the fallback layers' Softmax) and every row
// of every head must equal the Softmax tap of that longer run within 1e-5.

const ort = require('onnxruntime-node');

type Run = (ids: readonly number[], names: readonly string[]) => Promise<(name: string) => { dims: number[]; data: Float32Array; type: string } | undefined>;

/** A session over the worker's tapped bytes, run with the worker's feeds, fetching `names`. */
async function open(bytes: Uint8Array, externalData?: { path: string; data: Uint8Array }[], asIs = false):
  Promise<{ run: Run; t: ReturnType<typeof tapAll>; session: any }> {
  const t = tapAll(bytes);
  const session = await ort.InferenceSession.create(asIs ? bytes : t.tapped, { intraOpNumThreads: 1, ...(externalData ? { externalData } : {}) });
  const run: Run = async (ids, names) => {
    const feeds: Record<string, unknown> = {};
    for (const f of buildFeeds(requiredInputs(t.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const out = await session.run(feeds, [...names]);
    return (name) => (out[name] ? { dims: out[name].dims.map(Number), data: toFloat32(out[name]).slice(), type: out[name].type as string } : undefined);
  };
  return { run, t, session };
}

/** Token ids below a vocabulary of 32, with repeats. */
const idsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + 3 + ((i * i) % 5)) % 32);

/** Identifies on `short` tokens, then checks every row of a paged run on `long` tokens against that run's Softmax. */
async function checkModel(bytes: Uint8Array, short: number[], long: number[],
  externalData?: { path: string; data: Uint8Array }[], tolerance = 1e-5, opts: IdentifyOptions = {}): Promise<readonly LayerPath[]> {
  const { run, t } = await open(bytes, externalData);
  const self = t.plan.softmaxOutputs.filter((_, i) => (t.plan.kinds?.[i] ?? 'self') === 'self');
  const paths = identifyPaths(self, t.sources, await run(short, identificationFetches(self, t.sources)), short.length, opts).layers;
  // The paged run goes through the model as the worker narrows it (paged-tap.ts): Q and Kᵀ declared, Softmax outputs not.
  const pagedNames = pagedFetches(paths, t.sources);
  const narrowed = retapForPaging(t.tapped, pagedNames);
  assert.ok(narrowed, 'the appended taps can be replaced');
  const declared = new Set(scanOnnx(narrowed).outputs.map((o) => o.name));
  for (const p of paths) assert.equal(declared.has(p.name), p.path === 'softmax', `${p.name} (${p.path}) declared only when it falls back`);
  for (const p of paths) for (const b of p.path === 'qk' ? p.biases ?? [] : []) assert.ok(declared.has(b), `${p.name}'s bias ${b} is declared`);
  const narrowedRun = (await open(narrowed, externalData, true)).run;
  const paged = pagedFromFetched(paths, t.sources, await narrowedRun(long, pagedNames), long.length, 0); // block bytes 0: blocks of one row
  const get = await run(long, paths.map((p) => p.name));
  const T = long.length;
  paths.forEach((p, l) => {
    const tap = get(p.name)!.data;
    for (let h = 0; h < paged.heads; h++) {
      const head = headView(paged, l, h);
      for (let i = 0; i < T; i++) {
        const row = headRow(paged, l, h, i);
        for (let j = 0; j < T; j++) {
          const want = tap[(h * T + i) * T + j];
          assert.ok(Math.abs(row[j] - want) <= tolerance, `${p.name} (${p.path}) head ${h} row ${i} key ${j}: ${row[j]} vs Softmax ${want}`);
          assert.ok(Math.abs(head[i * T + j] - want) <= tolerance, `${p.name} head ${h} matrix (${i}, ${j})`);
        }
      }
    }
  });
  return paths;
}

const qkLayers = (paths: readonly LayerPath[]) => paths.filter((p) => p.path === 'qk').length;

describe('attention recomputed from Q and K equals the Softmax tap (onnxruntime-node)', function () {
  this.timeout(120000);

  it('the bundled model: every layer recomputed, causal', async () => {
    const paths = await checkModel(readBundledOnnx(), [5, 9, 14, 3, 7, 5, 9, 2], [...Array(40)].map((_, i) => (i * 11 + 4) % 60));
    assert.ok(paths.length > 0 && qkLayers(paths) === paths.length, JSON.stringify(paths));
    for (const p of paths) if (p.path === 'qk') assert.equal(p.form.causal, true);
  });

  for (const [name, causal] of [['tiny-gpt2', true], ['tiny-bert', false], ['tiny-distilbert', false]] as const) {
    it(`${name}: every layer recomputed (${causal ? 'causal' : 'no mask'})`, async () => {
      const m = readTestOnnx(name);
      const paths = await checkModel(m.bytes, idsOf(6), idsOf(29), m.externalData);
      assert.ok(paths.length > 0 && qkLayers(paths) === paths.length, JSON.stringify(paths));
      for (const p of paths) if (p.path === 'qk') assert.equal(p.form.causal, causal);
    });
  }

  it('tiny-gpt2 quantized: Q and K from dequantized products are recomputed too', async () => {
    const m = readTestOnnx('tiny-gpt2', 'model_quantized.onnx');
    const paths = await checkModel(m.bytes, idsOf(6), idsOf(21));
    assert.equal(qkLayers(paths), paths.length, JSON.stringify(paths));
  });

  it('tiny-gpt2 fp16: recomputed within the fp16 Softmax\'s own precision (1e-3), as the tap tests hold fp16 graphs to', async () => {
    const m = readTestOnnx('tiny-gpt2', 'model_fp16.onnx');
    const paths = await checkModel(m.bytes, idsOf(6), idsOf(21), undefined, 1e-3);
    assert.ok(paths.length > 0 && qkLayers(paths) === paths.length, JSON.stringify(paths));
  });

  for (const twin of ['ms-attention_unfused', 'ms-mha_unfused', 'ms-gqa_unfused']) {
    it(`${twin} (Llama-style, rotary applied before the product): every layer recomputed`, async () => {
      const m = readTestOnnx('tiny-fused', `${twin}.onnx`);
      const paths = await checkModel(m.bytes, idsOf(7), idsOf(25));
      assert.ok(paths.length > 0 && qkLayers(paths) === paths.length, JSON.stringify(paths));
    });
  }

  it('onnx-attention_unfused: softcapping (c·tanh(s/c)) before the Softmax turns layers to the fallback, naming the Tanh', async () => {
    const m = readTestOnnx('tiny-fused', 'onnx-attention_unfused.onnx');
    const paths = await checkModel(m.bytes, idsOf(7), idsOf(25));
    assert.ok(paths.length > 0);
    for (const p of paths) {
      assert.equal(p.path, 'softmax');
      if (p.path === 'softmax') assert.match(p.reason, /Tanh/);
    }
  });

  it('tiny-bloom: every layer recomputed with its ALiBi (a per-head, per-key bias tapped with Q and Kᵀ), causal, at 32 tokens after a 6-token check', async () => {
    const m = readTestOnnx('tiny-bloom');
    const paths = await checkModel(m.bytes, idsOf(6), idsOf(32));
    assert.ok(paths.length === 2 && qkLayers(paths) === paths.length, JSON.stringify(paths));
    for (const p of paths) {
      if (p.path !== 'qk') continue;
      assert.equal(p.form.causal, true);
      assert.equal(p.form.bias, true);
      assert.ok(Math.abs(p.form.scale - 1 / 4) < 1e-9, `baddbmm's alpha 1/√16, got ${p.form.scale}`);
      assert.equal(p.biases?.length, 1, 'ALiBi only: the all-zero padding mask is not tapped');
    }
    assert.match(pathsTitle(summarisePaths(paths)), /per-key position bias \(ALiBi\)[^.]*: layer 0, layer 1\./);
  });

  it('tiny-t5 encoder without config.json\'s bucket rule: the relative position bias (one per query and key) turns layers to the fallback', async () => {
    const m = readTestOnnx('tiny-t5', 'encoder_model.onnx');
    const paths = await checkModel(m.bytes, idsOf(6), idsOf(18));
    assert.ok(paths.length > 0 && qkLayers(paths) === 0, JSON.stringify(paths));
    for (const p of paths) if (p.path === 'softmax') assert.match(p.reason, /not one bias per head and key/);
  });

  it('tiny-t5 encoder with config.json\'s bucket rule: every layer recomputed with E[bucket(j − i), h] from the initializer, bidirectional, at 150 tokens after 6 (past every bucket edge)', async () => {
    const m = readTestOnnx('tiny-t5', 'encoder_model.onnx');
    const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-t5', 'config.json'), 'utf8')) as { relative_attention_max_distance: number };
    const opts = { relative: { maxDistance: config.relative_attention_max_distance, table: (n: string) => readFloatInitializer(m.bytes, n) } };
    const paths = await checkModel(m.bytes, idsOf(6), idsOf(150), undefined, 1e-5, opts);
    assert.ok(paths.length === 2 && qkLayers(paths) === 2, JSON.stringify(paths.map((p) => (p.path === 'softmax' ? p.reason : p.path))));
    for (const p of paths) {
      if (p.path !== 'qk') continue;
      assert.equal(p.form.relative, true);
      assert.equal(p.form.scale, 1, 'T5 does not scale q·k');
      assert.deepEqual(p.relative?.rule, { buckets: 32, maxDistance: 128, bidirectional: true });
      assert.equal(p.biases, undefined, 'nothing is tapped for it: the padding mask is all zero');
    }
  });
});

describe('identifying a layer\'s score form on hand-built graphs', function () {
  this.timeout(30000);
  const H = 2;
  const d = 4;
  const tensor = (dims: number[], f: (k: number) => number) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, k) => f(k)), dims);

  /**
   * Runs a graph over inputs q [1, H, T, d], kt [1, H, d, T] (and s, bias) and identifies its one layer. A term added to
   * the scores comes through Identity (b → bias): a graph input counts as a constant to the walk, computed values are tapped.
   */
  async function identifyGraph(nodes: Parameters<typeof buildModel>[0], inputs: string[], T: number, extra: Record<string, unknown> = {}): Promise<LayerPath> {
    const bytes = buildModel(nodes, inputs, ['p']);
    const { t, session } = await open(bytes);
    const q = tensor([1, H, T, d], (k) => Math.sin(k * 1.3));
    const kt = tensor([1, H, d, T], (k) => Math.cos(k * 0.7));
    const feeds: Record<string, any> = { q, kt, ...extra };
    const outputs = new Set(scanOnnx(t.tapped).outputs.map((o) => o.name));
    const out = await session.run(feeds, identificationFetches(['p'], t.sources).filter((n) => outputs.has(n)));
    // Q and Kᵀ are this graph's inputs: a run returns what it was fed as they are.
    const get = (n: string) => { const v = out[n] ?? feeds[n]; return v ? { dims: v.dims.map(Number), data: v.data as Float32Array } : undefined; };
    return identifyPaths(['p'], t.sources, get, T).layers[0];
  }

  it('finds a scale that is not 1/√d (q·k ÷ 3) and no mask', async () => {
    const p = await identifyGraph([
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s0'] },
      { op: 'Div', inputs: ['s0', 'three'], outputs: ['s1'] },
      { op: 'Softmax', inputs: ['s1'], outputs: ['p'], attrs: { axis: -1 } },
    ], ['q', 'kt', 'three'], 5, { three: tensor([1], () => 3) });
    assert.equal(p.path, 'qk', JSON.stringify(p));
    if (p.path === 'qk') {
      assert.ok(Math.abs(p.form.scale - 1 / 3) < 1e-6, String(p.form.scale));
      assert.equal(p.form.causal, false);
    }
  });

  it('falls back, naming the node, where the walk back from the Softmax meets an op it cannot see through (Tanh)', async () => {
    const p = await identifyGraph([
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s0'] },
      { op: 'Tanh', inputs: ['s0'], outputs: ['s1'] },
      { op: 'Softmax', inputs: ['s1'], outputs: ['p'], attrs: { axis: -1 } },
    ], ['q', 'kt'], 5);
    assert.equal(p.path, 'softmax');
    if (p.path === 'softmax') assert.match(p.reason, /Tanh/);
  });

  it('falls back where the bias added to the scores varies by query ([1, H, T, T]), saying so', async () => {
    const T = 5;
    const p = await identifyGraph([
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s0'] },
      { op: 'Identity', inputs: ['b'], outputs: ['bias'] },
      { op: 'Add', inputs: ['s0', 'bias'], outputs: ['s1'] },
      { op: 'Softmax', inputs: ['s1'], outputs: ['p'], attrs: { axis: -1 } },
    ], ['q', 'kt', 'b'], T, { b: tensor([1, H, T, T], (k) => (k % 7) * 0.1) });
    assert.equal(p.path, 'softmax');
    if (p.path === 'softmax') assert.match(p.reason, /bias, added to its scores, is \[1, 2, 5, 5\], not one bias per head and key/);
  });

  it('falls back where a per-key term is subtracted (Sub is not an added bias the walk taps)', async () => {
    const T = 5;
    const p = await identifyGraph([
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s0'] },
      { op: 'Identity', inputs: ['b'], outputs: ['bias'] },
      { op: 'Sub', inputs: ['s0', 'bias'], outputs: ['s1'] },
      { op: 'Softmax', inputs: ['s1'], outputs: ['p'], attrs: { axis: -1 } },
    ], ['q', 'kt', 'b'], T, { b: tensor([1, H, 1, T], (k) => k * 0.3) });
    assert.equal(p.path, 'softmax');
    if (p.path === 'softmax') assert.match(p.reason, /added to q·k/);
  });

  it('recomputes a layer that adds a per-head, per-key bias ([1, H, 1, T], ALiBi-shaped), with the bias in its form', async () => {
    const T = 5;
    const p = await identifyGraph([
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s0'] },
      { op: 'Mul', inputs: ['s0', 'half'], outputs: ['s1'] },
      { op: 'Identity', inputs: ['b'], outputs: ['bias'] },
      { op: 'Add', inputs: ['bias', 's1'], outputs: ['s2'] },
      { op: 'Softmax', inputs: ['s2'], outputs: ['p'], attrs: { axis: -1 } },
    ], ['q', 'kt', 'b', 'half'], T, { b: tensor([1, H, 1, T], (k) => -0.4 * k + (k >= T ? 1 : 0)), half: tensor([1], () => 0.5) });
    assert.equal(p.path, 'qk', JSON.stringify(p));
    if (p.path === 'qk') {
      assert.deepEqual(p.biases, ['bias']);
      assert.equal(p.form.bias, true);
      assert.equal(p.form.scale, 0.5);
      assert.ok(p.maxDifference <= 1e-6, String(p.maxDifference));
    }
  });
});
