/**
 * Theme changes in a real Chromium: the panel's canvases and token colours come from the --vscode-*
 * variables and follow a theme change (body class and variables, as VS Code does it), high contrast
 * included, where the product adds its contrast borders. Pixels and computed styles are read back and
 * compared with the colours the theme's variables give; screenshots are taken in high contrast.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { heatIntensity, mixColors, parseCssColor, scaleMax, type Rgba } from '../../src/shared/colors';
import { loadReference, repoRoot } from '../support/model';
import { bundledShow, deliver, launch, nextFrames, openWebview, selectDropdown, setTheme, setThemeVariables, shot, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { THEME_VARS, type ThemeClass } from './theme';

type Px = [number, number, number, number];

/** A theme variable of a test theme as RGBA. */
function themeColor(vars: Readonly<Record<string, string>>, name: string): Rgba {
  const c = parseCssColor(vars[name]);
  assert.ok(c, `test theme has --vscode-${name}`);
  return c;
}

const near = (p: Px, c: Rgba, tol = 1.5): boolean =>
  Math.abs(p[0] - c.r) <= tol && Math.abs(p[1] - c.g) <= tol && Math.abs(p[2] - c.b) <= tol && p[3] === 255;
const hex = (c: Rgba): string => `rgb(${[c.r, c.g, c.b].map(Math.round).join(', ')})`;

/** RGBA of the device pixels of canvas `selector` in the CSS-px box (x, y, w, h). */
async function canvasPixels(page: Page, selector: string, x: number, y: number, w: number, h: number): Promise<Px[]> {
  return page.$eval(selector, (c: any, box) => {
    const dpr = c.width / parseFloat(c.style.width);
    const [x, y, w, h] = [Math.floor(box.x * dpr), Math.floor(box.y * dpr), Math.max(1, Math.round(box.w * dpr)), Math.max(1, Math.round(box.h * dpr))];
    const d = c.getContext('2d').getImageData(x, y, w, h).data;
    const out: number[][] = [];
    for (let k = 0; k < d.length; k += 4) out.push([d[k], d[k + 1], d[k + 2], d[k + 3]]);
    return out;
  }, { x, y, w, h }) as Promise<Px[]>;
}

/** RGBA of the heatmap canvas's device pixels in the CSS-px box (x, y, w, h). */
const heatPixels = (page: Page, x: number, y: number, w: number, h: number): Promise<Px[]> => canvasPixels(page, '#heatmap', x, y, w, h);

/** Waits until the centre pixel of heatmap cell (i, j) has colour `want`; fails with the colour it has. */
async function expectCell(page: Page, i: number, j: number, want: Rgba, what: string): Promise<void> {
  const centre = async (): Promise<Px> => {
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    return (await heatPixels(page, g.x0 + (j + 0.5) * g.cell, g.y0 + (i + 0.5) * g.cell, 0, 0))[0];
  };
  for (let tries = 0; tries < 50 && !near(await centre(), want); tries++) await nextFrames(page);
  const got = await centre();
  assert.ok(near(got, want), `${what}: cell (${i}, ${j}) is rgba(${got.join(', ')}), want ${hex(want)}`);
}

/** Computed colours of the token view: target backgrounds (rgb only), target border and locked outline. */
async function tokenColours(page: Page): Promise<{ backgrounds: string[]; border: string; borderStyle: string; outline: string }> {
  return page.evaluate(() => {
    const d = (globalThis as any).document;
    const rgb = (s: string): string => s.replace(/^rgba?\(([^,]+),\s*([^,]+),\s*([^,)]+).*$/, 'rgb($1, $2, $3)');
    const targets = [...d.querySelectorAll('#tokens .token.target:not(.locked)')];
    const cs = (e: any) => (globalThis as any).getComputedStyle(e);
    return {
      backgrounds: targets.map((e) => rgb(cs(e).backgroundColor)),
      border: cs(targets[0]).borderTopColor,
      borderStyle: cs(targets[0]).borderTopStyle,
      outline: cs(d.querySelector('#tokens .token.locked')).outlineColor,
    };
  });
}

describe('panel theme changes in Chromium (dark, light, high contrast)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let matrix: number[];
  let T: number;
  /** The whole result: Float32 [layers, heads, T, T] as numbers. */
  let attention: { layers: number; heads: number; data: number[] };
  const ref = loadReference().reduce((a, b) => (b.ids.length > a.ids.length ? b : a));

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'panel.js')), 'run node scripts/build.mjs first');
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
    await deliver(page, bundledShow(server.origin, 1, 'reference.txt', ref.text));
    const r = await waitForPosted(page, 'result', 1);
    T = r.attention.queries;
    attention = { layers: r.attention.layers, heads: r.attention.heads, data: r.attention.data };
    matrix = r.attention.data.slice(0, T * T); // layer 0, head 0
    await selectDropdown(page, 'layer-select', '0');
    await selectDropdown(page, 'head-select', '0');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** The unmasked cells with the smallest and the largest weight, and the heat colour each should have. */
  function expectedCells(bg: Rgba, accent: Rgba): { i: number; j: number; colour: Rgba }[] {
    const max = scaleMax(matrix, T, true);
    let lo = [1, 0];
    let hi = [1, 0];
    for (let i = 1; i < T; i++) {
      for (let j = 0; j <= i; j++) {
        if (matrix[i * T + j] < matrix[lo[0] * T + lo[1]]) lo = [i, j];
        if (matrix[i * T + j] > matrix[hi[0] * T + hi[1]]) hi = [i, j];
      }
    }
    return [lo, hi].map(([i, j]) => ({ i, j, colour: mixColors(bg, accent, heatIntensity(matrix[i * T + j], max)) }));
  }

  /** Checks the heatmap against a theme's variables: heat cells, the masked colour, and the contrast outline. */
  async function checkHeatmap(vars: Readonly<Record<string, string>>, what: string): Promise<void> {
    const bg = themeColor(vars, 'editor-background');
    const fg = themeColor(vars, 'editor-foreground');
    for (const c of expectedCells(bg, themeColor(vars, 'charts-blue'))) await expectCell(page, c.i, c.j, c.colour, `${what} heat colour`);
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    // A masked (future) cell is the background mixed towards the foreground, under hatch lines.
    const masked = mixColors(bg, fg, vars.contrastBorder ? 0.12 : 0.07);
    const cellPx = await heatPixels(page, g.x0 + (T - 1) * g.cell + 1, g.y0 + 1, g.cell - 2, g.cell - 2);
    assert.ok(cellPx.some((p) => near(p, masked)), `${what}: the masked cell (0, ${T - 1}) has no pixel of ${hex(masked)}`);
    // The matrix outline, left of row T-1: the contrast border in high contrast, never it otherwise.
    const edge = await heatPixels(page, g.x0 - 2, g.y0 + (T - 0.5) * g.cell, 2.5, 0);
    const border = parseCssColor(THEME_VARS['vscode-high-contrast'].contrastBorder)!;
    assert.equal(edge.some((p) => near(p, border)), !!vars.contrastBorder,
      `${what}: matrix outline ${vars.contrastBorder ? 'lacks' : 'has'} the contrast border; pixels ${JSON.stringify(edge)}`);
  }

  /** Checks the token view's target backgrounds, target border and locked outline against a theme's variables. */
  async function checkTokens(vars: Readonly<Record<string, string>>, what: string): Promise<void> {
    const want = hex(themeColor(vars, 'charts-blue'));
    let got = await tokenColours(page);
    for (let tries = 0; tries < 50 && got.backgrounds.some((b) => b !== want); tries++) {
      await nextFrames(page);
      got = await tokenColours(page);
    }
    assert.ok(got.backgrounds.length >= 3, `${what}: at least three targets`);
    assert.deepEqual(got.backgrounds, got.backgrounds.map(() => want), `${what}: target backgrounds are --vscode-charts-blue`);
    assert.equal(got.outline, hex(themeColor(vars, 'focusBorder')), `${what}: the locked token is outlined in --vscode-focusBorder`);
    if (vars.contrastActiveBorder) {
      assert.equal(got.border, hex(themeColor(vars, 'contrastActiveBorder')), `${what}: targets have the contrast active border`);
      assert.equal(got.borderStyle, 'solid');
    } else {
      assert.notEqual(got.border, hex(themeColor(THEME_VARS['vscode-high-contrast'], 'contrastActiveBorder')));
    }
  }

  it('redraws the heatmap in the new theme: dark → light → high contrast → dark', async () => {
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0);
    await page.mouse.move(2, 2);
    for (const kind of ['vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-dark'] as ThemeClass[]) {
      await setTheme(page, kind);
      await checkHeatmap(THEME_VARS[kind], kind);
      if (kind === 'vscode-high-contrast') await shot(page, 'panel-heatmap-hc.png');
    }
  });

  it('recolours the token view in the new theme, with contrast borders in high contrast', async () => {
    await page.locator('#tab-tokens').click();
    const i = T - 3;
    await page.locator(`#tokens .token[data-token-index="${i}"]`).click();
    await page.mouse.move(2, 2);
    await page.waitForSelector(`#tokens .token.locked[data-token-index="${i}"]`);
    for (const kind of ['vscode-dark', 'vscode-light', 'vscode-high-contrast'] as ThemeClass[]) {
      await setTheme(page, kind);
      await checkTokens(THEME_VARS[kind], kind);
    }
    await shot(page, 'panel-tokens-hc.png');
    await setTheme(page, 'vscode-dark');
    await checkTokens(THEME_VARS['vscode-dark'], 'back to dark');
  });

  it('draws the toolkit checkbox with the theme\'s checkbox colours', async () => {
    for (const kind of ['vscode-light', 'vscode-high-contrast', 'vscode-dark'] as ThemeClass[]) {
      await setTheme(page, kind);
      const box = await page.locator('#value-weighted .control').evaluate((e) => {
        const s = (globalThis as any).getComputedStyle(e);
        return { background: s.backgroundColor, border: s.borderTopColor };
      });
      assert.deepEqual(box, {
        background: hex(themeColor(THEME_VARS[kind], 'checkbox-background')), border: hex(themeColor(THEME_VARS[kind], 'checkbox-border')),
      }, kind);
    }
  });

  it('follows variables changed on <html> without a class change (another dark theme)', async () => {
    await setTheme(page, 'vscode-dark');
    const other = { ...THEME_VARS['vscode-dark'], 'editor-background': '#272822', 'editor-foreground': '#f8f8f2', 'charts-blue': '#66d9ef', 'focusBorder': '#99947c' };
    await setThemeVariables(page, other);
    try {
      await checkTokens(other, 'tokens after a variables-only change');
      await page.locator('#tab-heatmap').click();
      await page.mouse.move(2, 2);
      await checkHeatmap(other, 'heatmap after a variables-only change');
    } finally {
      await page.evaluate((names) => {
        for (const n of names) (globalThis as any).document.documentElement.style.removeProperty(`--vscode-${n}`);
      }, Object.keys(other));
    }
    await checkHeatmap(THEME_VARS['vscode-dark'], 'heatmap after the variables are removed');
  });

  /**
   * Checks one grid thumbnail (layer, head; not the selected one, whose focus ring covers its outline) against a
   * theme's variables: its outline on all four sides is the contrast border exactly when the theme has one; a
   * strongly and a faintly attended cell (rows 30–60 % down, clear of the value chip and the label badges) are
   * the background mixed towards --vscode-charts-blue by √(weight / scale), the faint one visibly off the
   * background; a masked cell is the background mixed towards the foreground.
   */
  async function checkGridThumb(vars: Readonly<Record<string, string>>, layer: number, head: number, what: string): Promise<void> {
    const bg = themeColor(vars, 'editor-background');
    const fg = themeColor(vars, 'editor-foreground');
    const accent = themeColor(vars, 'charts-blue');
    const g = await page.$eval('#grid', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, thumb: +c.dataset.thumb, gap: +c.dataset.gap,
      meanGap: +c.dataset.meanGap, cols: +c.dataset.cols, dpr: c.width / parseFloat(c.style.width) }));
    assert.ok(head < g.cols - 1, 'a head column, not the mean');
    assert.ok(T <= Math.ceil(g.thumb * g.dpr), `one image pixel per cell (T = ${T}, thumbnail ${g.thumb} CSS px)`);
    const x = g.x0 + head * (g.thumb + g.gap);
    const y = g.y0 + layer * (g.thumb + g.gap);
    const mat = attention.data.slice((layer * attention.heads + head) * T * T, (layer * attention.heads + head + 1) * T * T);
    const max = scaleMax(mat, T, true);
    const band: [number, number][] = [];
    for (let i = Math.ceil(0.3 * T); i <= Math.floor(0.6 * T); i++) for (let j = 0; j <= i; j++) band.push([i, j]);
    const w = ([i, j]: [number, number]) => mat[i * T + j];
    const hot = band.reduce((a, b) => (w(b) > w(a) ? b : a));
    // The cell nearest 5 % of the scale: faint, but √0.05 ≈ 0.22 of the way to the accent.
    const faint = band.reduce((a, b) => (Math.abs(w(b) / max - 0.05) < Math.abs(w(a) / max - 0.05) ? b : a));
    const masked: [number, number] = [Math.floor(0.45 * T), T - 1];
    const cells: { cell: [number, number]; colour: Rgba; name: string }[] = [
      { cell: hot, colour: mixColors(bg, accent, heatIntensity(w(hot), max)), name: 'strongest cell' },
      { cell: faint, colour: mixColors(bg, accent, heatIntensity(w(faint), max)), name: 'faint cell' },
      { cell: masked, colour: mixColors(bg, fg, vars.contrastBorder ? 0.12 : 0.07), name: 'masked cell' },
    ];
    const faintColour = cells[1].colour;
    assert.ok(Math.max(Math.abs(faintColour.r - bg.r), Math.abs(faintColour.g - bg.g), Math.abs(faintColour.b - bg.b)) >= 20,
      `${what}: the faint cell (weight ${w(faint).toFixed(4)}, scale ${max.toFixed(4)}) should stand off the background`);
    const at = async ([i, j]: [number, number]): Promise<Px> =>
      (await canvasPixels(page, '#grid', x + ((j + 0.5) * g.thumb) / T, y + ((i + 0.5) * g.thumb) / T, 0, 0))[0];
    // Redraws after a theme change follow on the next frames: wait for them (a hang guard), then assert.
    for (let tries = 0; tries < 50 && !near(await at(hot), cells[0].colour); tries++) await nextFrames(page);
    for (const c of cells) {
      const got = await at(c.cell);
      assert.ok(near(got, c.colour), `${what}: L${layer} H${head} ${c.name} (${c.cell.join(', ')}) is rgba(${got.join(', ')}), want ${hex(c.colour)}`);
    }
    const border = parseCssColor(THEME_VARS['vscode-high-contrast'].contrastBorder)!;
    const edges: [string, [number, number, number, number]][] = [
      ['left', [x - 2, y + g.thumb / 2, 2.5, 0]], ['right', [x + g.thumb - 0.5, y + g.thumb / 2, 2.5, 0]],
      ['top', [x + g.thumb / 2, y - 2, 0, 2.5]], ['bottom', [x + g.thumb / 2, y + g.thumb - 0.5, 0, 2.5]],
    ];
    for (const [side, [ex, ey, ew, eh]] of edges) {
      const px = await canvasPixels(page, '#grid', ex, ey, ew, eh);
      assert.equal(px.some((p) => near(p, border)), !!vars.contrastBorder,
        `${what}: the ${side} outline of L${layer} H${head} ${vars.contrastBorder ? 'lacks' : 'has'} the contrast border; pixels ${JSON.stringify(px)}`);
    }
  }

  it('is readable in high contrast: model grid thumbnails outlined in the contrast border, heat towards the accent', async () => {
    await setTheme(page, 'vscode-high-contrast');
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => {
      const c = (globalThis as any).document.getElementById('grid');
      return Number(c.dataset.thumb) > 0 && c.dataset.pending === '0';
    });
    const [layer, head] = [attention.layers - 1, 1]; // L0 H0 is selected (before()), so its outline is the focus ring
    await checkGridThumb(THEME_VARS['vscode-high-contrast'], layer, head, 'high contrast');
    await shot(page, 'panel-grid-hc.png');
    await setTheme(page, 'vscode-dark');
    await checkGridThumb(THEME_VARS['vscode-dark'], layer, head, 'back to dark');
  });
});
