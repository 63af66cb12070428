/**
 * Cold start in the real panel page (Chromium, real model): the load stages show from the first moment and in order
 * (runtime download and compile, model, session, inference), a second run keeps the runtime and the model, and the
 * panel starts the smallest onnxruntime build for the backend: the plain WASM .wasm unless WebGPU may run.
 * Asserts on what the header shows (recorded by a MutationObserver) and on the files requested, never on time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, loadReference, repoRoot, type ReferenceEntry } from '../support/model';
import { deliver, launch, openWebview, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const STAGES = ['runtime', 'model', 'session', 'inference'];

function showMessage(server: TestServer, runId: number, ref: ReferenceEntry, backend: 'auto' | 'wasm') {
  return {
    type: 'show', runId, documentLabel: 'reference.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
      maxTokens: config.n_positions ?? 128, extraInputs: [],
    },
    backend, notices: [], timings: { tokenizeMs: 1 },
  };
}

interface Shown { text: string; stages: string; hidden: boolean }

/** Records every state of the header's progress line from now on (window.__progress). */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as any;
    const el = g.document.getElementById('progress');
    const seen: Shown[] = (g.__progress = []);
    const note = (): void => {
      const s = { text: g.document.getElementById('progress-text').textContent, stages: el.dataset.stages ?? '', hidden: el.hidden };
      const last = seen[seen.length - 1];
      if (!last || last.text !== s.text || last.hidden !== s.hidden || last.stages !== s.stages) seen.push(s);
    };
    new g.MutationObserver(note).observe(el, { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

const shownLines = (page: Page): Promise<Shown[]> => page.evaluate(() => (globalThis as any).__progress);

/** Runs `runId` and returns what the progress line showed while it loaded (the visible states). */
async function showAndRecord(page: Page, msg: ReturnType<typeof showMessage>): Promise<Shown[]> {
  await recordProgress(page);
  await deliver(page, msg);
  await waitForPosted(page, 'result', msg.runId);
  const seen = await shownLines(page);
  return seen.filter((s) => !s.hidden);
}

/** The stages in the order they first appeared on the progress line. */
const firstAppearance = (seen: Shown[]): string[] => [...new Set(seen.flatMap((s) => s.stages.split(' ').filter(Boolean)))];

describe('cold start: progress from the first moment, and the smallest runtime for the backend', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  const refs = loadReference();

  before(async () => {
    server = await startServer(repoRoot);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the runtime first, then the model, the session and the inference, with download and compile steps', async () => {
    browser = await launch({ webgpu: false });
    const page = await openWebview(browser, `${server.origin}/panel.html`);
    const seen = await showAndRecord(page, showMessage(server, 1, refs[0], 'auto'));
    assert.ok(seen.length > 0, 'the progress line showed');
    assert.match(seen[0].text, /^Starting the runtime/, 'the first thing shown is the runtime starting');
    assert.deepEqual(firstAppearance(seen), STAGES, 'each stage appears, in order');
    const texts = seen.map((s) => s.text);
    const download = texts.findIndex((t) => /Starting the runtime: downloading \d+\.\d MB/.test(t));
    const compile = texts.findIndex((t) => /Starting the runtime: compiling…/.test(t));
    const ready = texts.findIndex((t) => t.startsWith('Runtime ✓'));
    assert.ok(download >= 0 && compile > download && ready > compile, `download, then compile, then ready: ${JSON.stringify(texts)}`);
    assert.ok(texts.some((t) => /Creating the session on WASM…/.test(t)), 'the session stage names the backend');
    assert.ok(texts.some((t) => /^Runtime ✓ · Model ✓ · Session ✓ · Running on WASM…$/.test(t)), 'inference comes last, all else done');
    // No adapter here: the panel started the plain WASM build, not the JSEP one that also carries WebGPU.
    assert.ok(server.requests.includes('/dist/ort/ort-wasm-simd-threaded.wasm'), 'the plain .wasm was fetched');
    assert.ok(server.requests.includes('/dist/worker-wasm.js'), 'with its worker');
    assert.ok(!server.requests.some((p) => p.endsWith('.jsep.wasm') || p === '/dist/worker.js'), 'the JSEP build was not fetched');
    const r = await waitForPosted(page, 'result', 1);
    assert.equal(r.backendUsed, 'wasm');
    assert.ok(r.timings.runtimeMs > 0 && r.timings.fetchMs > 0, 'the result reports how long the runtime and the model took');

    // The same panel again: runtime and model kept, so neither is started or fetched again.
    const fetched = server.requests.filter((p) => p.endsWith('model.onnx') || p.endsWith('.wasm')).length;
    const again = await showAndRecord(page, showMessage(server, 2, refs[1] ?? refs[0], 'auto'));
    assert.ok(again.every((s) => !/Starting the runtime|Fetching the model/.test(s.text)), `kept: ${JSON.stringify(again)}`);
    assert.ok(again.some((s) => s.text.startsWith('Runtime ✓ · Model ✓')), 'shown as done');
    assert.equal(server.requests.filter((p) => p.endsWith('model.onnx') || p.endsWith('.wasm')).length, fetched, 'nothing fetched again');
    await page.close();
  });

  it('after the host\'s prepare, says it is loading and starts the runtime before the run arrives', async () => {
    browser = await launch({ webgpu: false });
    const page = await openWebview(browser, `${server.origin}/panel.html`);
    await recordProgress(page);
    const before = server.requests.length;
    await deliver(page, { type: 'prepare', modelName: 'lens-gpt (bundled)', backend: 'wasm' });
    // The runtime starts with no run: the worker reports it running ('Runtime ✓') while the host would still tokenize.
    await page.waitForFunction(() => /Runtime ✓/.test((globalThis as any).document.getElementById('progress-text').textContent));
    const early = await shownLines(page);
    assert.match(early[0].text, /^Loading the model and tokenizing: lens-gpt \(bundled\)…/, 'the first thing shown');
    assert.deepEqual(firstAppearance(early), ['text', 'runtime']);
    assert.equal(server.requests.slice(before).filter((p) => p.endsWith('.wasm')).length, 1, 'the .wasm was fetched before the run');
    const seen = await showAndRecord(page, showMessage(server, 1, refs[0], 'wasm'));
    assert.deepEqual(firstAppearance(seen), ['text', 'runtime', 'model', 'session', 'inference'], 'the run continues that line');
    assert.ok(seen.every((s) => !/Starting the runtime/.test(s.text)), `the runtime is not started again: ${JSON.stringify(seen)}`);
    assert.equal(server.requests.slice(before).filter((p) => p.endsWith('.wasm')).length, 1, 'nor fetched again');
    await page.close();
  });

  it('runs a show that arrives while the prepared runtime is still downloading, with one worker and one download', async () => {
    browser = await launch({ webgpu: false });
    const page = await openWebview(browser, `${server.origin}/panel.html`);
    const before = server.requests.length;
    await deliver(page, { type: 'prepare', modelName: 'lens-gpt (bundled)', backend: 'wasm' });
    await deliver(page, showMessage(server, 1, refs[0], 'wasm'));
    const r = await waitForPosted(page, 'result', 1);
    assert.equal(r.backendUsed, 'wasm');
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__posted.filter((m: any) => m.type === 'runError')), []);
    const fetched = server.requests.slice(before);
    assert.equal(fetched.filter((p) => p.endsWith('.wasm')).length, 1, 'one .wasm download');
    assert.equal(fetched.filter((p) => p === '/dist/worker-wasm.js').length <= 1, true, 'one worker script fetch');
    await page.close();
  });

  it('starts the JSEP build only where WebGPU may run: with an adapter for auto, not for wasm', async () => {
    const gpu = await launch({ webgpu: true });
    try {
      const before = server.requests.length;
      const wasmPage = await openWebview(gpu, `${server.origin}/panel.html`);
      await deliver(wasmPage, showMessage(server, 1, refs[0], 'wasm'));
      assert.equal((await waitForPosted(wasmPage, 'result', 1)).backendUsed, 'wasm');
      const wasmRequests = server.requests.slice(before);
      assert.ok(wasmRequests.includes('/dist/ort/ort-wasm-simd-threaded.wasm') && !wasmRequests.some((p) => p.endsWith('.jsep.wasm')),
        `backend wasm: the plain build only (${wasmRequests.join(', ')})`);
      const mid = server.requests.length;
      const autoPage = await openWebview(gpu, `${server.origin}/panel.html`);
      await deliver(autoPage, showMessage(server, 1, refs[0], 'auto'));
      assert.equal((await waitForPosted(autoPage, 'result', 1)).backendUsed, 'webgpu');
      const autoRequests = server.requests.slice(mid);
      assert.ok(autoRequests.includes('/dist/ort/ort-wasm-simd-threaded.jsep.wasm') && autoRequests.includes('/dist/worker.js'),
        `auto with an adapter: the JSEP build (${autoRequests.join(', ')})`);
    } finally {
      await gpu.close();
    }
  });
});
