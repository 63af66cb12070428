/**
 * Generation stepping in the panel, in a real Chromium on the bundled model (WASM): "Generate" continues the
 * selection greedily, equal to the test's own greedy loop in onnxruntime-node; the step slider (driven by the
 * keyboard) shows step k's attention of the predicting position, equal to the last row of a direct run on the
 * prefix; generated tokens are marked as such; Stop ends a generation before its next step.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, maxAbsDiff, readBundledOnnx, repoRoot } from '../support/model';
import { openTapped, runTapped, type TappedSession } from '../support/run-tapped';
import { deliver, launch, openWebview, selectDropdown, setTheme, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { testModelsDir } from '../support/test-models';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { requiredInputs, scanOnnx } from '../../src/shared/onnx-tap';

const ort = require('onnxruntime-node');

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const TEXT = 'The cat sat on the mat. The cat sat on the';
const [LAYER, HEAD] = [1, 2];
const N = 8;

/** The test's own greedy continuation: argmax of the last position's logits, the whole sequence re-run each step. */
async function greedy(s: TappedSession, prompt: readonly number[], n: number): Promise<number[]> {
  const ids = [...prompt];
  for (let k = 0; k < n; k++) {
    const { logits, vocab } = await runTapped(ort, s, ids);
    const last = logits.subarray((ids.length - 1) * vocab, ids.length * vocab);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (last[v] > last[best]) best = v;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

describe('generation stepping in the panel (Chromium, WASM)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let oracle: TappedSession;
  const prompt = tokenize(bundledModelDir, TEXT);

  before(async () => {
    oracle = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
    await deliver(page, {
      type: 'show', runId: 1, documentLabel: 'cats.txt', text: TEXT, tokens: prompt,
      model: {
        name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: config.n_positions,
        extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
      },
      backend: 'wasm', notices: [], timings: {},
    });
    await waitForPosted(page, 'result', 1);
    await selectDropdown(page, 'layer-select', String(LAYER));
    await selectDropdown(page, 'head-select', String(HEAD));
    await page.waitForSelector('#generate:not([hidden])');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('generates the greedy continuation, and each step shows the last row of a direct run on its prefix', async () => {
    await page.fill('#gen-steps', String(N));
    await page.fill('#gen-temperature', '0');
    await page.locator('#gen-start').click();
    await page.waitForSelector('#generate[data-state="done"]');
    const shown = (await page.locator('#gen-tokens').getAttribute('data-tokens'))!.split(' ').map(Number);
    const ids = prompt.map((t) => t.id);
    const expected = await greedy(oracle, ids, N);
    assert.deepEqual(shown, expected);
    assert.match((await page.locator('#gen-status').textContent()) ?? '',
      /^Generated 8 tokens\. Not written to the document unless you insert it\. Each step re-ran the whole sequence: this graph has no key\/value cache to step on\.$/);
    assert.equal(await page.locator('#gen-status').getAttribute('data-stepping'), 'rerun', 'the bundled model takes input_ids only');
    // The slider, by keyboard: Home is step 0, each ArrowRight one step on.
    await page.locator('#gen-step').focus();
    await page.keyboard.press('Home');
    let at = 0;
    for (const k of [0, 3, 7]) {
      for (; at < k; at++) await page.keyboard.press('ArrowRight');
      await page.waitForSelector(`#gen-tokens[data-step="${k}"]`);
      const T = ids.length + k;
      const { attention } = await runTapped(ort, oracle, [...ids, ...expected].slice(0, T));
      const off = ((LAYER * attention.heads + HEAD) * T + T - 1) * T;
      const row = attention.data.slice(off, off + T);
      const cells = await page.$$eval('#gen-tokens .gen-token:not(.next)', (els) => els.map((e: any) => [Number(e.dataset.weight), e.classList.contains('generated')]));
      assert.equal(cells.length, T);
      const d = maxAbsDiff(cells.map((c) => c[0] as number), row);
      assert.ok(d <= 1e-5, `step ${k}: max |Δ| = ${d}`);
      assert.deepEqual(cells.map((c) => c[1]), Array.from({ length: T }, (_, j) => j >= ids.length), 'generated tokens are marked');
      const next = await page.$eval('#gen-tokens .gen-token.next', (e: any) => e.className);
      assert.match(next, /generated/);
    }
    await shot(page, 'generate-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'generate-light.png');
    await setTheme(page, 'vscode-dark');
    // "Insert into document" posts the tokens up to the step on show (step 7: all eight) for the host to write.
    assert.equal(await page.locator('#gen-insert').getAttribute('disabled'), null, 'insert is offered once tokens are generated');
    await page.locator('#gen-step').focus();
    for (let n = 0; n < 4; n++) await page.keyboard.press('ArrowLeft');
    await page.waitForSelector('#gen-tokens[data-step="3"]');
    await page.locator('#gen-insert').click();
    const insert = (await waitForPosted(page, 'insertGenerated', 1)) as { tokens: number[] };
    assert.deepEqual(insert.tokens, expected.slice(0, 4));
  });

  it('stops before the next step when Stop is pressed', async () => {
    await page.fill('#gen-steps', '64');
    // Press Stop as soon as the first step is drawn (in the page, so nothing waits on a clock).
    await page.evaluate(() => {
      const g = globalThis as any;
      const tokens = g.document.getElementById('gen-tokens');
      const obs = new g.MutationObserver(() => {
        if (tokens.dataset.tokens) { obs.disconnect(); g.document.getElementById('gen-stop').click(); }
      });
      obs.observe(tokens, { attributes: true, attributeFilter: ['data-tokens'] });
    });
    await page.locator('#gen-start').click();
    await page.waitForSelector('#generate[data-state="done"]');
    const n = (await page.locator('#gen-tokens').getAttribute('data-tokens'))!.split(' ').length;
    assert.ok(n >= 1 && n < 64, `${n} tokens`);
    assert.match((await page.locator('#gen-status').textContent()) ?? '', new RegExp(`^Generated ${n} tokens? \\(stopped\\)`));
  });
});

/** A session over ONNX bytes run as the worker feeds it (an empty past where the graph takes one), fetching `names`. */
async function fedSession(bytes: Uint8Array) {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const summary = scanOnnx(bytes);
  return async (ids: readonly number[], names: readonly string[]) => {
    const feeds: Record<string, unknown> = {};
    for (const f of buildFeeds(requiredInputs(summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    return session.run(feeds, [...names]);
  };
}

describe('generation on the key/value cache in the panel (Chromium, WASM, tiny-gpt2 as optimum exports it)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const dir = path.join(testModelsDir, 'tiny-gpt2');
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'onnx', 'model.onnx')));
  const prompt = tokenize(dir, TEXT);
  const ids = prompt.map((t) => t.id);
  let runId = 0;

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const recompute of ['never', 'always'] as const) {
    it(`steps one token at a time on the model's past key/values (recompute ${recompute}): the greedy continuation and each step's rows equal direct runs`, async () => {
      runId++;
      await deliver(page, {
        type: 'show', runId, documentLabel: 'cats.txt', text: TEXT, tokens: prompt,
        model: { name: 'tiny-gpt2', onnxUri: `${server.origin}/test/models/tiny-gpt2/onnx/model.onnx`, maxTokens: 64, extraInputs: [],
          tokenizerUri: `${server.origin}/test/models/tiny-gpt2/tokenizer.json` },
        backend: 'wasm', recompute, notices: [], timings: {},
      });
      const r = await waitForPosted(page, 'result', runId);
      assert.equal(Boolean(r.paths), recompute === 'always', 'the run is paged only when asked');
      await selectDropdown(page, 'layer-select', '1');
      await selectDropdown(page, 'head-select', '2');
      await page.waitForSelector('#generate:not([hidden])');
      await page.fill('#gen-steps', String(N));
      await page.fill('#gen-temperature', '0');
      await page.locator('#gen-start').click();
      await page.waitForSelector('#generate[data-state="done"]');
      assert.equal(await page.locator('#gen-status').getAttribute('data-stepping'), 'cache');
      assert.match((await page.locator('#gen-status').textContent()) ?? '', /Each step ran one token on the model’s key\/value cache\.$/);
      const shown = (await page.locator('#gen-tokens').getAttribute('data-tokens'))!.split(' ').map(Number);
      // The oracle: the untapped model re-run on the whole sequence each step (empty past), argmax of the last logits.
      const plain = await fedSession(bytes);
      const seq = [...ids];
      for (let k = 0; k < N; k++) {
        const out = await plain(seq, ['logits']);
        const V = Number(out.logits.dims[2]);
        const last = (out.logits.data as Float32Array).subarray((seq.length - 1) * V, seq.length * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
        seq.push(best);
      }
      assert.deepEqual(shown, seq.slice(ids.length));
      const t = tapAll(bytes);
      const tapped = await fedSession(t.tapped);
      const layer1 = t.plan.softmaxOutputs[1];
      await page.locator('#gen-step').focus();
      await page.keyboard.press('Home');
      let at = 0;
      for (const k of [0, 5, 7]) {
        for (; at < k; at++) await page.keyboard.press('ArrowRight');
        await page.waitForSelector(`#gen-tokens[data-step="${k}"]`);
        const T = ids.length + k;
        const out = await tapped(seq.slice(0, T), [layer1]);
        const row = (out[layer1].data as Float32Array).slice(((2 * T) + T - 1) * T, ((2 * T) + T) * T);
        const cells = await page.$$eval('#gen-tokens .gen-token:not(.next)', (els) => els.map((e: any) => Number(e.dataset.weight)));
        assert.equal(cells.length, T);
        const d = maxAbsDiff(cells, row);
        assert.ok(d <= 1e-5, `step ${k}: max |Δ| = ${d}`);
      }
    });
  }

  it('steps on the cache on WebGPU too (SwiftShader): the greedy continuation and each step\'s rows match onnxruntime-node within 1e-4', async () => {
    const gpu = await launch({ webgpu: true });
    try {
      const p = await openWebview(gpu, `${server.origin}/panel.html`);
      await deliver(p, {
        type: 'show', runId: 1, documentLabel: 'cats.txt', text: TEXT, tokens: prompt,
        model: { name: 'tiny-gpt2', onnxUri: `${server.origin}/test/models/tiny-gpt2/onnx/model.onnx`, maxTokens: 64, extraInputs: [],
          tokenizerUri: `${server.origin}/test/models/tiny-gpt2/tokenizer.json` },
        backend: 'webgpu', recompute: 'never', notices: [], timings: {},
      });
      const r = await waitForPosted(p, 'result', 1);
      assert.equal(r.backendUsed, 'webgpu', r.fallbackReason);
      await p.waitForSelector('#generate:not([hidden])');
      await p.fill('#gen-steps', '4');
      await p.fill('#gen-temperature', '0');
      await p.locator('#gen-start').click();
      await p.waitForSelector('#generate[data-state="done"]');
      assert.equal(await p.locator('#gen-status').getAttribute('data-stepping'), 'cache');
      const shown = (await p.locator('#gen-tokens').getAttribute('data-tokens'))!.split(' ').map(Number);
      // The oracle: onnxruntime-node, whole sequence, empty past. WebGPU's float32 sums differ in the last bits, so a
      // token must match where the oracle's best logit leads the next by more than 1e-3.
      const plain = await fedSession(bytes);
      const seq = [...ids];
      for (let k = 0; k < 4; k++) {
        const out = await plain(seq, ['logits']);
        const V = Number(out.logits.dims[2]);
        const last = Array.from((out.logits.data as Float32Array).subarray((seq.length - 1) * V, seq.length * V));
        const order = last.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
        if (order[0][0] - order[1][0] > 1e-3) assert.equal(shown[k], order[0][1], `step ${k}`);
        seq.push(shown[k]);
      }
      const t = tapAll(bytes);
      const tapped = await fedSession(t.tapped);
      await p.locator('#gen-step').focus();
      await p.keyboard.press('End');
      await p.waitForSelector('#gen-tokens[data-step="3"]');
      const [layer, head] = await p.$eval('#gen-tokens', (e: any) => [Number(e.dataset.layer), Number(e.dataset.head)]);
      assert.ok(Number.isInteger(head), 'a single head on show');
      const name = t.plan.softmaxOutputs[layer];
      const T = ids.length + 3;
      const out = await tapped(seq.slice(0, T), [name]);
      const row = (out[name].data as Float32Array).slice((head * T + T - 1) * T, (head * T + T) * T);
      const cells = await p.$$eval('#gen-tokens .gen-token:not(.next)', (els) => els.map((e: any) => Number(e.dataset.weight)));
      const d = maxAbsDiff(cells, row);
      console.log(`    WebGPU cached step 3, L${layer} H${head}: max |Δ| = ${d.toExponential(2)}`);
      assert.ok(d <= 1e-4, `max |Δ| = ${d}`);
    } finally {
      await gpu.close();
    }
  });
});
