/**
 * WebAssembly threads in the panel's worker, in a real Chromium. Served with COOP/COEP (as desktop VS Code's
 * `--enable-coi` serves a webview), the page is cross-origin isolated: onnxruntime runs with one thread per core
 * (pthread workers started from the worker's own blob: URL, counted through the browser's own worker list), the
 * header and the result say so, and the attention still matches PyTorch to 1e-5. `attentionLens.wasmThreads: 1`
 * brings it back to one thread; the same page served without the headers runs one thread.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, loadReference, maxAbsDiff, repoRoot, type ReferenceEntry } from '../support/model';
import { deliver, launch, openWebview, waitForPosted, tokenize, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { MAX_AUTO_WASM_THREADS } from '../../src/shared/wasm-threads';

const WASM_TOLERANCE = 1e-5;
/** WebGPU (SwiftShader) vs PyTorch, as in panel.test.ts. */
const WEBGPU_TOLERANCE = 1e-4;
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

function showMessage(server: TestServer, runId: number, ref: ReferenceEntry, wasmThreads?: number, backend: 'wasm' | 'webgpu' = 'wasm') {
  return {
    type: 'show', runId, documentLabel: 'reference.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
      maxTokens: config.n_positions ?? 128, extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
    },
    backend, ...(wasmThreads !== undefined ? { wasmThreads } : {}), notices: [], timings: { tokenizeMs: 1 },
  };
}

/** Runs `msg`, checks the attention against the reference and returns the result's thread count and the header's text. */
async function runAndCheck(page: Page, msg: ReturnType<typeof showMessage>, ref: ReferenceEntry): Promise<{ threads: number; header: string }> {
  await deliver(page, msg);
  const r = await waitForPosted(page, 'result', msg.runId);
  assert.equal(r.backendUsed, 'wasm');
  const diff = maxAbsDiff(r.attention.data, ref.attention);
  assert.ok(diff <= WASM_TOLERANCE, `max abs diff ${diff} > ${WASM_TOLERANCE}`);
  console.log(`    ${r.threads} thread(s), T=${ref.attentionShape[2]}: max |Δ| vs PyTorch = ${diff.toExponential(2)}`);
  return { threads: r.threads, header: (await page.locator('#backend').textContent())?.trim() ?? '' };
}

describe('WebAssembly threads in a cross-origin isolated panel (Chromium)', function () {
  this.timeout(180000);
  let browser: Browser;
  const servers: TestServer[] = [];
  const refs = loadReference();

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'worker.js')), 'run node scripts/build.mjs first');
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('with COOP/COEP runs one thread per core, matches PyTorch, and wasmThreads: 1 brings it back to one', async () => {
    const server = await startServer(repoRoot, [], { crossOriginIsolated: true });
    servers.push(server);
    const errors: string[] = [];
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    const env = await page.evaluate(() => ({ isolated: (globalThis as any).crossOriginIsolated, cores: (globalThis as any).navigator.hardwareConcurrency }));
    assert.equal(env.isolated, true, 'the page served with COOP/COEP is cross-origin isolated');
    const expected = Math.min(env.cores, MAX_AUTO_WASM_THREADS);
    assert.ok(expected > 1, `this check needs more than one core (navigator.hardwareConcurrency = ${env.cores})`);
    for (let k = 0; k < refs.length; k++) {
      const { threads, header } = await runAndCheck(page, showMessage(server, 1 + k, refs[k]), refs[k]);
      assert.equal(threads, expected);
      assert.equal(header, `WASM · ${expected} threads`);
    }
    // The browser's own count: the inference worker plus onnxruntime's pthread workers (threads − 1 of them).
    const workers = page.workers().map((w) => w.url());
    assert.equal(workers.length, expected, `workers: ${workers.join(', ')}`);
    assert.ok(workers.every((u) => u.startsWith('blob:')), `every worker runs from the panel's blob: URL: ${workers.join(', ')}`);

    const one = await runAndCheck(page, showMessage(server, 10, refs[0], 1), refs[0]);
    assert.deepEqual(one, { threads: 1, header: 'WASM · 1 thread' });
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), [], 'no CSP violation');
    // Chromium asks for /favicon.ico by itself; everything the panel and its workers load is served.
    assert.deepEqual(server.notFound.filter((p) => p !== '/favicon.ico'), []);
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });

  it('WebGPU (SwiftShader) still runs in the isolated page, next to the WASM threads', async () => {
    const server = await startServer(repoRoot, [], { crossOriginIsolated: true });
    servers.push(server);
    const gpu = await launch({ webgpu: true });
    try {
      const page = await openWebview(gpu, `${server.origin}/panel.html`);
      assert.equal(await page.evaluate(() => (globalThis as any).crossOriginIsolated), true);
      await deliver(page, showMessage(server, 1, refs[0], undefined, 'webgpu'));
      const r = await waitForPosted(page, 'result', 1);
      assert.equal(r.backendUsed, 'webgpu', r.fallbackReason);
      assert.equal(r.threads, undefined, 'a WebGPU result names no WASM threads');
      const diff = maxAbsDiff(r.attention.data, refs[0].attention);
      assert.ok(diff <= WEBGPU_TOLERANCE, `WebGPU vs PyTorch: max abs diff ${diff} > ${WEBGPU_TOLERANCE}`);
      assert.equal((await page.locator('#backend').textContent())?.trim(), 'WebGPU');
    } finally {
      await gpu.close();
    }
  });

  it('without the headers runs one thread', async () => {
    const server = await startServer(repoRoot);
    servers.push(server);
    const page = await openWebview(browser, `${server.origin}/panel.html`);
    assert.equal(await page.evaluate(() => (globalThis as any).crossOriginIsolated), false);
    const { threads, header } = await runAndCheck(page, showMessage(server, 1, refs[0], 4), refs[0]);
    assert.deepEqual({ threads, header }, { threads: 1, header: 'WASM · 1 thread' });
    assert.match(await page.locator('#backend').getAttribute('title') ?? '', /not cross-origin isolated.*--enable-coi/);
  });
});
