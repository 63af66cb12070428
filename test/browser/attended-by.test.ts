/**
 * "Attended by" in the heatmap, in a real Chromium on the bundled model: hovering a cell focuses its key, the
 * key's column is outlined in the focus colour (read back from the canvas pixels), and the tip names the
 * queries that attend to that key most, with their weights, as the column of the whole matrix has them.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseCssColor } from '../../src/shared/colors';
import { repoRoot } from '../support/model';
import { bundledShow, deliver, launch, openWebview, selectDropdown, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { THEME_VARS } from './theme';

const TEXT = 'The cat sat on the mat. The cat sat on the mat again, and the dog sat too.';
const [LAYER, HEAD] = [1, 2];

describe('heatmap "Attended by" in Chromium', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let T = 0;
  let matrix: number[] = [];

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
    await deliver(page, bundledShow(server.origin, 1, 'cats.txt', TEXT));
    const r = await waitForPosted(page, 'result', 1);
    T = r.attention.queries;
    const off = (LAYER * r.attention.heads + HEAD) * T * T;
    matrix = r.attention.data.slice(off, off + T * T);
    await selectDropdown(page, 'layer-select', String(LAYER));
    await selectDropdown(page, 'head-select', String(HEAD));
    await page.locator('#tab-heatmap').click();
    await page.waitForSelector('#heatmap[data-cell]');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Hovers cell (i, j) and waits for its tip. */
  async function hoverCell(i: number, j: number): Promise<string[]> {
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    await page.locator('#heatmap').hover({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
    await page.waitForSelector(`#heatmap-tip:not([hidden])[data-row="${i}"][data-col="${j}"]`);
    return page.$$eval('#heatmap-tip > div', (ds) => ds.map((d: any) => d.textContent));
  }

  /** RGBA of the canvas at CSS point (x, y). */
  const pixel = (x: number, y: number): Promise<number[]> => page.$eval('#heatmap', (c: any, p) => {
    const dpr = c.width / parseFloat(c.style.width);
    return [...c.getContext('2d').getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data];
  }, { x, y });

  it('focuses the hovered key, outlines its column and names the queries that attend to it most', async () => {
    await page.locator('#attended-by').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('attended-by').checked === true);
    const [i, j] = [T - 2, 5];
    const lines = await hoverCell(i, j);
    // Column j of the head, from the whole matrix the page received: the three largest weights, ties by position.
    const column = Array.from({ length: T }, (_, q) => [q, matrix[q * T + j]] as const).filter(([, w]) => w > 0)
      .sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3);
    const last = lines[lines.length - 1];
    assert.match(last, /^key attended most by /);
    const shown = [...last.matchAll(/\(#(\d+)\) (\d\.\d{4})/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.deepEqual(shown.map(([q]) => q), column.map(([q]) => q), last);
    for (const [k, [, w]] of shown.entries()) assert.ok(Math.abs(w - column[k][1]) <= 5e-5, `${w} vs ${column[k][1]}`);
    assert.ok(column.every(([q]) => q >= j), 'a causal key is attended only by itself and later queries');
    // The panel focuses the key (the token view and the editor follow it), and the heatmap outlines its column.
    await page.waitForFunction((j) => (globalThis as any).document.getElementById('heatmap').dataset.outline === `column ${j}`, j);
    await page.waitForFunction((j) => (globalThis as any).__posted.some((m: any) => m.type === 'focus' && m.tokenIndex === j), j);
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    const focus = parseCssColor(THEME_VARS['vscode-dark'].focusBorder)!;
    const isFocus = (p: number[]) => Math.abs(p[0] - focus.r) <= 2 && Math.abs(p[1] - focus.g) <= 2 && Math.abs(p[2] - focus.b) <= 2;
    // The column's left edge, on a row far from the hovered cell (whose own outline is the foreground colour).
    assert.ok(isFocus(await pixel(g.x0 + j * g.cell, g.y0 + 1.5 * g.cell)), 'the key column is outlined in the focus colour');
    assert.ok(!isFocus(await pixel(g.x0 - 1, g.y0 + (i + 0.5) * g.cell)), 'the query row is not outlined');
    assert.match(await page.locator('#heatmap-legend').textContent() ?? '', /attended by: the focused key’s column is outlined/);
  });

  it('goes back to query rows when turned off', async () => {
    await page.locator('#attended-by').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('attended-by').checked === false);
    const [i, j] = [T - 3, 4];
    const lines = await hoverCell(i, j);
    assert.ok(!lines.some((l) => /attended most by/.test(l)), lines.join(' | '));
    await page.waitForFunction((i) => (globalThis as any).document.getElementById('heatmap').dataset.outline === `row ${i}`, i);
    // The focus the host gets is throttled (100 ms): wait for it rather than read the messages at once.
    await page.waitForFunction((i) => (globalThis as any).__posted.some((m: any) => m.type === 'focus' && m.tokenIndex === i), i);
  });
});
