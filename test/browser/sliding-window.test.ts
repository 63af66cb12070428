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
import { deliver, launch, numberTokens, openWebview, selectDropdown, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-window', 'config.json'), 'utf8'));

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
      type: 'show', runId, documentLabel: 'tiny-window', ...numberTokens(ids),
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

    // The heatmap masks what the window hides, as it masks future tokens: hatched, and the tip says why.
    await page.locator('#tab-heatmap').click();
    const tipAt = async (layer: number, i: number, j: number) => {
      await selectDropdown(page, 'layer-select', String(layer));
      await selectDropdown(page, 'head-select', '1');
      await page.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0);
      const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
      await page.mouse.move(1, 1);
      await page.locator('#heatmap').hover({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
      await page.waitForFunction(([a, b]) => {
        const t = (globalThis as any).document.getElementById('heatmap-tip');
        return !t.hidden && t.dataset.row === String(a) && t.dataset.col === String(b);
      }, [i, j]);
      const colours = await page.$eval('#heatmap', (c: any, a: number[]) => {
        const [x0, y0, cell, i, j] = a;
        const k = c.width / c.clientWidth;
        const px = c.getContext('2d').getImageData(Math.ceil((x0 + j * cell) * k) + 1, Math.ceil((y0 + i * cell) * k) + 1,
          Math.max(1, Math.floor(cell * k) - 2), Math.max(1, Math.floor(cell * k) - 2)).data;
        const seen = new Set<string>();
        for (let p = 0; p < px.length; p += 4) seen.add(`${px[p]},${px[p + 1]},${px[p + 2]}`);
        return seen.size;
      }, [g.x0, g.y0, g.cell, i, j]);
      return { text: (await page.locator('#heatmap-tip').textContent()) ?? '', colours };
    };
    const [i, j] = [40, 12];
    const sliding = await tipAt(0, i, j);
    assert.match(sliding.text, /masked \(outside the layer's sliding window of 8 tokens\)/);
    assert.ok(sliding.colours >= 2, 'the cell left of the window is hatched');
    const full = await tipAt(1, i, j);
    assert.match(full.text, /weight \d\.\d{4}/, 'the full layer sees that key');
    assert.doesNotMatch(full.text, /masked/);
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });
});
