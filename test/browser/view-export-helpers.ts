/**
 * Helpers for the view-export browser tests: asking the page's worker as the host does, parsing an exported SVG with
 * Chromium's XML parser, and checking each cell's colour against the weight served (colour maths written here, apart
 * from the product's). Node only.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseCssColor, type Rgba } from '../../src/shared/colors';
import { THEME_VARS } from './theme';

/** The 'matrix' answer the page's worker gives, as the host would receive it (data as an ArrayBuffer). */
export async function askPage(page: Page, runId: number, query: unknown, weighted = false): Promise<any> {
  const a = await page.evaluate(async ({ runId, query, weighted }) => {
    const g = globalThis as any;
    const id = (g.__exportQueryId = (g.__exportQueryId ?? 2_000_000) + 1);
    g.postMessage({ type: 'query', id, runId, query, ...(weighted ? { weighted } : {}) }, '*');
    const answer = await new Promise<any>((resolve) => {
      const look = () => {
        const m = g.__posted.find((x: any) => x.type === 'answer' && x.id === id);
        if (m) resolve(m);
        else g.requestAnimationFrame(look);
      };
      look();
    });
    if (answer.error) throw new Error(answer.error);
    return { ...answer.answer, data: Array.from(new Uint8Array(answer.answer.data)) };
  }, { runId, query, weighted });
  return { ...a, data: Uint8Array.from(a.data).buffer };
}

/** Colour mix a → b at t, channels rounded: written here apart from the product's colour code. */
export const mix = (a: Rgba, b: Rgba, t: number): [number, number, number] =>
  [Math.round(a.r + (b.r - a.r) * t), Math.round(a.g + (b.g - a.g) * t), Math.round(a.b + (b.b - a.b) * t)];
export const rgbOf = (hex: string): [number, number, number] => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)) as [number, number, number];
export const close = (a: number[], b: number[], tol = 1) => a.every((v, k) => Math.abs(v - b[k]) <= tol);

/** An SVG parsed by Chromium's XML parser: parse errors, the background, and each matrix group's rects expanded into cells. */
export async function parseSvg(page: Page, svg: string): Promise<any> {
  return page.evaluate((text) => {
    const doc = new (globalThis as any).DOMParser().parseFromString(text, 'image/svg+xml');
    const err = doc.querySelector('parsererror');
    const groups = [...doc.querySelectorAll('g.matrix')].map((g: any) => {
      const rows = +g.dataset.rows;
      const cols = +g.dataset.cols;
      const cells: (string | null)[] = new Array(rows * cols).fill(null);
      for (const r of g.querySelectorAll('rect')) {
        const [x, y, w] = ['x', 'y', 'width'].map((k) => +r.getAttribute(k));
        for (let j = x; j < x + w; j++) cells[y * cols + j] = r.getAttribute('fill');
      }
      // transform="translate(x y) scale(sx sy)": the CSS px the group covers are cols·sx × rows·sy.
      const [, , , sx, sy] = (/translate\(([^ ]+) ([^)]+)\) scale\(([^ ]+) ([^)]+)\)/.exec(g.getAttribute('transform')) ?? []).map(Number);
      return { layer: +g.dataset.layer, head: g.dataset.head, rows, cols, pooled: g.dataset.pooled === 'true', scale: +g.dataset.scale, cells,
        width: cols * sx, height: rows * sy };
    });
    const attr = (sel: string, a: string) => doc.querySelector(sel)?.getAttribute(a) ?? null;
    return { error: err?.textContent ?? null, root: doc.documentElement.nodeName, background: attr('rect.background', 'fill'),
      hatch: attr('pattern#hatch path', 'stroke'), selected: attr('rect.selected', 'stroke'), groups,
      labels: [...doc.querySelectorAll('text[data-query]')].map((t: any) => t.textContent),
      keyLabels: [...doc.querySelectorAll('text[data-key]')].map((t: any) => t.textContent),
      values: [...doc.querySelectorAll('g.value text')].map((t: any) => t.textContent), badges: [...doc.querySelectorAll('g.badge text')].map((t: any) => t.textContent) };
  }, svg);
}

/** The theme of test class `kind` from its --vscode-* variables, as RGBA: what the export must be drawn in. */
export const themeOf = (kind: keyof typeof THEME_VARS) => {
  const v = (n: string) => parseCssColor(THEME_VARS[kind][n])!;
  const [bg, fg] = [v('editor-background'), v('editor-foreground')];
  return { bg, fg, accent: v('charts-blue'), focus: v('focusBorder'), masked: mix(bg, fg, 0.07), hatch: mix(bg, fg, 0.28) };
};

/** Checks every cell of a parsed group against the worker's answer: the colour the display's ramp gives its weight. */
export function checkCells(g: any, served: any, theme: ReturnType<typeof themeOf>, what: string): void {
  assert.deepEqual([g.rows, g.cols, g.pooled, g.scale], [served.rows, served.cols, served.pooled, served.scale], `${what}: the size and scale served`);
  const w = new Float32Array(served.data);
  for (let i = 0; i < g.rows; i++) {
    for (let j = 0; j < g.cols; j++) {
      const v = w[i * g.cols + j];
      const masked = Number.isNaN(v) || (served.causal && !served.pooled && j > i);
      const want = masked ? theme.masked : mix(theme.bg, theme.accent, Math.sqrt(Math.min(1, Math.max(0, v) / served.scale)));
      const got = g.cells[i * g.cols + j];
      assert.ok(got && close(rgbOf(got), want), `${what} cell (${i}, ${j}) weight ${v}: ${got}, want rgb(${want.join(', ')})`);
    }
  }
}
