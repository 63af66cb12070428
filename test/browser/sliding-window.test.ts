/**
 * Sliding-window layers in the panel's worker (issue 16), in a real Chromium on WASM: tiny-window's layers 0 and 2 see
 * 8 keys, layer 1 all earlier ones (config.json layer_types). A first run of 6 tokens would check the layers on 8
 * tokens, too few to show an 8-token window; the declared windows (ModelInfo.slidingWindows, from config.json) make the
 * worker check on 10 instead, so a later 64-token run is recomputed with the window and matches PyTorch to 1e-5.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { maxAbsDiff, repoRoot } from '../support/model';
import { loadTestReference, testModelsDir } from '../support/test-models';
import { declaredWindows } from '../../src/shared/sliding-window';
import { deliver, launch, openWebview, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-window', 'config.json'), 'utf8'));

/** Tokens for `ids` over a text of their numbers separated by spaces. */
function tokensOf(ids: readonly number[]) {
  let at = 0;
  const tokens = ids.map((id) => {
    const text = String(id);
    const t = { id, text, start: at, end: at + text.length };
    at += text.length + 1;
    return t;
  });
  return { text: ids.join(' '), tokens };
}

describe('sliding-window layers recomputed in the panel (tiny-window, Chromium, WASM)', function () {
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

  it('checks past the declared window on a short first run, then recomputes a 64-token run that matches PyTorch', async () => {
    const errors: string[] = [];
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    const ref = loadTestReference('tiny-window')[0];
    const base = `${server.origin}/test/models/tiny-window`;
    const show = (runId: number, ids: readonly number[]) => ({
      type: 'show', runId, documentLabel: 'tiny-window', ...tokensOf(ids),
      model: { name: 'tiny-window', onnxUri: `${base}/onnx/model.onnx`, maxTokens: 128, context: 128,
        extraInputs: ['attention_mask', 'position_ids'], tokenizerUri: `${base}/tokenizer.json`, slidingWindows: declaredWindows(config) },
      backend: 'wasm', recompute: 'always', notices: [], timings: { tokenizeMs: 1 },
    });
    await deliver(page, show(1, ref.ids.slice(0, 6)));
    const first = await waitForPosted(page, 'result', 1);
    const pathsOf = (r: { paths?: { path: string; window?: number }[] }) => r.paths?.map((p) => `${p.path}${p.window ? ` (window ${p.window})` : ''}`);
    assert.deepEqual(pathsOf(first), ['qk (window 8)', 'qk', 'qk (window 8)']);
    await deliver(page, show(2, ref.ids));
    const r = await waitForPosted(page, 'result', 2);
    assert.deepEqual(pathsOf(r), ['qk (window 8)', 'qk', 'qk (window 8)'], 'every layer recomputed from Q and K');
    assert.match((await page.locator('#paths').getAttribute('title')) ?? '', /sliding window .*: layer 0 \(8\), layer 2 \(8\)\./);
    const diff = maxAbsDiff(r.attention.data, ref.tensors.attention.data);
    console.log(`    T = ${ref.ids.length}: max |recomputed − PyTorch| = ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-5, `max |recomputed − PyTorch| = ${diff}`);
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });
});
