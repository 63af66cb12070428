/**
 * Layout checks run inside the panel page: overlapping element boxes, boxes outside the viewport, elements
 * that scroll inside the page, and heatmap axis-label ink that crosses from one label's band into the next.
 * Node side only drives page.evaluate; the measuring is getBoundingClientRect and canvas pixels.
 */
import type { Page } from 'playwright-core';

/** Containers whose visible children must not overlap one another nor leave the viewport. */
export const CHECKED_GROUPS = ['.title-row', '#toolbar', '.legend', '.legend-item', '.zoom-bar', '.grid-controls', '#tokens',
  '#metrics-table thead tr', '#metrics-table tbody tr', '.row-chips', '.chip', '.predictions li', '.explain-steps'];

/**
 * Every layout problem on the page now, as sentences (empty: none): the page wider than the viewport, an
 * element other than the page that scrolls, overlapping children of a CHECKED_GROUPS container, a child
 * outside the viewport.
 */
export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate((groups) => {
    const g = globalThis as any;
    const d = g.document;
    const out: string[] = [];
    const vw = g.innerWidth;
    const name = (e: any): string => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : ''}`;
    if (d.documentElement.scrollWidth > vw + 0.5) out.push(`the page is ${d.documentElement.scrollWidth} px wide in a ${vw} px viewport`);
    // Elements that scroll inside the page (shadow roots of the toolkit's components included).
    const walk = (root: any, f: (e: any) => void): void => {
      for (const e of root.querySelectorAll('*')) {
        f(e);
        if (e.shadowRoot) walk(e.shadowRoot, f);
      }
    };
    walk(d, (e) => {
      if (e === d.documentElement || e === d.body || !e.checkVisibility?.()) return;
      const cs = g.getComputedStyle(e);
      const x = /auto|scroll/.test(cs.overflowX) && e.scrollWidth > e.clientWidth + 1;
      const y = /auto|scroll/.test(cs.overflowY) && e.scrollHeight > e.clientHeight + 1;
      if (x || y) out.push(`${name(e)} scrolls inside the page (${e.scrollWidth}×${e.scrollHeight} in ${e.clientWidth}×${e.clientHeight})`);
    });
    for (const sel of groups) {
      for (const box of d.querySelectorAll(sel)) {
        if (!box.checkVisibility()) continue;
        const kids = [...box.children].filter((k: any) => k.checkVisibility() && g.getComputedStyle(k).position !== 'absolute')
          .map((k: any) => ({ k, r: k.getBoundingClientRect() })).filter(({ r }) => r.width > 0 && r.height > 0);
        for (const { k, r } of kids) {
          if (r.left < -0.5 || r.right > vw + 0.5) out.push(`${name(k)} in ${sel} spans x ${r.left.toFixed(1)}–${r.right.toFixed(1)}, outside 0–${vw}`);
        }
        for (let a = 0; a < kids.length; a++) {
          for (let b = a + 1; b < kids.length; b++) {
            const [p, q] = [kids[a].r, kids[b].r];
            const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
            const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
            if (w > 0.5 && h > 0.5) out.push(`${name(kids[a].k)} and ${name(kids[b].k)} in ${sel} overlap by ${w.toFixed(1)}×${h.toFixed(1)} px`);
          }
        }
      }
    }
    return [...new Set(out)];
  }, CHECKED_GROUPS);
}

/** The heatmap's label ink, read back from the canvas pixels. */
export interface LabelInk {
  /** Device pixels with ink (alpha > 25 %) in the row-label strip and in the column-label strip. */
  readonly rowInk: number;
  readonly colInk: number;
  /** Ink pixels on the lines halfway between two neighbouring labels (each label's band edge). */
  readonly crossings: string[];
  /** CSS px from the canvas's top to its first row with any ink. */
  readonly firstInkRow: number;
}

/**
 * Reads a matrix canvas with axis labels (the heatmap, or another selector): labels are drawn for every data-label-step-th token, each centred on its cell,
 * so the line halfway between two drawn labels is the edge of both bands and no label's ink may be on it.
 */
export async function labelInkAcrossBounds(page: Page, canvas = '#heatmap'): Promise<LabelInk> {
  return page.$eval(canvas, (c: any) => {
    const dpr = c.width / parseFloat(c.style.width);
    const ds = c.dataset;
    const [x0, y0, cell, rows, cols, step] = [+ds.x0, +ds.y0, +ds.cell, +ds.rows, +ds.cols, +(ds.labelStep ?? 1)];
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const inked = (px: number, py: number): boolean => data[(py * c.width + px) * 4 + 3] > 64;
    let rowInk = 0;
    let colInk = 0;
    for (let py = Math.ceil(y0 * dpr); py < Math.floor((y0 + rows * cell) * dpr); py++) {
      for (let px = 0; px < Math.floor((x0 - 2) * dpr); px++) if (inked(px, py)) rowInk++;
    }
    for (let py = 0; py < Math.floor((y0 - 2) * dpr); py++) {
      for (let px = Math.ceil(x0 * dpr); px < Math.floor((x0 + cols * cell) * dpr); px++) if (inked(px, py)) colInk++;
    }
    const crossings: string[] = [];
    for (let i = 0; i + step < Math.max(rows, cols); i += step) {
      const mid = (i + 0.5 + step / 2) * cell;
      if (i + step < rows) {
        const py = Math.round((y0 + mid) * dpr);
        let n = 0;
        for (let px = 0; px < Math.floor((x0 - 2) * dpr); px++) if (inked(px, py)) n++;
        if (n) crossings.push(`row labels ${i} and ${i + step}: ${n} px of ink on the line between them`);
      }
      if (i + step < cols) {
        const px = Math.round((x0 + mid) * dpr);
        let n = 0;
        for (let py = 0; py < Math.floor((y0 - 2) * dpr); py++) if (inked(px, py)) n++;
        if (n) crossings.push(`column labels ${i} and ${i + step}: ${n} px of ink on the line between them`);
      }
    }
    let firstInkRow = c.height;
    for (let py = 0; py < c.height && firstInkRow === c.height; py++) {
      for (let px = 0; px < c.width; px++) if (inked(px, py)) { firstInkRow = py; break; }
    }
    return { rowInk, colInk, crossings, firstInkRow: firstInkRow / dpr };
  });
}
