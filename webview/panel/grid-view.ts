/**
 * The Model grid: a thumbnail of every layer × head on one canvas, plus a mean column per layer. Each head's
 * thumbnail carries its label badges and the value of one metric, picked in a dropdown above the grid.
 * Click or Enter selects a head; double-click opens it in the Heatmap. Arrow keys move a cursor; the
 * current cell and its metrics are announced in `#grid-status`.
 */
import { rgbaToCss, withAlpha } from '../../src/shared/colors';
import { servedImage, blitMatrix, canvasFont, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeLabels, LABEL_SHORT, type HeadLabel, type HeadMetricValues } from '../../src/shared/head-labels';
import { formatMetric, isValueMetric, metricInfo, VALUE_METRICS, type ValueMetric } from './metric-info';
import { headChoiceLabel, type HeadChoice, type RunData } from './state';

/** What the grid draws. */
export interface GridModel {
  readonly run: RunData;
  readonly layer: number;
  readonly head: HeadChoice;
  readonly theme: Theme;
  /** The automatic labels of a head, drawn as badges on its thumbnail. */
  readonly labels?: (layer: number, head: number) => readonly HeadLabel[];
  /** Every head's metrics, layer-major (RunData.metrics); the grid writes `metric` of each on its thumbnail. */
  readonly metrics?: readonly HeadMetricValues[];
  /** The metric written on the thumbnails. */
  readonly metric: ValueMetric;
  /** Analyse Heads Across File: " (file-wide mean ± sd over N windows)" of a head's metric, '' without an analysis. */
  readonly fileWide?: (layer: number, head: number, metric: ValueMetric) => string;
}

/** Callbacks from the grid. */
export interface GridEvents {
  select(layer: number, head: HeadChoice): void;
  open(layer: number, head: HeadChoice): void;
  /** The user picked another metric for the thumbnails. */
  metric(key: ValueMetric): void;
}

interface Layout {
  x0: number;
  y0: number;
  thumb: number;
  gap: number;
  meanGap: number;
  cols: number;
  rows: number;
}

/** Renders and drives the model grid canvas. */
export class GridView {
  private readonly canvas = document.getElementById('grid') as HTMLCanvasElement;
  private readonly wrap = document.getElementById('grid-wrap')!;
  private readonly status = document.getElementById('grid-status')!;
  private readonly images = new Map<string, HTMLCanvasElement>();
  private model?: GridModel;
  private layout?: Layout;
  private cursor: [number, number] | null = null;

  private readonly chooser = GridView.metricChooser();

  constructor(private readonly events: GridEvents) {
    this.chooser.addEventListener('change', () => {
      const key = this.chooser.value;
      if (isValueMetric(key) && key !== this.model?.metric) this.events.metric(key);
    });
    this.canvas.addEventListener('click', (ev) => {
      const c = this.cellAt(ev.offsetX, ev.offsetY);
      if (c) {
        this.cursor = c;
        this.events.select(c[0], this.headOf(c[1]));
      }
    });
    this.canvas.addEventListener('dblclick', (ev) => {
      const c = this.cellAt(ev.offsetX, ev.offsetY);
      if (c) this.events.open(c[0], this.headOf(c[1]));
    });
    this.canvas.addEventListener('mousemove', (ev) => {
      const c = this.cellAt(ev.offsetX, ev.offsetY);
      this.canvas.style.cursor = c ? 'pointer' : 'default';
      this.canvas.title = c && this.model ? this.tip(this.model, c[0], this.headOf(c[1])) : '';
    });
    this.canvas.addEventListener('keydown', (ev) => this.onKey(ev));
    this.canvas.addEventListener('focus', () => {
      if (!this.cursor && this.model) this.cursor = [this.model.layer, this.colOf(this.model.head)];
      if (this.model) this.draw(this.model);
    });
  }

  /** The "Value on thumbnails" dropdown, made once and put above the grid's legend. */
  private static metricChooser(): HTMLElement & { value: string } {
    const row = document.createElement('div');
    row.className = 'grid-controls';
    const label = document.createElement('label');
    label.htmlFor = 'grid-metric';
    label.textContent = 'Value on each head';
    const select = document.createElement('vscode-dropdown') as HTMLElement & { value: string };
    select.id = 'grid-metric';
    select.setAttribute('aria-label', 'Metric written on each head of the grid');
    for (const c of VALUE_METRICS) {
      const o = document.createElement('vscode-option');
      o.setAttribute('value', c.key);
      o.title = c.title;
      o.textContent = c.label;
      select.append(o);
    }
    row.append(label, select);
    const legend = document.getElementById('grid-legend')!;
    legend.parentElement!.insertBefore(row, legend);
    return select;
  }

  /** The metrics of head (layer, head), or undefined for aggregates and before a result. */
  private metricsOf(m: GridModel, layer: number, head: HeadChoice): HeadMetricValues | undefined {
    return typeof head === 'number' ? m.metrics?.[layer * m.run.heads + head] : undefined;
  }

  /** ", Prev-token 0.887" for a head, '' for the mean column. */
  private valueText(m: GridModel, layer: number, head: HeadChoice): string {
    const r = this.metricsOf(m, layer, head);
    return r ? `, ${metricInfo(m.metric).label} ${formatMetric(r, m.metric)}${m.fileWide?.(r.layer, r.head, m.metric) ?? ''}` : '';
  }

  /** A thumbnail's tooltip: the head, the chosen metric's value, its labels with what they mean, and what a click does. */
  private tip(m: GridModel, layer: number, head: HeadChoice): string {
    const labels = typeof head === 'number' ? m.labels?.(layer, head) ?? [] : [];
    return `L${layer} ${headChoiceLabel(head)}${this.valueText(m, layer, head)}.` + (labels.length ? ` ${describeLabels(labels)}` : '') +
      ' Click to select, double-click to open.';
  }

  /** Forgets cached thumbnails (new run or theme). */
  invalidate(): void {
    this.images.clear();
  }

  private headOf(col: number): HeadChoice {
    return this.model && col >= this.model.run.heads ? 'mean' : col;
  }

  private colOf(head: HeadChoice): number {
    return typeof head === 'number' ? head : (this.model?.run.heads ?? 0);
  }

  private cellX(l: Layout, c: number): number {
    return l.x0 + c * (l.thumb + l.gap) + (c === l.cols - 1 ? l.meanGap : 0);
  }

  private cellAt(x: number, y: number): [number, number] | null {
    const l = this.layout;
    if (!l) return null;
    for (let r = 0; r < l.rows; r++) {
      const top = l.y0 + r * (l.thumb + l.gap);
      if (y < top || y >= top + l.thumb) continue;
      for (let c = 0; c < l.cols; c++) {
        const left = this.cellX(l, c);
        if (x >= left && x < left + l.thumb) return [r, c];
      }
    }
    return null;
  }

  private onKey(ev: KeyboardEvent): void {
    const l = this.layout;
    if (!l || !this.model) return;
    const [r, c] = this.cursor ?? [this.model.layer, this.colOf(this.model.head)];
    let next: [number, number] | null = null;
    if (ev.key === 'ArrowUp') next = [Math.max(0, r - 1), c];
    else if (ev.key === 'ArrowDown') next = [Math.min(l.rows - 1, r + 1), c];
    else if (ev.key === 'ArrowLeft') next = [r, Math.max(0, c - 1)];
    else if (ev.key === 'ArrowRight') next = [r, Math.min(l.cols - 1, c + 1)];
    else if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      if (ev.key === 'Enter' && ev.altKey) this.events.open(r, this.headOf(c));
      else this.events.select(r, this.headOf(c));
      return;
    } else return;
    ev.preventDefault();
    this.cursor = next;
    this.draw(this.model);
  }

  /** Label badges along the bottom of a thumbnail (foreground text on a background chip, so any theme reads). */
  private drawBadges(ctx: CanvasRenderingContext2D, labels: readonly HeadLabel[], x: number, y: number, thumb: number, theme: Theme): void {
    if (!labels.length) return;
    ctx.save();
    ctx.font = canvasFont(theme, 0.72);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    const h = Math.round(theme.fontSize * 0.72 + 6);
    let bx = x + 2;
    let by = y + thumb - h - 2;
    for (const l of labels) {
      const text = LABEL_SHORT[l];
      const w = ctx.measureText(text).width + 8;
      if (bx + w > x + thumb - 2 && bx > x + 2) { bx = x + 2; by -= h + 2; }
      ctx.fillStyle = rgbaToCss(withAlpha(theme.bg, 0.88));
      ctx.strokeStyle = rgbaToCss(theme.focus);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.roundRect(bx, by, w, h, 3);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = rgbaToCss(theme.fg);
      ctx.fillText(text, bx + 4, by + h / 2 + 0.5);
      bx += w + 3;
    }
    ctx.restore();
  }

  /**
   * The metric's value in a chip at the top-right corner of a thumbnail (over the masked half of a causal
   * head), two decimals (one for distances); left out when the thumbnail is too small to hold it. True when drawn.
   */
  private drawValue(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, thumb: number, theme: Theme): boolean {
    ctx.save();
    ctx.font = canvasFont(theme, 0.72);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const h = Math.round(theme.fontSize * 0.72 + 6);
    const w = Math.ceil(ctx.measureText(text).width) + 8;
    const fits = w + 4 <= thumb && h * 2 + 6 <= thumb;
    if (fits) {
      const bx = x + thumb - w - 2;
      ctx.fillStyle = rgbaToCss(withAlpha(theme.bg, 0.9));
      ctx.strokeStyle = rgbaToCss(withAlpha(theme.fg, 0.45));
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.roundRect(bx, y + 2, w, h, 3);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = rgbaToCss(theme.fg);
      ctx.fillText(text, bx + w - 4, y + 2 + h / 2 + 0.5);
    }
    ctx.restore();
    return fits;
  }

  /** Time one draw may spend building thumbnails before it leaves the rest to the next frame. */
  static readonly FRAME_BUDGET_MS = 30;
  private nextFrame = 0;

  /** Draws all thumbnails for the model state (those not built yet follow on the next frames). */
  draw(m: GridModel): void {
    const started = performance.now();
    let pending = 0;
    this.model = m;
    const { run, theme } = m;
    const { layers, heads } = run;
    if (!run.ready || this.wrap.clientWidth === 0) return;
    const cols = heads + 1;
    const avail = Math.max(160, this.wrap.clientWidth - 8);
    const labelW = 34;
    const labelH = 20;
    const gap = 6;
    const meanGap = 8;
    const thumb = Math.max(24, Math.min(110, Math.floor((avail - labelW - meanGap - gap * cols) / cols)));
    const l: Layout = { x0: labelW, y0: labelH, thumb, gap, meanGap, cols, rows: layers };
    this.layout = l;
    Object.assign(this.canvas.dataset, { x0: String(l.x0), y0: String(l.y0), thumb: String(thumb), gap: String(gap),
      meanGap: String(meanGap), cols: String(cols), rows: String(layers) });
    const width = this.cellX(l, cols - 1) + thumb + 2;
    const height = labelH + layers * (thumb + gap);
    const ctx = sizeCanvas(this.canvas, width, height);
    ctx.font = canvasFont(theme, 0.8);
    ctx.textBaseline = 'middle';
    ctx.fillStyle = rgbaToCss(withAlpha(theme.fg, 0.8));
    ctx.textAlign = 'center';
    for (let c = 0; c < cols; c++) ctx.fillText(c < heads ? `H${c}` : 'mean', this.cellX(l, c) + thumb / 2, labelH / 2);
    ctx.textAlign = 'right';
    for (let r = 0; r < layers; r++) ctx.fillText(`L${r}`, labelW - 6, labelH + r * (thumb + gap) + thumb / 2);
    let shown = 0;
    for (let r = 0; r < layers; r++) {
      for (let c = 0; c < cols; c++) {
        const head: HeadChoice = c < heads ? c : 'mean';
        const key = `${run.runId}|${r}|${head}`;
        let img = this.images.get(key);
        // Each thumbnail comes from the worker max-pooled to its device pixels; images are built within a frame
        // budget, the rest on the next frames (or when the worker's answer arrives): never one long task.
        if (!img && performance.now() - started < GridView.FRAME_BUDGET_MS) {
          const served = run.matrix(r, head, thumb * (window.devicePixelRatio || 1));
          if (served) {
            img = servedImage(served, theme);
            this.images.set(key, img);
          }
        }
        const x = this.cellX(l, c);
        const y = labelH + r * (thumb + gap);
        if (img) blitMatrix(ctx, img, x, y, thumb);
        else pending++;
        ctx.strokeStyle = rgbaToCss(theme.contrastBorder ?? withAlpha(theme.fg, 0.2));
        ctx.lineWidth = 1;
        ctx.strokeRect(x - 0.5, y - 0.5, thumb + 1, thumb + 1);
        if (typeof head === 'number' && m.labels) this.drawBadges(ctx, m.labels(r, head), x, y, thumb, theme);
        const metrics = this.metricsOf(m, r, head);
        if (metrics && this.drawValue(ctx, formatMetric(metrics, m.metric, m.metric === 'distance' ? 1 : 2), x, y, thumb, theme)) shown++;
        const selected = r === m.layer && (m.head === head || (m.head === 'all' && head === 'mean'));
        if (selected) {
          ctx.strokeStyle = rgbaToCss(theme.focus);
          ctx.lineWidth = 3;
          ctx.strokeRect(x - 2, y - 2, thumb + 4, thumb + 4);
        }
        if (this.cursor && this.cursor[0] === r && this.cursor[1] === c && document.activeElement === this.canvas) {
          ctx.setLineDash([3, 2]);
          ctx.strokeStyle = rgbaToCss(theme.fg);
          ctx.lineWidth = 1.5;
          ctx.strokeRect(x - 4, y - 4, thumb + 8, thumb + 8);
          ctx.setLineDash([]);
        }
      }
    }
    const badges: string[] = [];
    for (let r = 0; r < layers && m.labels; r++) {
      for (let h = 0; h < heads; h++) {
        const ls = m.labels(r, h);
        if (ls.length) badges.push(`L${r} H${h}: ${ls.join(', ')}`);
      }
    }
    this.canvas.dataset.labels = badges.join('; ');
    const info = metricInfo(m.metric);
    const values = (m.metrics ?? []).map((x) => `L${x.layer} H${x.head}: ${x[m.metric] ?? '—'}`);
    Object.assign(this.canvas.dataset, { metric: m.metric, values: values.join('; '), valuesShown: String(shown) });
    if (this.chooser.value !== m.metric) {
      this.chooser.value = m.metric;
      // Options are slotted asynchronously on first render (as in controls.ts fillOptions).
      queueMicrotask(() => { if (this.chooser.value !== m.metric) this.chooser.value = m.metric; });
    }
    const legend = document.getElementById('grid-legend');
    if (legend) {
      legend.textContent = `Number on each head: ${info.label}, ${info.title[0].toLowerCase()}${info.title.slice(1)}.` + (m.labels
        ? ' Badges: ' + (Object.entries(LABEL_SHORT) as [HeadLabel, string][]).map(([l, s]) => (l === s ? l : `${s} = ${l}`)).join(' · ') +
          ' (rules and thresholds in the Metrics tab)'
        : '');
    }
    const [cr, cc] = this.cursor ?? [m.layer, this.colOf(m.head)];
    const here = `L${cr} ${headChoiceLabel(this.headOf(cc))}`;
    const selected = `Selected: L${m.layer} ${headChoiceLabel(m.head)}${this.valueText(m, m.layer, m.head)}.`;
    if (document.activeElement === this.canvas) this.canvas.title = this.tip(m, cr, this.headOf(cc));
    this.status.textContent = document.activeElement === this.canvas
      ? `${selected} Cursor: ${here}${this.cursorMetrics(m, cr, this.headOf(cc))}. Enter selects, Alt+Enter opens the heatmap.`
      : `${selected} Click a thumbnail to select it, double-click to open it in the Heatmap.`;
    this.canvas.setAttribute('aria-label', `Model grid: ${layers} layers × ${heads} heads and a mean column, ${info.label} on each head. ` +
      `${this.status.textContent}` + (badges.length ? ` Labels: ${badges.join('; ')}.` : ''));
    this.canvas.dataset.pending = String(pending);
    cancelAnimationFrame(this.nextFrame);
    if (pending > 0) this.nextFrame = requestAnimationFrame(() => { if (this.model === m) this.draw(m); });
  }

  /** " — Prev-token 0.887, First token 0.000, …; labels: previous-token: looks at …" for the cursor's head, '' for the mean column. */
  private cursorMetrics(m: GridModel, layer: number, head: HeadChoice): string {
    const r = this.metricsOf(m, layer, head);
    if (!r || typeof head !== 'number') return typeof head === 'number' ? '' : ' (metrics are per head)';
    const labels = m.labels?.(layer, head) ?? [];
    return ` — ${VALUE_METRICS.map((c) => `${c.label} ${formatMetric(r, c.key)}`).join(', ')}` +
      (labels.length ? `; labels: ${describeLabels(labels)}` : '');
  }
}
