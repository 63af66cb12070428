import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelFolder } from '../../src/host/model-folder';
import { scanOnnxFile } from '../../src/host/onnx-file';
import { cacheFileName, cachedTappedModel, DEFAULT_TAP_CACHE_MAX_MB, sha256File, tapCacheMaxBytes, TEMP_MAX_AGE_MS } from '../../src/host/tap-cache';
import { planFullTap, tapAll, TAP_FORMAT } from '../../src/shared/full-tap';
import { collectAttention, planTap, scanOnnx, tapAttention, tapSuffix } from '../../src/shared/onnx-tap';
import { scoreTapNames } from '../../src/shared/score-tap';
import { rewriteSubgraphs } from '../../src/shared/tap-subgraph';
import { bundledModelDir, loadReference, maxAbsDiff, repoRoot } from '../support/model';
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

  describe('verified, atomic, bounded and shared (issue 11)', () => {
    const cacheDir = () => path.join(storage, 'tapped');
    const index = () => JSON.parse(fs.readFileSync(path.join(cacheDir(), 'index.json'), 'utf8'));
    const fixed = new Date('2020-01-02T03:04:05Z');
    /** A copy of a test model in the storage folder, with a fixed mtime. */
    const copyModel = (name: string, file: string, as = `${name}-${file}`) => {
      const dest = path.join(storage, 'src', as);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(path.join(testModelsDir, name, 'onnx', file), dest);
      fs.utimesSync(dest, fixed, fixed);
      return dest;
    };
    /** Lets the file system clock move on, so a later write gets another ctime. */
    const tick = () => new Promise((r) => setTimeout(r, 30));

    it('hashes a model rewritten with other bytes of the same size and mtime again, instead of reusing the old entry', async () => {
      const src = copyModel('tiny-gpt2', 'model.onnx');
      const first = await cachedTappedModel(storage, src, await scanOnnxFile(src), { racyMs: 0 });
      const before = fs.statSync(src);
      await tick();
      const bytes = fs.readFileSync(src);
      const at = bytes.indexOf('pytorch');
      assert.ok(at > 0);
      bytes.write('pytorcH', at, 'latin1'); // the producer name: same size, same graph
      fs.writeFileSync(src, bytes);
      fs.utimesSync(src, fixed, fixed);
      const after = fs.statSync(src);
      assert.deepEqual([after.size, after.mtimeMs], [before.size, before.mtimeMs], 'same size and mtime');
      const second = await cachedTappedModel(storage, src, await scanOnnxFile(src), { racyMs: 0 });
      assert.notEqual(second.sha256, first.sha256);
      assert.equal(second.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(second.reused, false);
      assert.deepEqual(fs.readFileSync(second.path).subarray(0, bytes.length), bytes, 'the entry holds the new bytes');
      assert.equal(index().sources[src].sha256, second.sha256);
      // Unchanged since, and hashed long enough after its last change: the stat key answers without reading it.
      const third = await cachedTappedModel(storage, src, await scanOnnxFile(src), { racyMs: 0 });
      assert.deepEqual([third.reused, third.sha256], [true, second.sha256]);
    });

    it('trusts a recorded stat key only when the file last changed racyMs (default 2 s) before it was hashed', async () => {
      const src = copyModel('tiny-gpt2', 'model.onnx');
      const summary = await scanOnnxFile(src);
      const real = (await cachedTappedModel(storage, src, summary)).sha256;
      // Pretend the record was hashed right after the last change (a rewrite in the same timestamp tick would then
      // look unchanged) and that it says something else: the rule must hash the file again.
      const ctimeMs = fs.statSync(src).ctimeMs;
      const forge = (hashedAt: number) => {
        const ix = index();
        ix.sources[src] = { ...ix.sources[src], sha256: 'f'.repeat(64), hashedAt };
        fs.writeFileSync(path.join(cacheDir(), 'index.json'), JSON.stringify(ix));
      };
      forge(ctimeMs + 500);
      assert.equal((await cachedTappedModel(storage, src, summary)).sha256, real, 'racy: hashed again');
      forge(ctimeMs + 500);
      assert.equal((await cachedTappedModel(storage, src, summary, { racyMs: 400 })).sha256, 'f'.repeat(64),
        'the same record outside the racy window is trusted (which is why the window matters)');
    });

    it('rewrites an entry zeroed in the middle (mtime put back) instead of reusing it', async () => {
      const src = copyModel('tiny-gpt2', 'model.onnx');
      const summary = await scanOnnxFile(src);
      const first = await cachedTappedModel(storage, src, summary, { racyMs: 0 });
      const good = fs.readFileSync(first.path);
      const st = fs.statSync(first.path);
      await tick();
      const fd = fs.openSync(first.path, 'r+');
      fs.writeSync(fd, Buffer.alloc(4096), 0, 4096, Math.floor(good.length / 2));
      fs.closeSync(fd);
      fs.utimesSync(first.path, st.atime, st.mtime);
      assert.equal(fs.statSync(first.path).size, good.length);
      const again = await cachedTappedModel(storage, src, summary, { racyMs: 0 });
      assert.equal(again.path, first.path);
      assert.equal(again.reused, false, 'the damaged entry is not reused');
      assert.deepEqual(fs.readFileSync(again.path), good, 'it is written again whole');
      assert.equal((await cachedTappedModel(storage, src, summary, { racyMs: 0 })).reused, true);
    });

    it('rewrites a merged-decoder entry replaced by 7 bytes of garbage, keeping its layer order', async () => {
      const src = copyModel('tiny-gpt2', 'decoder_model_merged.onnx');
      const summary = await scanOnnxFile(src);
      const first = await cachedTappedModel(storage, src, summary, { racyMs: 0 });
      const good = fs.readFileSync(first.path);
      fs.writeFileSync(first.path, 'garbage');
      const again = await cachedTappedModel(storage, src, summary, { racyMs: 0 });
      assert.deepEqual([again.kind, again.reused], ['rewritten', false]);
      assert.deepEqual(fs.readFileSync(again.path), good);
      assert.deepEqual(again.layerOrder, first.layerOrder);
      assert.equal(again.layerOrder?.status, 'chain');
      // Same size, other bytes: caught as well (the entry's own SHA-256 is recorded).
      await tick();
      const same = Buffer.from(good);
      same[same.length >> 1] ^= 0xff;
      fs.writeFileSync(first.path, same);
      assert.equal((await cachedTappedModel(storage, src, summary, { racyMs: 0 })).reused, false);
      assert.deepEqual(fs.readFileSync(first.path), good);
    });

    it('verifies an appended entry the index does not know by its bytes, and reuses it when intact', async () => {
      const src = copyModel('tiny-gpt2', 'model.onnx');
      const summary = await scanOnnxFile(src);
      const first = await cachedTappedModel(storage, src, summary);
      fs.rmSync(path.join(cacheDir(), 'index.json'));
      const again = await cachedTappedModel(storage, src, summary);
      assert.deepEqual([again.reused, again.path], [true, first.path]);
      assert.ok(index().entries[path.basename(first.path)], 'and records it');
    });

    it('keeps every index update when loads of different models run at once', async () => {
      const files = [['tiny-gpt2', 'model.onnx'], ['tiny-gpt2', 'model_fp16.onnx'], ['tiny-bert', 'model.onnx'],
        ['tiny-t5', 'encoder_model.onnx'], ['tiny-t5', 'decoder_model.onnx'], ['tiny-gpt2', 'decoder_model_merged.onnx']];
      const srcs = files.map(([n, f]) => copyModel(n, f));
      const summaries = await Promise.all(srcs.map((s) => scanOnnxFile(s)));
      const entries = await Promise.all(srcs.map((s, i) => cachedTappedModel(storage, s, summaries[i])));
      const ix = index();
      assert.deepEqual(Object.keys(ix.sources).sort(), [...srcs].sort(), 'every source hash is recorded');
      assert.deepEqual(Object.keys(ix.entries).sort(), entries.map((e) => path.basename(e.path)).sort(), 'and every entry');
      assert.deepEqual(fs.readdirSync(cacheDir()).filter((f) => f.endsWith('.tmp') || f === 'index.lock'), []);
      // A second round at once reuses them all.
      const again = await Promise.all(srcs.map((s, i) => cachedTappedModel(storage, s, summaries[i])));
      assert.ok(again.every((e) => e.reused));
      assert.equal(Object.keys(index().entries).length, srcs.length);
    });

    it('breaks a lock left by a crashed writer', async () => {
      fs.mkdirSync(cacheDir(), { recursive: true });
      const lock = path.join(cacheDir(), 'index.lock');
      fs.writeFileSync(lock, '999999\n');
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(lock, old, old);
      const src = copyModel('tiny-gpt2', 'model.onnx');
      await cachedTappedModel(storage, src, await scanOnnxFile(src));
      assert.ok(!fs.existsSync(lock));
      assert.ok(index().sources[src]);
    });

    it('deletes its temporary files older than some minutes on start, and leaves newer ones (another writer\'s)', async () => {
      fs.mkdirSync(cacheDir(), { recursive: true });
      const stale = path.join(cacheDir(), `${'a'.repeat(64)}.tap${TAP_FORMAT}.onnx.4242.0123456789ab.tmp`);
      const staleIndex = path.join(cacheDir(), 'index.json.4242.0123456789ab.tmp');
      const fresh = path.join(cacheDir(), `${'b'.repeat(64)}.tap${TAP_FORMAT}.onnx.4243.0123456789ab.tmp`);
      for (const f of [stale, staleIndex, fresh]) fs.writeFileSync(f, 'partial');
      const old = new Date(Date.now() - TEMP_MAX_AGE_MS - 60_000);
      for (const f of [stale, staleIndex]) fs.utimesSync(f, old, old);
      const src = copyModel('tiny-gpt2', 'model.onnx');
      await cachedTappedModel(storage, src, await scanOnnxFile(src));
      assert.deepEqual([fs.existsSync(stale), fs.existsSync(staleIndex), fs.existsSync(fresh)], [false, false, true]);
    });

    it('stays within its size limit, deleting the least recently used entries, never the one in use', async () => {
      const [a, b, c] = [copyModel('tiny-gpt2', 'model.onnx'), copyModel('tiny-bert', 'model.onnx'), copyModel('tiny-t5', 'encoder_model.onnx')];
      const sa = await scanOnnxFile(a);
      const sb = await scanOnnxFile(b);
      const sc = await scanOnnxFile(c);
      const size = (f: string, s: typeof sa) => fs.statSync(f).size + planFullTap(s).suffix.length;
      const ea = await cachedTappedModel(storage, a, sa);
      const eb = await cachedTappedModel(storage, b, sb);
      assert.equal((await cachedTappedModel(storage, a, sa)).reused, true); // a is now more recent than b
      const maxBytes = size(a, sa) + size(c, sc);
      const ec = await cachedTappedModel(storage, c, sc, { maxBytes });
      assert.deepEqual([fs.existsSync(ea.path), fs.existsSync(eb.path), fs.existsSync(ec.path)], [true, false, true], 'b was least recently used');
      assert.deepEqual(Object.keys(index().entries).sort(), [ea.path, ec.path].map((p) => path.basename(p)).sort());
      assert.deepEqual(Object.keys(index().sources).sort(), [a, c].sort(), 'and its source record goes with it');
      // A limit smaller than one entry keeps just the entry being returned.
      const again = await cachedTappedModel(storage, b, sb, { maxBytes: 1 });
      assert.deepEqual(fs.readdirSync(cacheDir()).filter((f) => f.endsWith('.onnx')), [path.basename(again.path)]);
    });

    it('a loaded model whose tapped copy was evicted since is loaded again, not handed out with a missing file', async () => {
      const first = await loadModelFolder(bundledModelDir, { bundled: true, storageDir: storage });
      assert.ok(first.tappedPath && fs.existsSync(first.tappedPath));
      assert.equal(await loadModelFolder(bundledModelDir, { bundled: true, storageDir: storage }), first, 'reused while its copy is there');
      fs.rmSync(first.tappedPath); // what eviction by another load does
      const again = await loadModelFolder(bundledModelDir, { bundled: true, storageDir: storage });
      assert.ok(again.tappedPath && fs.existsSync(again.tappedPath));
    });

    it('takes its limit from attentionLens.tapCacheMaxMB (package.json default, description in package.nls.json)', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
      const setting = manifest.contributes.configuration.properties['attentionLens.tapCacheMaxMB'];
      assert.equal(setting.default, DEFAULT_TAP_CACHE_MAX_MB);
      const nls = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
      assert.match(nls[setting.markdownDescription.replace(/%/g, '')], /least recently used/);
      assert.equal(tapCacheMaxBytes(100), 100 * 2 ** 20);
      assert.equal(tapCacheMaxBytes(0), 0);
      for (const bad of [undefined, -1, 'x', Number.NaN]) assert.equal(tapCacheMaxBytes(bad), DEFAULT_TAP_CACHE_MAX_MB * 2 ** 20);
    });
  });
});
