import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelFolder } from '../../src/host/model-folder';
import { scanOnnxFile } from '../../src/host/onnx-file';
import { cacheFileName, cachedTappedModel, sha256File } from '../../src/host/tap-cache';
import { planFullTap, tapAll, TAP_FORMAT } from '../../src/shared/full-tap';
import { collectAttention, planTap, scanOnnx, tapAttention, tapSuffix } from '../../src/shared/onnx-tap';
import { scoreTapNames } from '../../src/shared/score-tap';
import { rewriteSubgraphs } from '../../src/shared/tap-subgraph';
import { bundledModelDir, loadReference, maxAbsDiff } from '../support/model';
import { testModelsDir } from '../support/test-models';

const ort = require('onnxruntime-node');
const fsp: typeof import('node:fs/promises') = require('node:fs/promises');

/** Attention [L,H,T,T] and every fetched output of one run of ONNX bytes on ids (lens-gpt: input_ids only). */
async function attentionOf(bytes: Uint8Array, softmax: readonly string[], ids: readonly number[], extra: readonly string[] = []) {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) },
      [...softmax, ...extra]);
    return { attention: collectAttention(softmax.map((n) => ({ name: n, dims: out[n].dims, data: out[n].data })), ids.length), out };
  } finally {
    await session.release();
  }
}

describe('the on-disk cache of tapped models', () => {
  let storage: string;
  beforeEach(() => { storage = fs.mkdtempSync(path.join(os.tmpdir(), 'al-cache-')); });
  afterEach(() => { fs.rmSync(storage, { recursive: true, force: true }); });

  it('keys the entry by the SHA-256 of the file and the tap format, appends the full tap once, and reuses it', async () => {
    const src = path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'model.onnx');
    const bytes = fs.readFileSync(src);
    const summary = await scanOnnxFile(src);
    assert.equal(await sha256File(src), createHash('sha256').update(bytes).digest('hex'));
    const first = await cachedTappedModel(storage, src, summary);
    assert.deepEqual([first.reused, first.kind, path.basename(first.path)], [false, 'appended', `${first.sha256}.tap${TAP_FORMAT}.onnx`]);
    const tapped = fs.readFileSync(first.path);
    assert.deepEqual(tapped.subarray(0, bytes.length), bytes, 'original bytes first');
    const full = planFullTap(summary);
    assert.deepEqual(new Uint8Array(tapped.subarray(bytes.length)), full.suffix, 'then only the one suffix of the full tap');
    assert.ok(full.suffix.length > tapSuffix(full.plan).length, 'which holds more than the Softmax outputs');
    const again = await cachedTappedModel(storage, src, summary);
    assert.deepEqual([again.reused, again.path, again.writeMs], [true, first.path, 0]);
    assert.deepEqual([first.layerOrder, again.layerOrder], [full.plan.layerOrder, full.plan.layerOrder], 'the layer order, fresh or reused');
    assert.equal(first.layerOrder?.status, 'chain');
    assert.deepEqual(fs.readdirSync(path.join(storage, 'tapped')).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left');
  });

  it('two loads of the same new model at once both get the entry (each writes its own temporary file)', async () => {
    const src = path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'model.onnx');
    const summary = await scanOnnxFile(src);
    const [a, b] = await Promise.all([cachedTappedModel(storage, src, summary), cachedTappedModel(storage, src, summary)]);
    assert.equal(a.path, b.path);
    const full = planFullTap(summary);
    assert.equal(fs.statSync(a.path).size, fs.statSync(src).size + full.suffix.length);
    assert.deepEqual(fs.readdirSync(path.join(storage, 'tapped')).filter((f) => f.endsWith('.tmp')), []);
  });

  it('holds the Softmax and score-tap outputs: onnxruntime-node gives the same attention as the Softmax-only tap', async () => {
    const m = await loadModelFolder(bundledModelDir, { bundled: true, storageDir: storage });
    assert.ok(m.tappedPath?.startsWith(storage));
    const raw = new Uint8Array(fs.readFileSync(m.onnxPath));
    const cached = new Uint8Array(fs.readFileSync(m.tappedPath!));
    const { plan, sources } = planFullTap(scanOnnx(raw));
    const scoreNames = scoreTapNames(sources);
    assert.equal(sources.length, plan.softmaxOutputs.length, 'a score source per layer');
    assert.ok(sources.every((s) => s.q && s.kT && s.v), 'Q, Kᵀ and V found in every layer');
    const outputs = scanOnnx(cached).outputs.map((o) => o.name);
    for (const n of [...plan.softmaxOutputs, ...scoreNames]) assert.ok(outputs.includes(n), `${n} is a graph output of the cached file`);

    const ref = loadReference().reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    const T = ref.ids.length;
    const before = await attentionOf(tapAttention(raw, planTap(scanOnnx(raw))), plan.softmaxOutputs, ref.ids);
    const now = await attentionOf(cached, plan.softmaxOutputs, ref.ids, scoreNames);
    assert.ok(maxAbsDiff(now.attention.data, before.attention.data) <= 1e-6, 'same attention as the Softmax-only tap');
    assert.ok(maxAbsDiff(now.attention.data, ref.attention) <= 1e-4, 'and as PyTorch');
    // The score taps are what feeds each Softmax: softmax(scores) is the attention, V is [1, H, T, d].
    const H = now.attention.heads;
    sources.forEach((s, layer) => {
      const scores = now.out[s.logits].data as Float32Array;
      const row = (h: number, i: number) => {
        const x = Array.from(scores.subarray((h * T + i) * T, (h * T + i + 1) * T));
        const mx = Math.max(...x);
        const e = x.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / z);
      };
      const want = now.attention.data.subarray(((layer * H + H - 1) * T + T - 1) * T, ((layer * H + H - 1) * T + T) * T);
      assert.ok(maxAbsDiff(row(H - 1, T - 1), want) <= 1e-5, `layer ${layer}: softmax of the tapped scores`);
      assert.deepEqual(now.out[s.v!].dims.slice(0, 3).map(Number), [1, H, T]);
    });
  });

  it('the worker taps a raw file into the very bytes the host caches, and takes a cached file as it is', async () => {
    const files = [['tiny-gpt2', 'model.onnx'], ['tiny-gpt2', 'model_fp16.onnx'], ['tiny-bert', 'model.onnx'],
      ['tiny-t5', 'encoder_model.onnx'], ['tiny-t5', 'decoder_model.onnx'], ['tiny-gpt2', 'decoder_model_merged.onnx']];
    for (const [name, file] of files) {
      const src = path.join(testModelsDir, name, 'onnx', file);
      const entry = await cachedTappedModel(storage, src, await scanOnnxFile(src));
      const cached = new Uint8Array(fs.readFileSync(entry.path));
      const raw = new Uint8Array(fs.readFileSync(src));
      const inWorker = tapAll(raw);
      assert.deepEqual(Buffer.from(inWorker.tapped), Buffer.from(cached), `${name}/${file}: worker and host taps agree`);
      const pre = tapAll(cached);
      assert.equal(pre.tapped, cached, `${name}/${file}: a pre-tapped model is used as is`);
      assert.equal(pre.added, 0);
      assert.deepEqual(pre.sources, inWorker.sources, `${name}/${file}: the score sources re-planned from the cached graph`);
      assert.deepEqual(pre.plan.softmaxOutputs, inWorker.plan.softmaxOutputs);
    }
  });

  it('does not reuse an entry of the old (Softmax-only) format, and deletes it once replaced', async () => {
    const src = path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'model.onnx');
    const bytes = new Uint8Array(fs.readFileSync(src));
    const sha = await sha256File(src);
    const dir = path.join(storage, 'tapped');
    fs.mkdirSync(dir, { recursive: true });
    const old = path.join(dir, `${sha}.onnx`);
    fs.writeFileSync(old, tapAttention(bytes, planTap(scanOnnx(bytes)))); // what format 1 wrote
    const other = path.join(dir, `${'0'.repeat(64)}.tap1.onnx`);
    fs.writeFileSync(other, 'x');
    const entry = await cachedTappedModel(storage, src, await scanOnnxFile(src));
    assert.equal(entry.reused, false);
    assert.equal(path.basename(entry.path), cacheFileName(sha));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')), [cacheFileName(sha)]);
  });

  it('stores a merged decoder rewritten, and reuses it without reading the model again', async () => {
    const src = path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'decoder_model_merged.onnx');
    const summary = await scanOnnxFile(src);
    const readFile = fsp.readFile;
    const reads: string[] = [];
    (fsp as { readFile: unknown }).readFile = (file: string, ...rest: unknown[]) => {
      reads.push(String(file));
      return (readFile as (...a: unknown[]) => unknown)(file, ...rest);
    };
    let entry, again;
    try {
      entry = await cachedTappedModel(storage, src, summary);
      assert.deepEqual(reads.filter((f) => f === src).length, 1, 'read once to rewrite it');
      again = await cachedTappedModel(storage, src, summary);
      assert.deepEqual(reads.filter((f) => f === src).length, 1, 'and not read again when its entry exists');
    } finally {
      (fsp as { readFile: unknown }).readFile = readFile;
    }
    assert.deepEqual([entry.kind, entry.reused, again.reused, again.path], ['rewritten', false, true, entry.path]);
    // The branches' layer order, checked while rewriting, is kept beside the entry for later loads.
    assert.equal(entry.layerOrder?.status, 'chain');
    assert.deepEqual(again.layerOrder, entry.layerOrder);
    const rewritten = rewriteSubgraphs(new Uint8Array(fs.readFileSync(src)))!.bytes;
    assert.deepEqual(new Uint8Array(fs.readFileSync(entry.path)), rewritten);
    const session = await ort.InferenceSession.create(fs.readFileSync(entry.path));
    assert.ok(planTap(scanOnnx(rewritten)).softmaxOutputs.every((n) => session.outputNames.includes(n)));
    await session.release();
  });
});
