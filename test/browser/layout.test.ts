/**
 * The panel's layout at 320, 520 and 1200 px in a real Chromium, on a 35-token run of the bundled model:
 * element boxes (getBoundingClientRect) of the header, toolbar, legends, zoom bar, metrics table and explain
 * chips must not overlap or leave the viewport, no element but the page may scroll, the heatmap's axis labels
 * must stay in their own rows and columns (read back from the canvas pixels), and the metrics table shows its
 * key columns first. Screenshots of every view at every width, and of the new layout in four themes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, repoRoot } from '../support/model';
import { deliver, launch, nextFrames, openWebview, selectDropdown, setTheme, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { layoutProblems, labelInkAcrossBounds } from './layout-probe';
import type { ThemeClass } from './theme';
import { HEAD_PALETTES, parseCssColor } from '../../src/shared/colors';

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
/** 35 tokens with the bundled tokenizer (checked below): long words, so the axis labels are long. */
const TEXT = 'The quick brown fox jumps over the lazy dog. Attention heads look back at tokens.';
const WIDTHS = [320, 520, 1200] as const;

describe('panel layout from 320 px to full width in Chromium', function () {
  this.timeout(240000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let T = 0;

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
    const tokens = tokenize(bundledModelDir, TEXT);
    T = tokens.length;
    await deliver(page, {
      type: 'show', runId: 1, documentLabel: 'a-long-document-name-for-the-layout-test.txt', text: TEXT, tokens,
      model: {
        name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: config.n_positions,
        extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
      },
      backend: 'wasm', notices: ['Used the selection.'], timings: { tokenizeMs: 1 },
    });
    await waitForPosted(page, 'result', 1);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Resizes the page and waits until the views have re-laid out (the ResizeObserver renders, then a paint). */
  async function setWidth(width: number): Promise<void> {
    await page.setViewportSize({ width, height: 760 });
    await page.waitForFunction((w) => (globalThis as any).innerWidth === w, width);
    await nextFrames(page);
    await nextFrames(page);
  }

  async function openTab(id: string, ready: string): Promise<void> {
    await page.locator(`#tab-${id}`).click();
    await page.waitForFunction((sel) => !!(globalThis as any).document.querySelector(sel), ready);
    await nextFrames(page);
  }

  it('tokenizes the text to 35 tokens', () => assert.equal(T, 35));

  for (const width of WIDTHS) {
    it(`at ${width} px: no overlaps, nothing off-screen, no nested scrolling in any view`, async () => {
      await setWidth(width);
      const views: [string, string][] = [['tokens', '#tokens .token'], ['heatmap', '#heatmap[data-cell]'], ['lines', '#lines[data-row-h]'],
        ['grid', '#grid'], ['metrics', '#metrics-table td[data-key="induction"][data-value]'], ['residual', '#residual[data-mean]:not([data-mean=""])']];
      for (const [view, ready] of views) {
        await openTab(view, ready);
        const problems = await layoutProblems(page);
        await shot(page, `layout-${view}-${width}.png`);
        assert.deepEqual(problems, [], `${view} at ${width} px`);
      }
    });

    it(`at ${width} px: the metrics table shows Head, Pin and Induction first, on screen for every head`, async () => {
      await setWidth(width);
      await openTab('metrics', '#metrics-table td[data-key="induction"][data-value]');
      const heads = await page.$$eval('#metrics-table thead th', (ths) => ths.map((t: any) => t.textContent.replace(/ [▲▼]$/, '')));
      assert.deepEqual(heads.slice(0, 3), ['Head', 'Compare', 'Induction']);
      const rows = await page.$$eval('#metrics-table tbody tr', (trs) => trs.map((tr: any) => {
        const w = (globalThis as any).innerWidth;
        const inView = (e: any) => { const r = e?.getBoundingClientRect(); return !!r && r.width > 0 && r.left >= 0 && r.right <= w; };
        return [tr.dataset.head, inView(tr.querySelector('td.head')), inView(tr.querySelector('.pin')), inView(tr.querySelector('td[data-key="induction"]'))];
      }));
      assert.equal(rows.length, 12, 'every head of the 3×4 model');
      for (const [head, ...shown] of rows) assert.deepEqual(shown, [true, true, true], `${head}: name, Pin and Induction on screen`);
    });

    it(`at ${width} px: heatmap labels on every axis, each within its own row or column, with no empty band above`, async () => {
      await setWidth(width);
      await openTab('heatmap', '#heatmap[data-cell]');
      const ink = await labelInkAcrossBounds(page);
      const g = await page.$eval('#heatmap', (c: any) => ({ ...c.dataset }));
      console.log(`    ${width} px: cell ${(+g.cell).toFixed(1)} px, a label every ${g.labelStep} token(s), ink ${ink.rowInk}/${ink.colInk} px`);
      assert.ok(ink.rowInk > 0 && ink.colInk > 0, 'query and key labels are drawn');
      assert.deepEqual(ink.crossings, [], 'no label reaches into its neighbour\'s band');
      assert.ok(ink.firstInkRow <= 6, `the longest key label starts ${ink.firstInkRow} px below the canvas top (no empty band)`);
      const gap = await page.evaluate(() => {
        const d = (globalThis as any).document;
        return d.getElementById('heatmap').getBoundingClientRect().top - d.getElementById('heatmap-zoom').getBoundingClientRect().bottom;
      });
      assert.ok(gap >= 0 && gap <= 16, `the heatmap starts ${gap.toFixed(1)} px under the zoom bar`);
    });

    it(`at ${width} px: the explain view's softmax chips are readable, each bar under its numbers`, async () => {
      await setWidth(width);
      await openTab('heatmap', '#heatmap[data-cell]');
      const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
      const [i, j] = [T - 1, 3];
      await page.locator('#heatmap').click({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
      await page.waitForSelector(`#explain[data-query="${i}"][data-key="${j}"] .chip.chosen`);
      const chips = await page.$$eval('#explain .chip:not(.masked)', (els) => els.map((c: any) => {
        const box = (sel: string) => {
          const r = c.querySelector(sel)?.getBoundingClientRect();
          return r && { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
        };
        return { num: box('.chip-num'), bar: box('.chip-bar'), font: parseFloat((globalThis as any).getComputedStyle(c.querySelector('.chip-num')).fontSize) };
      }));
      assert.equal(chips.length, i + 1, 'a chip for every key of the causal row');
      for (const [k, c] of chips.entries()) {
        assert.ok(c.font >= 11, `chip ${k}: numbers at ${c.font} px`);
        assert.ok(c.num && c.bar && c.bar.height >= 3, `chip ${k} has its numbers and a bar`);
        assert.ok(c.bar!.top >= c.num!.bottom - 0.5, `chip ${k}: the bar (top ${c.bar!.top}) is under the numbers (bottom ${c.num!.bottom})`);
      }
      const [close, title] = await page.evaluate(() => ['#explain .explain-close', '#explain h3'].map((s) => {
        const r = (globalThis as any).document.querySelector(s).getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      }));
      assert.ok(close.left >= title.right || close.bottom <= title.top || close.top >= title.bottom, 'the close button is clear of the title');
      assert.deepEqual(await layoutProblems(page), []);
      await shot(page, `layout-explain-${width}.png`);
    });
  }

  it('draws the colour-blind-safe head palette of each theme and keeps the layout in all four themes (screenshots)', async () => {
    await setWidth(520);
    await openTab('tokens', '#tokens .token');
    await selectDropdown(page, 'head-select', 'all');
    await page.locator('#tokens .token[data-token-index="20"]').click(); // locks token 20 (the explain test locked another)
    await page.waitForSelector('#tokens[data-bars="20"]');
    const themes: [ThemeClass, 'dark' | 'light'][] = [['vscode-dark', 'dark'], ['vscode-light', 'light'],
      ['vscode-high-contrast', 'dark'], ['vscode-high-contrast-light', 'light']];
    const rgb = (hex: string) => { const c = parseCssColor(hex)!; return `rgb(${c.r}, ${c.g}, ${c.b})`; };
    for (const [theme, palette] of themes) {
      await setTheme(page, theme);
      await page.waitForFunction((want) => {
        const sw = [...(globalThis as any).document.querySelectorAll('#tokens-legend .head-swatch')];
        return sw.length > 0 && (globalThis as any).getComputedStyle(sw[0]).backgroundColor === want;
      }, rgb(HEAD_PALETTES[palette][0]));
      const swatches = await page.$$eval('#tokens-legend .head-swatch', (els) => els.map((e: any) => (globalThis as any).getComputedStyle(e).backgroundColor));
      assert.deepEqual(swatches.slice(0, HEAD_PALETTES[palette].length), HEAD_PALETTES[palette].slice(0, swatches.length).map(rgb), theme);
      assert.deepEqual(await layoutProblems(page), [], `tokens in ${theme}`);
      await shot(page, `layout-all-heads-${theme}.png`);
      for (const [view, ready] of [['heatmap', '#heatmap[data-cell]'], ['lines', '#lines[data-row-h]'], ['metrics', '#metrics-table td[data-value]']]) {
        await openTab(view, ready);
        assert.deepEqual(await layoutProblems(page), [], `${view} in ${theme}`);
        await shot(page, `layout-${view}-${theme}.png`);
      }
      await openTab('tokens', '#tokens .token');
    }
    await setTheme(page, 'vscode-dark');
    await selectDropdown(page, 'head-select', '0');
  });
});
