/**
 * The induction probe across panels in a real Chromium (issue 5): a panel whose worker computes the probe
 * forwards it to the host once; a fresh panel (new worker) whose `show` carries the stored probe shows those
 * scores, and their labels, without running the probe (the scores here are deliberately not the model's).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, repoRoot } from '../support/model';
import { deliver, launch, openWebview, postedOfType, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;

/** The metrics table's induction column as head name → value. */
async function inductionColumn(page: Page): Promise<Map<string, number>> {
  await page.waitForFunction(() => (globalThis as any).document.querySelector('#metrics-table td[data-key="induction"][data-value]'));
  return new Map(await page.$$eval('#metrics-table tbody tr', (trs) => trs.map((tr: any) =>
    [tr.dataset.head, Number(tr.querySelector('td[data-key="induction"]').dataset.value)] as [string, number])));
}

describe('induction probe stored by the host, in Chromium', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  const errors: string[] = [];
  const text = 'The cat sat on the mat. The cat sat on the mat.';
  const show = (runId: number, probe?: unknown) => ({
    type: 'show', runId, documentLabel: 'probe.txt', text, tokens: tokenize(bundledModelDir, text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
      // A short maxTokens setting must not shorten the probe: the context bounds it.
      maxTokens: 16, context: config.n_positions, extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
      ...(probe ? { probe } : {}),
    },
    backend: 'wasm', notices: [], timings: {},
  });

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('forwards a freshly computed probe to the host once, of the fixed length', async () => {
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    await deliver(page, show(1));
    const probe = await waitForPosted(page, 'probe', 1);
    assert.equal(probe.period, Math.min(64, Math.floor(config.n_positions / 2)));
    assert.deepEqual([probe.layers, probe.heads, probe.induction.length], [L, H, L * H]);
    assert.ok(probe.induction.every((x: number) => x >= 0 && x <= 1));
    const best = probe.induction.indexOf(Math.max(...probe.induction));
    assert.equal(`L${Math.floor(best / H)} H${best % H}`, 'L1 H2', 'the card\'s induction head');
    // A second run of the same model: the worker's cache answers, and nothing new goes to the host.
    await deliver(page, show(2));
    await waitForPosted(page, 'result', 2);
    await page.locator('#tab-metrics').click();
    await inductionColumn(page);
    assert.equal((await postedOfType(page, 'probe')).length, 1);
    await page.close();
  });

  it('a new panel given the stored probe shows its scores and labels without running the probe', async () => {
    const page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    // Not what the model computes: L0 H0 is the "induction head" here, L1 H2 is not.
    const induction = Array.from({ length: L * H }, (_, i) => (i === 0 ? 0.875 : 0.0625));
    await deliver(page, show(1, { period: Math.min(64, Math.floor(config.n_positions / 2)), layers: L, heads: H, induction }));
    await waitForPosted(page, 'result', 1);
    await page.locator('#tab-metrics').click();
    const shown = await inductionColumn(page);
    assert.equal(shown.get('L0 H0'), 0.875);
    assert.equal(shown.get('L1 H2'), 0.0625);
    const labels = async (head: string) => page.$$eval(`#metrics-table tr[data-head="${head}"] .head-label`, (s) => s.map((e) => e.textContent));
    assert.ok((await labels('L0 H0')).includes('induction'));
    assert.ok(!(await labels('L1 H2')).includes('induction'));
    // The induction column only has values once the panel has handled the worker's one probe message for this
    // run, and the panel forwards a computed probe to the host in that same handler, before it renders. So the
    // scores on show mean the panel has already decided: nothing to wait for.
    assert.equal((await postedOfType(page, 'probe')).length, 0, 'the stored probe is not sent back to the host');
    await page.close();
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), [], 'no console errors (a missing page resource aside, as in heads.test)');
  });
});
