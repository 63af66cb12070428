/**
 * The Heatmap view: the selected head's T×K matrix (rows = query tokens, columns = key tokens; K = T except
 * for cross-attention) on one
 * canvas at devicePixelRatio, masked upper triangle hatched, token labels on both axes, the focused row
 * outlined (or, with "Attended by", the focused key's column, and the tip names the queries that attend to it
 * most). Hover or arrow keys show row, column and weight in `#heatmap-tip`.
 */
import { rgbaToCss, withAlpha } from '../../src/shared/colors';
import { formatWeight, topK } from '../../src/shared/attention';
import { servedImage, blitMatrix, hatchMasked, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken } from '../common/token-text';
import { drawAxisLabels, labelStep, measureAxisLabels, type AxisLabelSizes } from '../common/axis-labels';
import { renderHeatmapLegend } from './heatmap-legend';
import { followCell, zoomWindow } from '../../src/shared/zoom-window';
import type { MatrixRegion } from '../../src/shared/attention-query';
import { headChoiceLabel, type HeadChoice, type RunData } from './state';

/** What the heatmap draws. */
export interface HeatmapModel {
  readonly run: RunData;
  readonly layer: number;
  readonly head: HeadChoice;
  readonly focused: number | null;
  readonly theme: Theme;
  /** 'by' ("Attended by"): the focused token is a key, its column outlined; hovering a cell focuses its key. */
  readonly direction?: 'to' | 'by';
}

/** Callbacks from the heatmap. */
export interface HeatmapEvents {
  /** The pointer or keyboard cursor is on token i: the cell's query row, or its key column when attended by (null: left). */
  hoverRow(i: number | null): void;
  lock(i: number | null): void;
  /** Explain the weight of cell (i, j) (click or Enter); when absent, those lock the row. */
  explain?(i: number, j: number): void;
}

interface Layout {
  x0: number;
  y0: number;
  cell: number;
  T: number;
  /** Key tokens (columns). */
  K: number;
  /** The window drawn: the whole matrix, or the zoomed region. */
  w: MatrixRegion;
}

/** Renders and drives the heatmap canvas. */
export class HeatmapView {
  private readonly canvas = document.getElementById('heatmap') as HTMLCanvasElement;
  private readonly wrap = document.getElementById('heatmap-wrap')!;
  private readonly tip = document.getElementById('heatmap-tip')!;
  private readonly legend = document.getElementById('heatmap-legend')!;
  private readonly images = new Map<string, HTMLCanvasElement>();
  private model?: HeatmapModel;
  private layout?: Layout;
  private cursor: [number, number] | null = null;
  /** A tip waiting for its row: query, key and where the pointer was. */
  private pendingTip?: [number, number, number, number];
  /** The zoomed window (undefined: the whole matrix), kept while the run's shape stays. */
  private zoom?: MatrixRegion;

  constructor(private readonly events: HeatmapEvents) {
    this.canvas.addEventListener('mousemove', (ev) => {
      const cell = this.cellAt(ev.offsetX, ev.offsetY);
      if (!cell) return this.leave();
      const moved = !this.cursor || this.cursor[0] !== cell[0] || this.cursor[1] !== cell[1];
      this.cursor = cell;
      this.showTip(cell, ev.offsetX, ev.offsetY);
      this.events.hoverRow(this.focusOf(cell));
      if (moved && this.model) this.draw(this.model);
    });
    this.canvas.addEventListener('mouseleave', () => this.leave());
    this.canvas.addEventListener('click', (ev) => {
      const cell = this.cellAt(ev.offsetX, ev.offsetY);
      if (cell && this.events.explain) this.events.explain(cell[0], cell[1]);
      else if (cell) this.events.lock(cell[0]);
    });
    this.canvas.addEventListener('keydown', (ev) => this.onKey(ev));
    this.canvas.addEventListener('wheel', (ev) => {
      if (!ev.ctrlKey && !ev.metaKey) return; // a plain wheel scrolls the panel
      const cell = this.cellAt(ev.offsetX, ev.offsetY);
      if (!cell) return;
      ev.preventDefault();
      this.zoomBy(ev.deltaY < 0 ? 2 : 0.5, cell);
    }, { passive: false });
    document.getElementById('zoom-in')?.addEventListener('click', () => this.zoomBy(2));
    document.getElementById('zoom-out')?.addEventListener('click', () => this.zoomBy(0.5));
    document.getElementById('zoom-reset')?.addEventListener('click', () => this.setZoom(undefined));
    this.canvas.addEventListener('blur', () => { this.tip.hidden = true; });
  }

  /** Forgets cached matrix images (new run or theme). */
  invalidate(): void {
    this.images.clear();
  }

  /** Forgets the zoom (a new run). */
  resetZoom(): void {
    this.zoom = undefined;
  }

  /** Zooms in (factor > 1) or out around a cell: the one given, else the cursor, the focused row or the window's centre. */
  private zoomBy(factor: number, at?: [number, number]): void {
    const m = this.model;
    if (!m) return;
    const w = this.layout?.w;
    const center = at ?? this.cursor ?? (m.focused !== null ? [m.focused, Math.min(m.focused, m.run.K - 1)] : undefined)
      ?? (w ? [w.row + (w.rows >> 1), w.col + (w.cols >> 1)] : [0, 0]);
    this.setZoom(zoomWindow(m.run.T, m.run.K, this.zoom, center, factor));
  }

  private setZoom(w: MatrixRegion | undefined): void {
    this.zoom = w;
    this.tip.hidden = true;
    if (this.model) this.draw(this.model);
  }

  private leave(): void {
    this.cursor = null;
    this.pendingTip = undefined;
    this.tip.hidden = true;
    this.events.hoverRow(null);
    if (this.model) this.draw(this.model);
  }

  private cellAt(x: number, y: number): [number, number] | null {
    const l = this.layout;
    if (!l) return null;
    const i = Math.floor((y - l.y0) / l.cell);
    const j = Math.floor((x - l.x0) / l.cell);
    return i >= 0 && j >= 0 && i < l.w.rows && j < l.w.cols ? [l.w.row + i, l.w.col + j] : null;
  }

  private onKey(ev: KeyboardEvent): void {
    const l = this.layout;
    if (!l || !this.model) return;
    const [i, j] = this.cursor ?? [this.model.focused ?? 0, 0];
    let next: [number, number] | null = null;
    if (ev.key === 'ArrowUp') next = [Math.max(0, i - 1), j];
    else if (ev.key === 'ArrowDown') next = [Math.min(l.T - 1, i + 1), j];
    else if (ev.key === 'ArrowLeft') next = [i, Math.max(0, j - 1)];
    else if (ev.key === 'ArrowRight') next = [i, Math.min(l.K - 1, j + 1)];
    else if (ev.key === 'Home') next = [i, 0];
    else if (ev.key === 'End') next = [i, l.K - 1];
    else if (ev.key === '+' || ev.key === '=') return void (ev.preventDefault(), this.zoomBy(2, [i, j]));
    else if (ev.key === '-') return void (ev.preventDefault(), this.zoomBy(0.5, [i, j]));
    else if (ev.key === '0') return void (ev.preventDefault(), this.setZoom(undefined));
    else if ((ev.key === 'Enter' || ev.key === ' ') && this.events.explain) this.events.explain(i, j);
    else if (ev.key === 'Enter' || ev.key === ' ') this.events.lock(i);
    else if (ev.key === 'Escape') {
      this.events.lock(null);
      this.tip.hidden = true;
    } else return;
    ev.preventDefault();
    if (!next) return;
    this.cursor = next;
    // The cursor walking out of a zoomed window moves the window with it.
    if (this.zoom) this.zoom = followCell(this.zoom, l.T, l.K, next);
    const w = this.zoom ?? l.w;
    this.showTip(next, l.x0 + (next[1] - w.col + 1) * l.cell, l.y0 + (next[0] - w.row + 1) * l.cell);
    this.events.hoverRow(this.focusOf(next));
    this.draw(this.model);
  }

  /** The token a cell focuses: its query, or its key when the view shows what attends to a token. */
  private focusOf([i, j]: [number, number]): number {
    return this.model?.direction === 'by' ? j : i;
  }

  private showTip([i, j]: [number, number], x: number, y: number): void {
    const m = this.model;
    if (!m) return;
    const row = m.run.row(m.layer, m.head, i);
    const masked = m.run.masked(m.layer, i, j);
    // Attended by: the key's column (the worker's 'column' answer) names the queries that attend to it most.
    const column = m.direction === 'by' ? m.run.column(m.layer, m.head, j) : undefined;
    // The exact weight comes with the row from the worker: the tip shows once it is in (draw() calls back here).
    this.pendingTip = (row || masked) && (column || m.direction !== 'by') ? undefined : [i, j, x, y];
    if (this.pendingTip) {
      this.tip.hidden = true;
      return;
    }
    const w = row?.[j] ?? 0;
    const lines = [
      `query ${describeToken(m.run.labels, i)}`,
      `key ${describeToken(m.run.keyLabels, j)}`,
      masked ? (j > i ? 'masked (future token)' : `masked (outside the layer's sliding window of ${m.run.windows[m.layer]} tokens)`) : `${m.run.valueWeighted ? 'α·‖v‖ share' : 'weight'} ${formatWeight(w)}`,
      ...(column ? [`key attended most by ${topK(column, 3).map((q) => `${describeToken(m.run.labels, q)} ${formatWeight(column[q])}`).join(', ')}`] : []),
    ];
    this.tip.replaceChildren(...lines.map((t) => {
      const d = document.createElement('div');
      d.textContent = t;
      return d;
    }));
    this.tip.dataset.row = String(i);
    this.tip.dataset.col = String(j);
    this.tip.dataset.weight = formatWeight(w);
    this.tip.hidden = false;
    const pad = 12;
    const maxX = this.wrap.clientWidth - this.tip.offsetWidth - 4;
    const left = Math.max(0, Math.min(x + pad, maxX));
    const top = y + pad + this.tip.offsetHeight > this.canvas.offsetHeight ? Math.max(0, y - pad - this.tip.offsetHeight) : y + pad;
    this.tip.style.left = `${left + this.canvas.offsetLeft}px`;
    this.tip.style.top = `${top + this.canvas.offsetTop}px`;
  }

  /** Draws the matrix for the model state (sizes to the wrapper width). */
  draw(m: HeatmapModel): void {
    this.model = m;
    const { run, theme } = m;
    const T = run.T;
    const K = run.K;
    const avail = Math.max(120, this.wrap.clientWidth - 8);
    if (!run.ready || T === 0 || this.wrap.clientWidth === 0) return;
    if (this.zoom && (this.zoom.row + this.zoom.rows > T || this.zoom.col + this.zoom.cols > K)) this.zoom = undefined;
    const w: MatrixRegion = this.zoom ?? { row: 0, col: 0, rows: T, cols: K };
    const [rows, cols] = [w.rows, w.cols];
    // Labels fit the longest one drawn; one every `step` tokens when a cell is smaller than a line of text.
    const rowTexts = run.labels.slice(w.row, w.row + rows).map((l) => l.label);
    const colTexts = run.keyLabels.slice(w.col, w.col + cols).map((l) => l.label);
    let sizes: AxisLabelSizes | undefined = Math.max(rows, cols) <= 96 ? measureAxisLabels(theme, rowTexts, colTexts, avail) : undefined;
    let cell = Math.floor((avail - (sizes?.width ?? 0)) / cols);
    if (cell < 3) sizes = undefined;
    if (!sizes) cell = Math.floor(avail / cols);
    // Fit the height of the webview too, so the whole window is visible without scrolling where possible.
    const byHeight = Math.floor((window.innerHeight - 40 - (sizes?.height ?? 0)) / rows);
    // Cells stop at 28 px for the whole matrix; a zoomed window may magnify them further.
    cell = Math.max(sizes ? 3 : 2, Math.min(this.zoom ? 64 : 28, cell, byHeight));
    // More keys than pixel pairs across: fit the width with fractional cells; the worker max-pools the window to the
    // canvas's pixels (a hover still reads the exact weight of the cell under the pointer; zoom in to see cells).
    if (!sizes && avail / cols < 2) cell = avail / cols;
    const step = sizes ? labelStep(sizes.fontPx, cell) : 0;
    // Only every step-th label is drawn: the key strip shrinks to the longest of those (the row strip keeps its width).
    if (sizes && step > 1) sizes = { ...sizes, height: measureAxisLabels(theme, rowTexts, colTexts, avail, step).height };
    const labelW = step ? sizes!.width : 0;
    const labelH = step ? sizes!.height : 0;
    const size = cols * cell;
    const height = rows * cell;
    const x0 = labelW + 1;
    const y0 = labelH + 1;
    // Until the worker has served this window, the last drawing stays.
    const served = run.matrix(m.layer, m.head, Math.max(size, height) * (window.devicePixelRatio || 1), this.zoom);
    if (!served) return;
    this.layout = { x0, y0, cell, T, K, w };
    // Geometry in CSS px, for tests and tools that need to point at a cell: cell (i, j) is at x0 + (j − col0)·cell.
    Object.assign(this.canvas.dataset, { x0: String(x0), y0: String(y0), cell: String(cell), tokens: String(T), keys: String(K),
      row0: String(w.row), col0: String(w.col), rows: String(rows), cols: String(cols), labelStep: String(step) });
    const ctx = sizeCanvas(this.canvas, x0 + size + 2, y0 + height + 2);
    const key = `${run.runId}|${m.layer}|${m.head}|${served.rows}|${served.cols}|${run.valueWeighted}|${w.row},${w.col},${rows},${cols}`;
    const max = served.scale;
    let img = this.images.get(key);
    if (!img) {
      img = servedImage(served, theme);
      if (this.images.size > 64) this.images.clear();
      this.images.set(key, img);
    }
    blitMatrix(ctx, img, x0, y0, size, height);
    if (run.causal) hatchMasked(ctx, w, x0, y0, cell, theme.hatch, run.windows[m.layer]);
    ctx.strokeStyle = rgbaToCss(theme.contrastBorder ?? withAlpha(theme.fg, 0.3));
    ctx.lineWidth = 1;
    ctx.strokeRect(x0 - 0.5, y0 - 0.5, size + 1, height + 1);
    const f = m.focused;
    ctx.strokeStyle = rgbaToCss(theme.focus);
    ctx.lineWidth = 2;
    if (f !== null && m.direction === 'by' && f >= w.col && f < w.col + cols) ctx.strokeRect(x0 + (f - w.col) * cell, y0 - 1, cell, height + 2);
    else if (f !== null && m.direction !== 'by' && f >= w.row && f < w.row + rows) ctx.strokeRect(x0 - 1, y0 + (f - w.row) * cell, size + 2, cell);
    this.canvas.dataset.outline = f === null ? '' : `${m.direction === 'by' ? 'column' : 'row'} ${f}`;
    const c = this.cursor;
    if (c && c[0] >= w.row && c[0] < w.row + rows && c[1] >= w.col && c[1] < w.col + cols) {
      ctx.strokeStyle = rgbaToCss(theme.fg);
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x0 + (c[1] - w.col) * cell + 0.75, y0 + (c[0] - w.row) * cell + 0.75, cell - 1.5, cell - 1.5);
    }
    if (sizes && step) {
      drawAxisLabels(ctx, { theme, window: w, rowLabels: run.labels.map((l) => l.label), colLabels: run.keyLabels.map((l) => l.label),
        x0, y0, cell, sizes, step, focused: m.focused, sameAxes: run.keyLabels === run.labels });
    }
    this.canvas.setAttribute('aria-label', `Attention heatmap, layer ${m.layer} ${headChoiceLabel(m.head)}, ${K === T && run.keyLabels === run.labels ? `${T} tokens` : `${T} query × ${K} key tokens`}. ` +
      'Rows are query tokens, columns are key tokens. Arrow keys move the cursor; Enter locks the row.');
    renderHeatmapLegend(this.legend, m, max, this.zoom);
    if (this.pendingTip && this.cursor?.[0] === this.pendingTip[0] && this.cursor[1] === this.pendingTip[1]) {
      const [i, j, x, y] = this.pendingTip;
      this.showTip([i, j], x, y);
    }
  }
}
