/**
 * The compare view in a real Chromium: pinned heads from the PyTorch reference side by side, their
 * difference and Jensen–Shannon divergences (checked against the shared maths in Node), the buttons'
 * messages, 'clear', and dark/light screenshots.
 */
import assert from 'node:assert/strict';
import { selfAttention } from '../../src/shared/attention';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { meanRowJsDivergence } from '../../src/shared/head-compare';
import type { HeadRef } from '../../src/shared/protocol';
import { bundledModelDir, loadReference, repoRoot } from '../support/model';
import { deliver, launch, openWebview, postedOfType, setTheme, shot, tokenize, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

describe('compare webview in Chromium', function () {
  this.timeout(120000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const refs = loadReference();
  const ref = refs[refs.length - 1];
  const [L, H, T] = ref.attentionShape;
  const pinned: HeadRef[] = [
    { stack: 'self', layer: Math.min(1, L - 1), head: H - 1 },
    { stack: 'self', layer: Math.min(1, L - 1), head: 0 },
    { stack: 'self', layer: L - 1, head: Math.min(2, H - 1) },
  ];
  const matrixOf = (h: HeadRef): Float32Array => {
    const off = ((h.layer * H + (h.head as number)) * T) * T;
    return ref.attention.slice(off, off + T * T);
  };

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'compare.js')), 'run node scripts/build.mjs first');
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/compare.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows pinned heads, their difference and pairwise divergences', async () => {
    const stack = new Float32Array(pinned.length * T * T);
    pinned.forEach((h, k) => stack.set(matrixOf(h), k * T * T));
    const tokens = tokenize(bundledModelDir, ref.text);
    await page.evaluate(({ tokens, pinned, data }) => {
      (globalThis as any).postMessage({ type: 'compare', tokens, pinned, matrices: new Float32Array(data).buffer }, '*');
    }, { tokens, pinned, data: Array.from(stack) });
    await page.waitForSelector('#divergence:not([hidden])');
    const cards = await page.$$eval('.pinned-head', (els) => els.map((e: any) => e.dataset.head));
    assert.deepEqual(cards, ['L1 H3', 'L1 H0', 'L2 H2'].slice(0, pinned.length));
    const rows = await page.$$eval('#divergence-table tr[data-pair]', (els) => els.map((e: any) => [e.dataset.pair, Number(e.dataset.jsd)]));
    assert.equal(rows.length, 3);
    for (const [pair, jsd] of rows) {
      const [a, b] = String(pair).split('-').map(Number);
      const expected = meanRowJsDivergence(matrixOf(pinned[a]), matrixOf(pinned[b]), T);
      assert.ok(Math.abs((jsd as number) - expected) < 1e-5, `pair ${pair}: ${jsd} vs ${expected}`);
    }
    assert.match(await page.locator('#difference-title').textContent() ?? '', /L1 H3 − L1 H0/);
    const diff = await page.$eval('#difference-canvas', (c: any) => ({ w: c.width, cw: c.clientWidth }));
    assert.ok(diff.cw > 0 && diff.w >= diff.cw * 2 - 1, 'difference canvas drawn at devicePixelRatio');
    await shot(page, 'compare-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'compare-light.png');
    await setTheme(page, 'vscode-dark');
  });

  it('lists the heads nearest each pinned one, pins one from there, and shows the difference of any picked pair', async () => {
    const { nearestHeads } = await import('../../src/shared/head-compare');
    const stack = new Float32Array(pinned.length * T * T);
    pinned.forEach((h, k) => stack.set(matrixOf(h), k * T * T));
    const related = pinned.map((p) => nearestHeads(selfAttention(L, H, T, ref.attention), matrixOf(p), 4, { layer: p.layer, head: p.head as number })
      .map((r) => ({ head: { stack: 'self', layer: r.layer, head: r.head }, meanJsd: r.meanJsd })));
    await page.evaluate(({ tokens, pinned, data, related }) => {
      (globalThis as any).postMessage({ type: 'compare', tokens, pinned, matrices: new Float32Array(data).buffer, related }, '*');
    }, { tokens: tokenize(bundledModelDir, ref.text), pinned, data: Array.from(stack), related });
    await page.waitForSelector('.pinned-head .related-head');
    const shown = await page.$$eval('.pinned-head:first-child .related-head', (els) => els.map((e: any) => [e.dataset.head, Number(e.dataset.jsd)]));
    assert.deepEqual(shown.map((s) => s[0]), related[0].map((r) => `L${r.head.layer} H${r.head.head}`));
    for (let k = 1; k < shown.length; k++) assert.ok((shown[k][1] as number) >= (shown[k - 1][1] as number), 'nearest first');
    console.log(`    nearest to ${`L${pinned[0].layer} H${pinned[0].head}`}: ${shown.map((s) => `${s[0]} ${(s[1] as number).toFixed(3)}`).join(', ')}`);
    await page.locator('.pinned-head:first-child .related-head').first().locator('.related-pin').click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'pin'));
    assert.deepEqual((await postedOfType(page, 'pin')).pop().head, related[0][0].head);
    // Pick A = the third pinned head, B = the first: the title and the divergence it draws follow.
    await page.locator('#diff-a').click();
    await page.locator('#diff-a vscode-option[value="L2 H2"]').click();
    await page.waitForFunction(() => /L2 H2 − L1 H0/.test((globalThis as any).document.getElementById('difference-title').textContent));
    await page.locator('#diff-b').click();
    await page.locator('#diff-b vscode-option[value="L1 H3"]').click();
    await page.waitForFunction(() => /L2 H2 − L1 H3/.test((globalThis as any).document.getElementById('difference-title').textContent));
    // Picking A's head for B swaps them.
    await page.locator('#diff-b').click();
    await page.locator('#diff-b vscode-option[value="L2 H2"]').click();
    await page.waitForFunction(() => /L1 H3 − L2 H2/.test((globalThis as any).document.getElementById('difference-title').textContent));
    await shot(page, 'compare-related-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'compare-related-light.png');
    await setTheme(page, 'vscode-dark');
  });

  it('posts focusHead from a title and unpin from ✕', async () => {
    await page.locator('.pinned-head').nth(1).locator('.focus-head').click();
    await page.locator('.pinned-head').nth(0).locator('.unpin').click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'unpin'));
    assert.deepEqual((await postedOfType(page, 'focusHead')).map((m) => m.head), [pinned[1]]);
    assert.deepEqual((await postedOfType(page, 'unpin')).map((m) => m.head), [pinned[0]]);
  });

  it('clears with the reason, and stays within its CSP', async () => {
    await deliver(page, { type: 'clear', reason: 'The panel was closed.' });
    await page.waitForFunction(() => (globalThis as any).document.getElementById('compare-status').textContent === 'The panel was closed.');
    assert.equal(await page.locator('.pinned-head').count(), 0);
    assert.ok(await page.locator('#difference').isHidden());
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), []);
    assert.deepEqual(server.notFound.filter((p) => p !== '/favicon.ico'), []);
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  });
});
