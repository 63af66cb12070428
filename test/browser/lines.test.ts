/**
 * The Lines view (BertViz's head view) in a real Chromium on the bundled model, with known answers from the
 * whole attention matrix the page received: the lines drawn for a focused query are its row (keys with a
 * positive weight, at those weights), read back from the canvas pixels where each line meets its key; a focused
 * key draws its column; keyboard moves the focus; no focus draws each query's top 3; All heads draws every head.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { repoRoot } from '../support/model';
import { bundledShow, deliver, launch, openWebview, selectDropdown, setTheme, shot, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import type { ThemeClass } from './theme';

const TEXT = 'The cat sat on the mat. The cat sat on the mat again.';
const [LAYER, HEAD] = [1, 2];

describe('lines view in Chromium', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let T = 0;
  let H = 0;
  let data: number[] = [];
  const errors: string[] = [];
  const weight = (h: number, i: number, j: number): number => data[((LAYER * H + h) * T + i) * T + j];

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    await deliver(page, bundledShow(server.origin, 1, 'cats.txt', TEXT));
    const r = await waitForPosted(page, 'result', 1);
    [T, H, data] = [r.attention.queries, r.attention.heads, r.attention.data];
    await selectDropdown(page, 'layer-select', String(LAYER));
    await selectDropdown(page, 'head-select', String(HEAD));
    await page.locator('#tab-lines').click();
    await page.waitForSelector('#lines[data-row-h]');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** For every token of a column: is a line drawn where lines meet it (alpha of the canvas just inside the column)? */
  async function inkAt(side: 'query' | 'key', count: number): Promise<boolean[]> {
    return page.$eval('#lines', (c: any, { side, count }) => {
      const dpr = c.width / parseFloat(c.style.width);
      const d = c.dataset;
      const x = side === 'key' ? +d.right - 6.5 : +d.left + 6.5;
      const ctx = c.getContext('2d');
      return Array.from({ length: count }, (_, k) => {
        const y = +d.top + (k + 0.5) * +d.rowH;
        return ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data[3] > 0;
      });
    }, { side, count });
  }

  /** Hovers token k of a column. */
  async function hover(side: 'query' | 'key', k: number): Promise<void> {
    const d = await page.$eval('#lines', (c: any) => ({ ...c.dataset, width: parseFloat(c.style.width) }));
    const x = side === 'query' ? +d.left / 2 : (+d.right + d.width) / 2;
    await page.locator('#lines').hover({ position: { x, y: +d.top + (k + 0.5) * +d.rowH } });
    await page.waitForFunction((want) => (globalThis as any).document.getElementById('lines').dataset.focus === want, `${side} ${k}`);
    await page.waitForFunction(() => (globalThis as any).document.getElementById('lines').dataset.pending === '');
  }

  it('draws, for a hovered query, one line to every key of its row, at the row\'s weights', async () => {
    const i = T - 4;
    await hover('query', i);
    const row = Array.from({ length: T }, (_, j) => weight(HEAD, i, j));
    const drawn = (await page.$eval('#lines', (c: any) => c.dataset.drawn as string)).split(' ').map((s) => s.split(':').map(Number));
    assert.deepEqual(drawn.map(([j]) => j), row.flatMap((w, j) => (w > 0 ? [j] : [])), 'the keys with a positive weight');
    for (const [j, w] of drawn) assert.ok(Math.abs(w - row[j]) <= 5e-5, `key ${j}: ${w} vs ${row[j]}`);
    assert.deepEqual(await inkAt('key', T), row.map((w) => w > 0), 'a line reaches exactly the keys it attends to');
    assert.match(await page.locator('#lines-status').textContent() ?? '', /attends most to/);
    await shot(page, 'lines-query-dark.png');
  });

  it('draws, for a hovered key, its column: lines from every query that attends to it', async () => {
    const j = 3;
    await hover('key', j);
    const column = Array.from({ length: T }, (_, i) => weight(HEAD, i, j));
    assert.deepEqual(await inkAt('query', T), column.map((w) => w > 0), 'lines from the queries at or after the key');
    assert.ok(column.slice(0, j).every((w) => w === 0) && column.slice(j).every((w) => w > 0));
    assert.match(await page.locator('#lines-status').textContent() ?? '', /is attended most by/);
  });

  it('moves the focus with the keyboard and clears it with Escape (then each query\'s top 3)', async () => {
    await page.mouse.move(1, 1);
    await page.locator('#lines').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => (globalThis as any).document.getElementById('lines').dataset.focus === 'query 1');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => (globalThis as any).document.getElementById('lines').dataset.focus === 'key 1');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => (globalThis as any).document.getElementById('lines').dataset.focus === '');
    // Unfocused: each query's 3 strongest keys; every key in some query's top 3 is reached, and only those.
    const reached = new Set<number>();
    for (let i = 0; i < T; i++) {
      const order = Array.from({ length: T }, (_, j) => j).filter((j) => weight(HEAD, i, j) > 0)
        .sort((a, b) => weight(HEAD, i, b) - weight(HEAD, i, a) || a - b);
      order.slice(0, 3).forEach((j) => reached.add(j));
    }
    await page.waitForFunction(() => {
      const c = (globalThis as any).document.getElementById('lines');
      return c.dataset.focus === '' && c.dataset.pending === '';
    });
    assert.deepEqual(await inkAt('key', T), Array.from({ length: T }, (_, j) => reached.has(j)));
  });

  it('draws every head in its colour with All heads, and in all four themes', async () => {
    await selectDropdown(page, 'head-select', 'all');
    await hover('query', T - 1);
    const all = Array.from({ length: T }, (_, j) => Array.from({ length: H }, (_, h) => weight(h, T - 1, j)).some((w) => w > 0));
    assert.deepEqual(await inkAt('key', T), all);
    const drawn = (await page.$eval('#lines', (c: any) => c.dataset.drawn as string)).split(' ');
    for (let h = 0; h < H; h++) {
      const want = Array.from({ length: T }, (_, j) => j).filter((j) => weight(h, T - 1, j) > 0);
      assert.deepEqual(drawn.filter((s) => s.startsWith(`${h}/`)).map((s) => Number(s.slice(s.indexOf('/') + 1, s.indexOf(':')))), want, `head ${h}`);
    }
    for (const theme of ['vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light'] as ThemeClass[]) {
      await setTheme(page, theme);
      await shot(page, `lines-all-heads-${theme}.png`);
    }
    await setTheme(page, 'vscode-dark');
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  });
});
