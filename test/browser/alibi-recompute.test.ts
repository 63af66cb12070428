/**
 * ALiBi layers recomputed in the panel's worker (issue 16), in a real Chromium on WASM: tiny-bloom's layers add
 * slope_h × key position to q·k/√d (BLOOM's baddbmm). A first 6-token run identifies both layers as recomputed with a
 * per-key bias; a 32-token run then fetches Q, Kᵀ and the bias through the narrowed session, and its attention equals
 * the PyTorch oracle (test/models/recipe/bloom_oracle.py) and the worker's own Softmax tap ('never') within 1e-5.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { maxAbsDiff, repoRoot } from '../support/model';
import { testModelsDir } from '../support/test-models';
import { idsOf } from '../support/qk-layers';
import { deliver, launch, numberTokens, openWebview, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

describe('ALiBi layers recomputed in the panel (tiny-bloom, Chromium, WASM)', function () {
  this.timeout(180000);
  let browser: Browser;
  let server: TestServer;

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'worker.js')), 'run node scripts/build.mjs first');
    browser = await launch({ webgpu: false });
    server = await startServer(repoRoot);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('identifies both layers with their bias on a short run, then a 32-token run matches PyTorch and the Softmax tap', async function () {
    const errors: string[] = [];
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    const show = (runId: number, ids: readonly number[], recompute: 'always' | 'never') => ({
      type: 'show', runId, documentLabel: 'tiny-bloom', ...numberTokens(ids),
      model: { name: 'tiny-bloom', onnxUri: `${server.origin}/test/models/tiny-bloom/onnx/model.onnx`, maxTokens: 32, context: 32,
        extraInputs: ['attention_mask'] },
      backend: 'wasm', recompute, notices: [], timings: { tokenizeMs: 1 },
    });
    const ids = idsOf(32);
    await deliver(page, show(1, ids.slice(0, 6), 'always'));
    const first = await waitForPosted(page, 'result', 1);
    assert.deepEqual(first.paths, [{ path: 'qk', bias: true, on: 'js' }, { path: 'qk', bias: true, on: 'js' }]);
    assert.match((await page.locator('#paths').getAttribute('title')) ?? '', /per-key position bias \(ALiBi\)[^.]*: layer 0, layer 1\./);
    await deliver(page, show(2, ids, 'always'));
    const paged = await waitForPosted(page, 'result', 2);
    assert.deepEqual(paged.paths?.map((p: { path: string }) => p.path), ['qk', 'qk']);
    await deliver(page, show(3, ids, 'never'));
    const tapped = await waitForPosted(page, 'result', 3);
    assert.equal(tapped.paths, undefined, 'the Softmax path');
    const vsTap = maxAbsDiff(paged.attention.data, tapped.attention.data);
    assert.ok(vsTap <= 1e-5, `max |recomputed − Softmax tap| = ${vsTap}`);
    // PyTorch's attention on these ids, stored with the model by test/models/recipe/bloom_oracle.py (alibi-paged.test.ts
    // checks it against a fresh run where python3-torch is installed).
    const stored = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-bloom', 'reference', 'torch-attention-32.json'), 'utf8')) as
      { ids: number[]; attention: number[][][][] };
    assert.deepEqual(stored.ids, ids);
    const vsTorch = maxAbsDiff(paged.attention.data, Float32Array.from(stored.attention.flat(3)));
    assert.ok(vsTorch <= 1e-5, `max |recomputed − PyTorch| = ${vsTorch}`);
    console.log(`    T=32: max |recomputed − Softmax tap| = ${vsTap.toExponential(2)}, − PyTorch = ${vsTorch.toExponential(2)}`);
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });
});
