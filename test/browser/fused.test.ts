/**
 * The panel on fused-attention models (test/models/tiny-fused), in Chromium on WASM: for each fused operator the
 * attention the worker recomputes from the operator's inputs must match the Softmax tap of the unfused twin (same
 * weights) to 1e-5, come back in the same form, and the header must say it was recomputed. On WebGPU (SwiftShader)
 * too, where onnxruntime-web's kernels run GroupQueryAttention without softcap and ONNX Attention, and refuse the rest.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TokenInfo } from '../../src/shared/protocol';
import { maxAbsDiff, repoRoot } from '../support/model';
import { deliver, launch, openWebview, postedOfType, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const VARIANTS = ['ms-attention', 'ms-mha', 'ms-gqa', 'ms-gqa-packed', 'onnx-attention'];
// onnxruntime-web 1.30's WebGPU kernels refuse these (measured): the panel falls back to WASM and says why.
const WEBGPU_REFUSES: Record<string, RegExp> = {
  'ms-attention': /Kernel "\[Attention\] .*Mask not supported/, 'ms-mha': /Kernel "\[MultiHeadAttention\] .*Mask not supported/,
  'ms-gqa-packed': /Kernel "\[GroupQueryAttention\] .*Softcap is not supported/,
};
const TOLERANCE = 1e-5;

for (const backend of ['wasm', 'webgpu'] as const) describe(`panel webview on fused-attention models (${backend})`, function () {
  this.timeout(120000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  let runId = 500;

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: backend === 'webgpu' });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Runs one file of tiny-fused on `ids` in the panel and returns its posted result and the header badge. */
  async function show(file: string, ids: number[], recompute?: 'always'): Promise<{ result: any; badge: string | null; badgeTitle: string | null }> {
    const tokens: TokenInfo[] = ids.map((id) => ({ id, text: `#${id}`, start: -1, end: -1 }));
    runId++;
    await deliver(page, {
      type: 'show', runId, documentLabel: file, text: ids.map((i) => `#${i}`).join(''), tokens,
      model: {
        name: file, onnxUri: `${server.origin}/test/models/tiny-fused/onnx/${file}`, maxTokens: 32, extraInputs: [],
        tokenizerUri: `${server.origin}/test/models/tiny-gpt2/tokenizer.json`,
      },
      backend, notices: [], timings: {}, ...(recompute ? { recompute } : {}),
    });
    const result = await Promise.race([
      waitForPosted(page, 'result', runId),
      waitForPosted(page, 'runError', runId).then((e) => { throw new Error(`run error: ${e.message}`); }),
    ]);
    const el = page.locator('#recomputed');
    return { result, badge: await el.isVisible() ? await el.textContent() : null, badgeTitle: await el.getAttribute('title') };
  }

  for (const name of VARIANTS) {
    it(`${name}: recomputed attention matches the unfused twin's Softmax tap to ${TOLERANCE}, and the header says so`, async () => {
      const ids = Array.from({ length: 19 }, (_, i) => (i * 5 + 3 + (i % 3)) % 32);
      const fused = await show(`${name}.onnx`, ids);
      assert.equal(fused.badge, 'attention recomputed from the fused operator\'s inputs');
      assert.match(fused.badgeTitle ?? '', /layers 0–1 were recomputed/);
      if (backend === 'webgpu' && WEBGPU_REFUSES[name]) {
        assert.equal(fused.result.backendUsed, 'wasm');
        assert.match(fused.result.fallbackReason ?? '', WEBGPU_REFUSES[name]);
      } else if (backend === 'webgpu') assert.equal(fused.result.backendUsed, 'webgpu', `fell back: ${fused.result.fallbackReason}`);
      const twin = await show(`${name}_unfused.onnx`, ids);
      assert.equal(twin.badge, null, 'no badge for a Softmax tap');
      const a = fused.result.attention;
      const b = twin.result.attention;
      assert.deepEqual([a.kind, a.layers, a.heads, a.queries, a.keys, a.causal], [b.kind, 2, 4, 19, 19, true]);
      const diff = maxAbsDiff(a.data, b.data);
      console.log(`    ${name} (${backend}): max |recomputed − unfused tap| = ${diff.toExponential(2)}`);
      assert.ok(diff <= TOLERANCE, `max abs diff ${diff} > ${TOLERANCE}`);
    });
  }

  if (backend === 'wasm') {
    it('pages fused layers from Q and K where their form is plain (recomputeAttention: always), and still matches the twin', async () => {
      const ids = Array.from({ length: 23 }, (_, i) => (i * 3 + 1 + (i % 4)) % 32);
      for (const name of VARIANTS) {
        const paged = await show(`${name}.onnx`, ids, 'always');
        const twin = await show(`${name}_unfused.onnx`, ids);
        // ms-gqa-packed and onnx-attention softcap their scores: no layer pages, so they are recomputed whole as before.
        const plain = !/packed|onnx-attention/.test(name);
        assert.deepEqual(paged.result.paths?.map((p: { path: string }) => p.path), plain ? ['qk', 'qk'] : undefined, name);
        assert.equal(paged.badge, plain ? null : 'attention recomputed from the fused operator\'s inputs', name);
        const diff = maxAbsDiff(paged.result.attention.data, twin.result.attention.data);
        assert.ok(diff <= TOLERANCE, `${name} paged: max abs diff ${diff} > ${TOLERANCE}`);
      }
    });

    it('explains a clicked heatmap weight of a recomputed GroupQueryAttention head: q·k after rotary, ÷√d_k, mask, softmax', async () => {
      const ids = Array.from({ length: 19 }, (_, i) => (i * 5 + 3 + (i % 3)) % 32);
      const { result } = await show('ms-gqa.onnx', ids);
      const { heads: H, queries: T } = result.attention;
      const select = async (id: string, value: string) => {
        await page.locator(`#${id}`).click();
        await page.locator(`#${id} vscode-option[value="${value}"]`).click();
        await page.waitForFunction(({ id, value }) => (globalThis as any).document.getElementById(id).value === value, { id, value });
      };
      await select('layer-select', '1');
      await select('head-select', '3');
      await page.locator('#tab-heatmap').click();
      await page.waitForFunction(() => /L1 H3/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
      const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
      const i = T - 2;
      const row = result.attention.data.slice(((1 * H + 3) * T + i) * T, ((1 * H + 3) * T + i + 1) * T) as number[];
      const j = row.indexOf(Math.max(...row));
      await page.locator('#heatmap').click({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
      await page.waitForSelector('#explain[data-source="qk"]');
      const d = await page.$eval('#explain', (e: any) => ({ ...e.dataset, text: e.textContent }));
      console.log(`    explained L1 H3 (${i}, ${j}): q·k = ${d.dot}, ÷√16 = ${d.scaled}, α = ${d.weight}, heatmap ${row[j].toFixed(6)}`);
      assert.deepEqual([Number(d.query), Number(d.key)], [i, j]);
      assert.ok(Math.abs(Number(d.weight) - row[j]) <= 1e-5, `${d.weight} vs ${row[j]}`);
      assert.equal(d.match, 'true');
      assert.match(d.text, /÷ √d_k = ÷ √16/);
      await page.locator('#tab-tokens').click();
    });
  }

  it('reported no run errors and no console errors', async () => {
    assert.deepEqual(await postedOfType(page, 'runError'), []);
    // onnxruntime logs the WebGPU kernels it could not run (the fallbacks above) to the console.
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e) && !(backend === 'webgpu' && /Failed to run JSEP kernel/.test(e))), []);
  });
});
