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
    assert.match((await page.locator('#gen-status').textContent()) ?? '', /^Generated 8 tokens\. Not written to the document\.$/);
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
