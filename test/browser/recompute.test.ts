/**
 * Attention recomputed from Q and K in the panel's worker (issue 16), in a real Chromium: with
 * attentionLens.recomputeAttention 'always' the worker identifies the bundled model's layers on a short run, keeps
 * only Q and Kᵀ, and answers the host's questions (whole heads, single rows) from them; every answer matches PyTorch's
 * attention to 1e-5, and the header says where the attention came from. 'never' taps the Softmax as before. On WebGPU
 * the statistics over every row (metrics, nearest heads, a thumbnail) stream their blocks from the GPU, say so, and
 * equal the WASM setting's JavaScript answers within 1e-5.
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

/** One question to the panel, as the host asks it: the answer (buffers as arrays), and where the worker says it was computed. */
async function ask(page: Page, runId: number, query: unknown): Promise<{ answer: any; on?: string }> {
  return page.evaluate(async ({ runId, query }) => {
    const g = globalThis as any;
    const id = (g.__testQueryId = (g.__testQueryId ?? 2_000_000) + 1);
    g.postMessage({ type: 'query', id, runId, query }, '*');
    for (;;) {
      const a = g.__posted.find((m: any) => m.type === 'answer' && m.id === id);
      if (a) {
        if (a.error) throw new Error(a.error);
        const answer = { ...a.answer };
        for (const f of ['data', 'weights']) if (answer[f] instanceof ArrayBuffer) answer[f] = Array.from(new Float32Array(answer[f]));
        return { answer, on: a.computedOn };
      }
      await new Promise((r) => g.requestAnimationFrame(r));
    }
  }, { runId, query });
}

/** One 'row' question to the panel, as the host asks it for an editor hover: the row, and where the worker says it was computed. */
async function askRow(page: Page, runId: number, layer: number, head: number, query: number): Promise<{ row: number[]; on?: string }> {
  const { answer, on } = await ask(page, runId, { kind: 'row', head: { stack: 'self', layer, head }, query });
  return { row: answer.weights, on };
}

/** Statistics over every row, asked of a run (metrics, nearest heads, a pooled thumbnail), as the grid and metrics views ask them. */
const STATISTICS = (T: number, ids: number[]) => [
  { kind: 'metrics', stack: 'self', ids },
  { kind: 'nearest', head: { stack: 'self', layer: 1, head: 2 }, count: 3 },
  { kind: 'matrix', head: { stack: 'self', layer: 2, head: 0 }, maxSide: Math.ceil(T / 3) },
];

/** The largest difference between two answers' numbers (metrics' values, nearest heads' divergences, a matrix's cells and scale). */
function statDiff(a: any, b: any): number {
  const pairs: [number, number][] = [];
  if (a.kind === 'metrics') a.rows.forEach((r: any, k: number) => ['entropy', 'previousToken', 'sink', 'self', 'distance'].forEach((f) => pairs.push([r[f], b.rows[k][f]])));
  if (a.kind === 'nearest') a.heads.forEach((n: any, k: number) => pairs.push([n.meanJsd, b.heads[k].meanJsd]));
  if (a.kind === 'matrix') {
    assert.equal(a.data.length, b.data.length);
    a.data.forEach((v: number | null, k: number) => pairs.push([v ?? NaN, b.data[k] ?? NaN]));
    pairs.push([a.scale, b.scale]);
  }
  assert.ok(pairs.length > 0);
  return Math.max(...pairs.map(([x, y]) => (Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y))));
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
      // No WebGPU adapter in this browser: the worker recomputes rows in its JavaScript, and says so.
      assert.deepEqual(r.paths, Array.from({ length: L }, () => ({ path: 'qk', on: 'js' })), 'every layer recomputed from Q and K');
      const diff = maxAbsDiff(r.attention.data, ref.attention);
      assert.ok(diff <= TOLERANCE, `heads: max |recomputed − PyTorch| = ${diff}`);
      for (const [l, h, i] of [[0, 2, T - 1], [L - 1, H - 1, Math.floor(T / 2)], [1, 0, 0]]) {
        const { row, on } = await askRow(page, 1 + k, l, h, i);
        assert.equal(on, 'js');
        const want = ref.attention.subarray(((l * H + h) * T + i) * T, ((l * H + h) * T + i + 1) * T);
        assert.ok(maxAbsDiff(row, want) <= TOLERANCE, `row L${l} H${h} #${i}`);
        assert.ok(row.slice(i + 1).every((v) => v === 0), 'causal: zeros after the query');
      }
      console.log(`    T=${T}: max |recomputed − PyTorch| = ${diff.toExponential(2)}`);
      const badge = page.locator('#paths');
      assert.equal(await badge.isVisible(), true);
      assert.equal((await badge.textContent())?.trim(), 'attention recomputed from Q and K in the worker\'s JavaScript');
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

  it('on WebGPU (SwiftShader) the worker recomputes hovered rows and heads on the GPU, matching PyTorch within 1e-5; the WASM setting keeps them in JavaScript', async () => {
    const gpu = await launch({ webgpu: true });
    try {
      const page = await openWebview(gpu, `${server.origin}/panel.html`);
      const ref = refs[1];
      const [L, H, T] = ref.attentionShape;
      await deliver(page, showMessage(server, 1, ref, 'always', 'webgpu'));
      const r = await waitForPosted(page, 'result', 1);
      assert.equal(r.backendUsed, 'webgpu', r.fallbackReason);
      assert.deepEqual(r.paths, Array.from({ length: L }, () => ({ path: 'qk', on: 'webgpu' })), 'every layer\'s rows on WebGPU');
      const diff = maxAbsDiff(r.attention.data, ref.attention);
      assert.ok(diff <= TOLERANCE, `WebGPU paged heads vs PyTorch: ${diff}`);
      let worst = 0;
      for (const [l, h, i] of [[0, 2, T - 1], [L - 1, H - 1, Math.floor(T / 2)], [1, 0, 0], [2, 1, 3]]) {
        const { row, on } = await askRow(page, 1, l, h, i);
        assert.equal(on, 'webgpu', `row L${l} H${h} #${i} computed on the GPU`);
        worst = Math.max(worst, maxAbsDiff(row, ref.attention.subarray(((l * H + h) * T + i) * T, ((l * H + h) * T + i + 1) * T)));
        assert.ok(row.slice(i + 1).every((v) => v === 0), 'causal: zeros after the query');
      }
      assert.ok(worst <= TOLERANCE, `WebGPU rows vs PyTorch: ${worst}`);
      console.log(`    WebGPU: max |heads − PyTorch| = ${diff.toExponential(2)}, hovered rows ${worst.toExponential(2)}`);
      assert.equal((await page.locator('#paths').textContent())?.trim(), 'attention recomputed from Q and K on WebGPU');
      assert.match((await page.locator('#paths').getAttribute('title')) ?? '', /3 layers compute their rows on the worker's WebGPU device/);
      const ids = ref.ids;
      const onGpu = [];
      for (const q of STATISTICS(T, ids)) {
        const a = await ask(page, 1, q);
        assert.equal(a.on, 'webgpu', `${q.kind}: streamed from GPU blocks`);
        onGpu.push(a.answer);
      }

      // The backend setting 'wasm': no GPU for the rows either; the same rows from JavaScript, to PyTorch's 1e-5.
      await deliver(page, showMessage(server, 2, ref, 'always', 'wasm'));
      const w = await waitForPosted(page, 'result', 2);
      assert.equal(w.backendUsed, 'wasm');
      assert.deepEqual(w.paths, Array.from({ length: L }, () => ({ path: 'qk', on: 'js' })));
      const { row, on } = await askRow(page, 2, 0, 2, T - 1);
      assert.equal(on, 'js');
      assert.ok(maxAbsDiff(row, ref.attention.subarray(((0 * H + 2) * T + T - 1) * T, ((0 * H + 2) * T + T) * T)) <= TOLERANCE);
      assert.equal((await page.locator('#paths').textContent())?.trim(), 'attention recomputed from Q and K in the worker\'s JavaScript');
      const stats = STATISTICS(T, ids);
      for (let k = 0; k < stats.length; k++) {
        const a = await ask(page, 2, stats[k]);
        assert.equal(a.on, 'js', `${stats[k].kind} under the WASM setting: JavaScript`);
        const diff = statDiff(onGpu[k], a.answer);
        assert.ok(diff <= TOLERANCE, `${stats[k].kind}: |WebGPU − JavaScript| = ${diff}`);
      }
    } finally {
      await gpu.close();
    }
  });
});
