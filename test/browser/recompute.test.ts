/**
 * Attention recomputed from Q and K in the panel's worker (issue 16), in a real Chromium: with
 * attentionLens.recomputeAttention 'always' the worker identifies the bundled model's layers on a short run, keeps
 * only Q and Kᵀ, and answers the host's questions (whole heads, single rows) from them; every answer matches PyTorch's
 * attention to 1e-5, and the header says where the attention came from. 'never' taps the Softmax as before.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, loadReference, maxAbsDiff, repoRoot, type ReferenceEntry } from '../support/model';
import { deliver, launch, openWebview, waitForPosted, tokenize, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const TOLERANCE = 1e-5;
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

function showMessage(server: TestServer, runId: number, ref: ReferenceEntry, recompute: 'always' | 'never', backend: 'wasm' | 'webgpu' = 'wasm') {
  return {
    type: 'show', runId, documentLabel: 'reference.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
      maxTokens: config.n_positions ?? 128, extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
    },
    backend, recompute, notices: [], timings: { tokenizeMs: 1 },
  };
}

/** One 'row' question to the panel, as the host asks it for an editor hover. */
async function askRow(page: Page, runId: number, layer: number, head: number, query: number): Promise<number[]> {
  return page.evaluate(async ({ runId, layer, head, query }) => {
    const g = globalThis as any;
    const id = (g.__testQueryId = (g.__testQueryId ?? 2_000_000) + 1);
    g.postMessage({ type: 'query', id, runId, query: { kind: 'row', head: { stack: 'self', layer, head }, query } }, '*');
    for (;;) {
      const a = g.__posted.find((m: any) => m.type === 'answer' && m.id === id);
      if (a) {
        if (a.error) throw new Error(a.error);
        return Array.from<number>(new Float32Array(a.answer.weights));
      }
      await new Promise((r) => g.requestAnimationFrame(r));
    }
  }, { runId, layer, head, query });
}

describe('attention recomputed from Q and K in the panel (Chromium, WASM)', function () {
  this.timeout(180000);
  let browser: Browser;
  let server: TestServer;
  const refs = loadReference();

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'worker.js')), 'run node scripts/build.mjs first');
    browser = await launch({ webgpu: false });
    server = await startServer(repoRoot);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('recomputes every layer, and its heads and rows match PyTorch; "never" taps the Softmax', async () => {
    const errors: string[] = [];
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    for (let k = 0; k < refs.length; k++) {
      const ref = refs[k];
      const [L, H, T] = ref.attentionShape;
      await deliver(page, showMessage(server, 1 + k, ref, 'always'));
      const r = await waitForPosted(page, 'result', 1 + k);
      assert.deepEqual(r.paths, Array.from({ length: L }, () => ({ path: 'qk' })), 'every layer recomputed from Q and K');
      const diff = maxAbsDiff(r.attention.data, ref.attention);
      assert.ok(diff <= TOLERANCE, `heads: max |recomputed − PyTorch| = ${diff}`);
      for (const [l, h, i] of [[0, 2, T - 1], [L - 1, H - 1, Math.floor(T / 2)], [1, 0, 0]]) {
        const row = await askRow(page, 1 + k, l, h, i);
        const want = ref.attention.subarray(((l * H + h) * T + i) * T, ((l * H + h) * T + i + 1) * T);
        assert.ok(maxAbsDiff(row, want) <= TOLERANCE, `row L${l} H${h} #${i}`);
        assert.ok(row.slice(i + 1).every((v) => v === 0), 'causal: zeros after the query');
      }
      console.log(`    T=${T}: max |recomputed − PyTorch| = ${diff.toExponential(2)}`);
      const badge = page.locator('#paths');
      assert.equal(await badge.isVisible(), true);
      assert.equal((await badge.textContent())?.trim(), 'attention recomputed from Q and K');
      assert.match((await badge.getAttribute('title')) ?? '', /within 0\.00001|within 1e-5/);
    }
    await deliver(page, showMessage(server, 9, refs[0], 'never'));
    const r = await waitForPosted(page, 'result', 9);
    assert.equal(r.paths, undefined);
    assert.ok(maxAbsDiff(r.attention.data, refs[0].attention) <= TOLERANCE);
    assert.equal(await page.locator('#paths').isVisible(), false);
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), [], 'no CSP violation');
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });

  it('on WebGPU (SwiftShader) the check and the paged rows hold too, within WebGPU\'s 1e-4 of PyTorch', async () => {
    const gpu = await launch({ webgpu: true });
    try {
      const page = await openWebview(gpu, `${server.origin}/panel.html`);
      const ref = refs[1];
      await deliver(page, showMessage(server, 1, ref, 'always', 'webgpu'));
      const r = await waitForPosted(page, 'result', 1);
      assert.equal(r.backendUsed, 'webgpu', r.fallbackReason);
      console.log(`    WebGPU paths: ${JSON.stringify(r.paths)}`);
      assert.ok(r.paths?.length === ref.attentionShape[0], 'the run was paged');
      const diff = maxAbsDiff(r.attention.data, ref.attention);
      assert.ok(diff <= 1e-4, `WebGPU paged vs PyTorch: ${diff}`);
    } finally {
      await gpu.close();
    }
  });
});
