/**
 * Analyse Heads Across File in the panel (real Chromium): the host's 'headAggregate' shows mean ± sd under every
 * value of the Metrics table, and clicking one (or Enter on it) asks the host to open that head's top window.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { HeadAggregator } from '../../src/shared/head-aggregate';
import { Tokenizer } from '@huggingface/tokenizers';
import { stackMetrics, type HeadMetricValues } from '../../src/shared/head-labels';
import { bundledModelDir, loadReference, readBundledOnnx, repoRoot } from '../support/model';
import { openTapped, runTapped } from '../support/run-tapped';
import { deliver, launch, nextFrames, openWebview, postedOfType, screenshotDir, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const ort = require('onnxruntime-node');
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;

/** One window's metrics: head k's previous-token score is `prev(k)`, the rest fixed. */
function window(prev: (k: number) => number): HeadMetricValues[] {
  return Array.from({ length: L * H }, (_, k) => ({ layer: Math.floor(k / H), head: k % H, entropy: 0.5, previousToken: prev(k),
    sink: 0.1, self: 0.2, distance: 3, duplicate: null, induction: null }));
}

describe('file-wide head metrics in the panel (Chromium)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    const text = loadReference()[0].text;
    await deliver(page, {
      type: 'show', runId: 1, documentLabel: 'reference.txt', text, tokens: tokenize(bundledModelDir, text),
      model: {
        name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: config.n_positions, extraInputs: [],
        tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
      },
      backend: 'wasm', notices: [], timings: {},
    });
    await waitForPosted(page, 'result', 1);
    await page.locator('#tab-metrics').click();
    await page.waitForSelector('#metrics-table td[data-key="previousToken"][data-value]');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows mean ± sd under each value and opens a head\'s top window on click or Enter', async () => {
    // Two windows: head k's previous-token score is k/20 ± 0.1, so L0 H2 (k = 2) reads 0.100 ± 0.100.
    const agg = new HeadAggregator();
    agg.add(0, window((k) => k / 20 - 0.1));
    agg.add(1, window((k) => k / 20 + 0.1));
    await deliver(page, { type: 'headAggregate', source: 'notes.txt', windows: 2, done: true, rows: agg.rows() });
    const cell = '#metrics-table tr[data-head="L0 H2"] td[data-key="previousToken"] button.spread';
    await page.waitForSelector(cell);
    assert.equal(await page.locator(cell).textContent(), '0.100 ± 0.100');
    assert.equal(await page.locator('#metrics-table tr[data-head="L0 H3"] td[data-key="distance"] button.spread').textContent(), '3.00 ± 0.00');
    assert.equal(await page.locator('#metrics-table td[data-key="induction"] button.spread').count(), 0, 'induction is a probe of the model, not of the file');
    assert.match((await page.locator('#metrics-legend').textContent())!, /across 2 windows of notes\.txt/);
    assert.equal(await page.locator('#metrics-table tr[data-head="L2 H3"] .file-labels').textContent(), 'file: previous-token',
      'L2 H3 averages 0.55 previous-token over the file');

    await page.locator(cell).click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'revealWindow'));
    assert.deepEqual(await postedOfType(page, 'revealWindow'), [{ type: 'revealWindow', layer: 0, head: 2, metric: 'previousToken' }]);
    await page.locator('#metrics-table tr[data-head="L1 H0"] td[data-key="entropy"] button.spread').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (globalThis as any).__posted.filter((m: any) => m.type === 'revealWindow').length === 2);
    assert.deepEqual((await postedOfType(page, 'revealWindow'))[1], { type: 'revealWindow', layer: 1, head: 0, metric: 'entropy' });
    // The grid says the same of the selected head (L0 H0: previous-token −0.1 and 0.1 in the two windows).
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => /file-wide/.test((globalThis as any).document.getElementById('grid-status').textContent));
    assert.match((await page.locator('#grid-status').textContent())!, /Selected: L0 H0, Prev-token [0-9.]+ \(file-wide 0\.000 ± 0\.100 over 2 windows\)\./);
    await page.locator('#tab-metrics').click();
    // For the README: the aggregate of real windows (the bundled model's held-out text in onnxruntime-node).
    const session = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
    const ids = new Tokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {})
      .encode(fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8'), { add_special_tokens: false }).ids;
    const real = new HeadAggregator();
    for (let w = 0; w < 12; w++) {
      const win = ids.slice(w * config.n_positions, (w + 1) * config.n_positions);
      real.add(w, stackMetrics((await runTapped(ort, session, win)).attention, win));
    }
    await deliver(page, { type: 'headAggregate', source: 'heldout.txt', windows: 12, done: true, rows: real.rows() });
    await page.waitForFunction(() => /12 windows of heldout/.test((globalThis as any).document.querySelector('#metrics-legend').textContent));
    await page.locator('#metrics-table button.sort[data-key="previousToken"]').focus(); // no focus ring on a value in the picture
    await shot(page, 'head-aggregate-dark.png');
    // The table alone, at a README's width.
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.locator('#metrics-table').screenshot({ path: path.join(screenshotDir(repoRoot), 'head-aggregate-table.png') });
    // A narrow side panel lays each head out as a card: the file-wide values stay inside their cells, nothing scrolls sideways.
    await page.setViewportSize({ width: 340, height: 900 });
    await nextFrames(page);
    const overflow = await page.evaluate(() => {
      const d = (globalThis as any).document;
      const cells = [...d.querySelectorAll('#metrics-table button.spread')].filter((b: any) => {
        const r = b.getBoundingClientRect();
        const c = b.closest('td').getBoundingClientRect();
        return r.left < c.left - 0.5 || r.right > c.right + 0.5;
      }).length;
      return { cells, page: d.scrollingElement.scrollWidth - d.scrollingElement.clientWidth };
    });
    assert.deepEqual(overflow, { cells: 0, page: 0 });
    await shot(page, 'head-aggregate-narrow.png');
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []); // as heads.test.ts: a missing optional asset
  });
});
