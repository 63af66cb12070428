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
import { labelInkAcrossBounds } from './layout-probe';
import { formatWeight } from '../../src/shared/attention';
import { tokenSymbolText } from '../../src/shared/token-display';

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

  it('labels the thumbnails with their tokens, grows them with the view\'s width, and names a hovered cell\'s tokens and weight', async () => {
    const stack = new Float32Array(pinned.length * T * T);
    pinned.forEach((h, k) => stack.set(matrixOf(h), k * T * T));
    const tokens = tokenize(bundledModelDir, ref.text);
    const sizes: number[] = [];
    for (const width of [300, 560, 1200]) {
      await page.setViewportSize({ width, height: 800 });
      await page.evaluate(({ tokens, pinned, data }) => {
        (globalThis as any).postMessage({ type: 'compare', tokens, pinned, matrices: new Float32Array(data).buffer }, '*');
      }, { tokens, pinned, data: Array.from(stack) });
      await page.waitForFunction((w) => (globalThis as any).innerWidth === w
        && (globalThis as any).document.querySelectorAll('.pinned-head canvas.thumbnail').length === 3, width);
      const boxes = await page.$$eval('.pinned-head canvas.thumbnail', (cs) => cs.map((c: any) => {
        const r = c.getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, cell: Number(c.dataset.cell) };
      }));
      for (const b of boxes) assert.ok(b.left >= 0 && b.right <= width, `a thumbnail spans ${b.left}–${b.right} in ${width} px`);
      for (let a = 0; a < boxes.length; a++) {
        for (let b = a + 1; b < boxes.length; b++) {
          const [p, q] = [boxes[a], boxes[b]];
          assert.ok(p.right <= q.left || q.right <= p.left || p.bottom <= q.top || q.bottom <= p.top, `thumbnails ${a} and ${b} overlap at ${width} px`);
        }
      }
      const ink = await labelInkAcrossBounds(page, '.pinned-head canvas.thumbnail');
      const step = await page.$eval('.pinned-head canvas.thumbnail', (c: any) => c.dataset.labelStep);
      console.log(`    ${width} px: cell ${boxes[0].cell.toFixed(1)} px, a label every ${step} token(s)`);
      assert.ok(ink.rowInk > 0 && ink.colInk > 0, `token labels on both axes at ${width} px`);
      assert.deepEqual(ink.crossings, [], `labels stay in their own rows and columns at ${width} px`);
      sizes.push(boxes[0].cell * T);
      // The thumbnails use the width: the first row of them spans most of the view (a fixed cap left a wide panel empty).
      const firstRow = boxes.filter((b) => Math.abs(b.top - boxes[0].top) < 1);
      const span = Math.max(...firstRow.map((b) => b.right)) - Math.min(...firstRow.map((b) => b.left));
      assert.ok(span >= 0.8 * (width - 24), `at ${width} px the first row of thumbnails spans ${span.toFixed(0)} px`);
      await shot(page, `compare-thumbnails-${width}.png`);
    }
    assert.ok(sizes[2] > sizes[0] * 1.3, `thumbnails grow with the width: ${sizes.map((s) => s.toFixed(0)).join(' → ')} px`);
    assert.ok(sizes[0] > 150, 'a 300 px side bar still gets a thumbnail over 150 px');
    // Hover cell (i, j) of the second thumbnail: the tip names both tokens and that head's weight.
    const [i, j] = [T - 1, 2];
    const g = await page.$eval('.pinned-head:nth-child(2) canvas.thumbnail', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    await page.locator('.pinned-head:nth-child(2) canvas.thumbnail').hover({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
    await page.waitForSelector('#compare-tip:not([hidden])');
    const tip = await page.locator('#compare-tip').textContent() ?? '';
    const label = (k: number) => `“${tokenSymbolText(tokens[k])}” (#${k})`;
    assert.equal(tip, `${label(i)} → ${label(j)}: ${formatWeight(matrixOf(pinned[1])[i * T + j])}`);
    // The same from the keyboard: Tab reaches the thumbnail, arrows move the cell cursor, End goes to the row's last key.
    const thumb = page.locator('.pinned-head:nth-child(2) canvas.thumbnail');
    await page.mouse.move(0, 0);
    await thumb.focus();
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowDown', 'ArrowRight', 'ArrowUp', 'ArrowDown']) await page.keyboard.press(key);
    await page.waitForSelector('.pinned-head:nth-child(2) canvas.thumbnail[data-cursor="3,1"]');
    assert.equal(await page.locator('#compare-tip').textContent(), `${label(3)} → ${label(1)}: ${formatWeight(matrixOf(pinned[1])[3 * T + 1])}`);
    assert.ok(await page.locator('#compare-tip').isVisible());
    await page.keyboard.press('End');
    await page.waitForSelector(`.pinned-head:nth-child(2) canvas.thumbnail[data-cursor="3,${T - 1}"]`);
    assert.equal(await page.locator('#compare-tip').textContent(), `${label(3)} → ${label(T - 1)}: masked`, 'the bundled model is causal');
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#compare-tip').isHidden());
    // The difference heatmap reads out from the keyboard too, with this message's tokens.
    await page.locator('#difference-canvas').focus();
    await page.keyboard.press('ArrowDown');
    await page.waitForSelector('#difference-canvas[data-cursor="1,0"]');
    assert.match(await page.locator('#compare-tip').textContent() ?? '', new RegExp(`^${label(1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} → `));
    await page.setViewportSize({ width: 960, height: 760 });
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
