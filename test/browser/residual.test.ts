/**
 * The Residual view in a real Chromium on the bundled model, against numbers computed here with onnxruntime-node
 * from tensors found by their node names (not by the walk under test): P·V of each layer ('/blocks.l/MatMul_1'),
 * the projection weight as stored ('blocks.l.proj.weight', PyTorch's [out, in]) and the residual Add's first input.
 * The ratios the canvas draws, at a locked token and averaged, must be those; a quantized model says why per layer.
 * Takes the README's screenshot (test-output/screenshots/residual-dark.png).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { appendSuffix, encodeExtraOutputs } from '../../src/shared/onnx-tap';
import { readBundledOnnx, repoRoot } from '../support/model';
import path from 'node:path';
import { bundledShow, deliver, launch, nextFrames, openWebview, screenshotDir, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const TEXT = 'The cat sat on the mat. The cat sat on the mat again.';

/** ratio[l][h][i] = ‖P·V_h,i · W_hᵀ‖ / ‖residual_i‖ for the bundled model, from onnxruntime-node. */
async function oracleRatios(ids: number[]): Promise<number[][][]> {
  const ort = require('onnxruntime-node');
  const L = 3;
  const names = Array.from({ length: L }, (_, l) => [`/blocks.${l}/MatMul_1_output_0`, `blocks.${l}.proj.weight`, l === 0 ? '/Add_output_0' : `/blocks.${l - 1}/Add_2_output_0`]);
  const model = appendSuffix(readBundledOnnx(), encodeExtraOutputs(names.flat(), 0));
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const T = ids.length;
  const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]) }, names.flat());
  await session.release();
  return names.map(([pvName, wName, rName]) => {
    const pv = out[pvName];
    const [, H, , d] = pv.dims.map(Number);
    const w = out[wName].data as Float32Array; // [D_out, H·d]
    const D = Number(out[wName].dims[0]);
    const r = out[rName].data as Float32Array;
    return Array.from({ length: H }, (_, h) => Array.from({ length: T }, (_, i) => {
      let s = 0;
      for (let c = 0; c < D; c++) {
        let y = 0;
        for (let k = 0; k < d; k++) y += pv.data[(h * T + i) * d + k] * w[c * H * d + h * d + k];
        s += y * y;
      }
      let rr = 0;
      for (let c = 0; c < D; c++) rr += r[i * D + c] ** 2;
      return Math.sqrt(s) / Math.sqrt(rr);
    }));
  });
}

/** The canvas's drawn ratios ('at token' or 'mean'), once drawn: numbers, NaN for '—'. */
async function drawn(page: Page, which: 'atToken' | 'mean', runId: number): Promise<number[]> {
  await page.waitForFunction(({ w, runId }) => {
    const d = (globalThis as any).document.getElementById('residual').dataset;
    return d.run === String(runId) && !!d[w];
  }, { w: which, runId }, { timeout: 120000 });
  const s = await page.$eval('#residual', (c: any, w) => c.dataset[w] as string, which);
  return s.split(' ').map((x) => (x === '—' ? NaN : Number(x)));
}

describe('Residual view in Chromium', function () {
  this.timeout(240000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('draws ‖head output‖ / ‖residual‖ per layer and head, at a locked token and averaged, as onnxruntime-node computes them', async () => {
    const show = bundledShow(server.origin, 1, 'cats.txt', TEXT);
    await deliver(page, show);
    await waitForPosted(page, 'result', 1);
    const ids = (show.tokens as { id: number }[]).map((t) => t.id);
    const T = ids.length;
    const want = await oracleRatios(ids);
    const [L, H] = [want.length, want[0].length];
    await page.locator('#tab-residual').click();
    const mean = await drawn(page, 'mean', 1);
    assert.equal(mean.length, L * H);
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const m = want[l][h].reduce((a, b) => a + b, 0) / T;
        assert.ok(Math.abs(mean[l * H + h] - m) <= 1e-4, `mean L${l} H${h}: drawn ${mean[l * H + h]}, onnxruntime-node ${m}`);
      }
    }
    // Lock a token with the view's slider (keyboard: the range input), and the left grid shows that token.
    const token = T - 3;
    await page.locator('#residual-token').focus();
    await page.keyboard.press('End');
    for (let k = T - 1; k > token; k--) await page.keyboard.press('ArrowLeft');
    await page.waitForFunction((t) => (globalThis as any).document.getElementById('residual').dataset.token === String(t), token);
    const at = await drawn(page, 'atToken', 1);
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        assert.ok(Math.abs(at[l * H + h] - want[l][h][token]) <= 1e-4, `L${l} H${h} at ${token}: drawn ${at[l * H + h]}, onnxruntime-node ${want[l][h][token]}`);
      }
    }
    // The keyboard cursor reads out one cell's norms.
    await page.locator('#residual').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    assert.match(await page.locator('#residual-status').textContent() ?? '', /^L1 H1: ‖head output‖ [\d.]+, ‖residual‖ [\d.]+, ratio [\d.]+; mean ratio/);
    assert.match(await page.locator('#residual-meaning').textContent() ?? '', /How much each head writes into the residual stream/);
    await nextFrames(page);
    // The README's picture: the panel down to the view's status line.
    const status = (await page.locator('#residual-status').boundingBox())!;
    const width = await page.evaluate(() => (globalThis as any).document.documentElement.clientWidth as number);
    await page.screenshot({ path: path.join(screenshotDir(repoRoot), 'residual-dark.png'), clip: { x: 0, y: 0, width, height: status.y + status.height + 12 } });
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []); // 404: the test server has no favicon
  });

  it('gives the same numbers when the run is paged (attention recomputed from Q and K, a narrowed session)', async () => {
    const show = bundledShow(server.origin, 3, 'cats.txt', TEXT, { recompute: 'always' });
    await deliver(page, show);
    const result = await waitForPosted(page, 'result', 3);
    assert.ok(result.paths, 'the run was paged');
    const ids = (show.tokens as { id: number }[]).map((t) => t.id);
    const want = await oracleRatios(ids);
    const H = want[0].length;
    const mean = await drawn(page, 'mean', 3);
    want.forEach((layer, l) => layer.forEach((r, h) => {
      const m = r.reduce((a, b) => a + b, 0) / ids.length;
      assert.ok(Math.abs(mean[l * H + h] - m) <= 1e-4, `paged mean L${l} H${h}: drawn ${mean[l * H + h]}, onnxruntime-node ${m}`);
    }));
  });

  it('says per layer why a quantized model’s heads are not decomposed, instead of failing', async () => {
    const show = bundledShow(server.origin, 2, 'cats.txt', TEXT, {});
    const model = show.model as Record<string, unknown>;
    await deliver(page, { ...show, model: { ...model, name: 'tiny-gpt2 int8', onnxUri: `${server.origin}/test/models/tiny-gpt2/onnx/model_quantized.onnx`,
      tokenizerUri: `${server.origin}/test/models/tiny-gpt2/tokenizer.json` } });
    await waitForPosted(page, 'result', 2);
    const mean = await drawn(page, 'mean', 2);
    assert.ok(mean.length > 0 && mean.every(Number.isNaN), 'every layer shows —');
    const reasons = await page.locator('#residual-reasons li').allTextContents();
    assert.equal(reasons.length, 2);
    for (const r of reasons) assert.match(r, /^Layer \d is not decomposed: W_O is quantized/);
  });
});
