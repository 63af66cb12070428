/**
 * The Lines view (BertViz's head view): query tokens in a left column, key tokens in a right one, and a line
 * from each query to each key it attends to, its opacity the weight. Focus a token (hover, or arrow keys on the
 * canvas) to see only its lines: a query's row, or a key's column (who attends to it); with "All heads" each
 * head's lines in its own colour. Without a focus every query shows its 3 strongest lines. Everything comes
 * from the worker as rows, columns or top-k, never a whole matrix. Canvas at devicePixelRatio, theme colours.
 */
import { rgbaToCss, weightToAlpha, withAlpha, maxValue, type Rgba } from '../../src/shared/colors';
import { formatWeight, topK } from '../../src/shared/attention';
import { canvasFont, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken, shortLabel } from '../common/token-text';
import { headChoiceLabel, type HeadChoice, type RunData } from './state';

/** Lines per query drawn when no token is focused. */
const UNFOCUSED_TOP = 3;
/** Longest input whose every query's lines are drawn unfocused (one top-k question per query). */
const MAX_UNFOCUSED = 256;

/** What the lines view draws. */
export interface LinesModel {
  readonly run: RunData;
  readonly layer: number;
  readonly head: HeadChoice;
  /** The panel's focused query (hover elsewhere or lock), used when this view has no focus of its own. */
  readonly focused: number | null;
  readonly theme: Theme;
}

/** A focused token: a query (left column) or a key (right column). */
interface LineFocus {
  readonly side: 'query' | 'key';
  readonly index: number;
}

/** Renders and drives #lines. */
export class LinesView {
  private readonly canvas = document.getElementById('lines') as HTMLCanvasElement;
  private readonly legend = document.getElementById('lines-legend')!;
  private readonly status = document.getElementById('lines-status')!;
  private model?: LinesModel;
  private own: LineFocus | null = null;
  private geometry = { left: 0, right: 0, rowH: 16, top: 4 };

  constructor(private readonly onHoverQuery: (i: number | null) => void) {
    this.canvas.addEventListener('mousemove', (ev) => this.setFocus(this.tokenAt(ev.offsetX, ev.offsetY)));
    this.canvas.addEventListener('mouseleave', () => this.setFocus(null));
    this.canvas.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  private tokenAt(x: number, y: number): LineFocus | null {
    const m = this.model;
    const g = this.geometry;
    if (!m) return null;
    const index = Math.floor((y - g.top) / g.rowH);
    const side = x < (g.left + g.right) / 2 ? 'query' : 'key';
    return index >= 0 && index < (side === 'query' ? m.run.T : m.run.K) ? { side, index } : null;
  }

  private setFocus(f: LineFocus | null): void {
    if (f?.side === this.own?.side && f?.index === this.own?.index) return;
    this.own = f;
    this.onHoverQuery(f?.side === 'query' ? f.index : null);
    if (this.model) this.draw(this.model);
  }

  private onKey(ev: KeyboardEvent): void {
    const m = this.model;
    if (!m) return;
    const f = this.focus(m) ?? { side: 'query' as const, index: -1 };
    const last = (side: LineFocus['side']): number => (side === 'query' ? m.run.T : m.run.K) - 1;
    let next: LineFocus | null | undefined;
    if (ev.key === 'ArrowDown') next = { side: f.side, index: Math.min(last(f.side), f.index + 1) };
    else if (ev.key === 'ArrowUp') next = { side: f.side, index: Math.max(0, f.index - 1) };
    else if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      const side = ev.key === 'ArrowRight' ? 'key' : 'query';
      next = { side, index: Math.max(0, Math.min(last(side), f.index)) };
    } else if (ev.key === 'Home') next = { side: f.side, index: 0 };
    else if (ev.key === 'End') next = { side: f.side, index: last(f.side) };
    else if (ev.key === 'Escape') next = null;
    if (next === undefined) return;
    ev.preventDefault();
    this.setFocus(next);
  }

  private focus(m: LinesModel): LineFocus | null {
    return this.own ?? (m.focused !== null ? { side: 'query', index: m.focused } : null);
  }

  /** The weights of the focused token for one head choice: its row (query) or column (key), once the worker has them. */
  private weights(m: LinesModel, f: LineFocus, head: HeadChoice): Float32Array | undefined {
    return f.side === 'query' ? m.run.row(m.layer, head, f.index) : m.run.column(m.layer, head, f.index);
  }

  /** Draws the two token columns and the lines for the model state (sizes to the view's width). */
  draw(m: LinesModel): void {
    this.model = m;
    const { run, theme } = m;
    const width = this.canvas.parentElement?.clientWidth ?? 0;
    if (!run.ready || width === 0) return;
    const T = run.T;
    const K = run.K;
    const fontPx = Math.max(10, Math.round(theme.fontSize * 0.9));
    const rowH = fontPx + 6;
    const colW = Math.min(150, Math.floor(width * 0.3));
    const g = { left: colW, right: width - colW, rowH, top: 4 };
    this.geometry = g;
    const ctx = sizeCanvas(this.canvas, width, g.top * 2 + Math.max(T, K) * rowH);
    Object.assign(this.canvas.dataset, { left: String(g.left), right: String(g.right), rowH: String(rowH), top: String(g.top) });
    const y = (k: number): number => g.top + (k + 0.5) * rowH;
    const line = (i: number, j: number, colour: Rgba, alpha: number, width = 1.5): void => {
      ctx.strokeStyle = rgbaToCss(withAlpha(colour, alpha));
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(g.left + 6, y(i));
      ctx.lineTo(g.right - 6, y(j));
      ctx.stroke();
    };
    const f = this.focus(m);
    const heads: HeadChoice[] = m.head === 'all' ? Array.from({ length: run.heads }, (_, h) => h) : [m.head];
    const drawn: string[] = [];
    let pending = false;
    if (f && f.index < (f.side === 'query' ? T : K)) {
      for (const h of heads) {
        const w = this.weights(m, f, h);
        if (!w) { pending = true; continue; }
        const colour = typeof h === 'number' && m.head === 'all' ? theme.head(h) : theme.accent;
        const max = maxValue(w);
        w.forEach((v, k) => {
          if (!(v > 0)) return;
          if (f.side === 'query') line(f.index, k, colour, weightToAlpha(v, max), 2);
          else line(k, f.index, colour, weightToAlpha(v, max), 2);
          drawn.push(`${heads.length > 1 ? `${h}/` : ''}${k}:${formatWeight(v)}`);
        });
      }
    } else if (m.head !== 'all' && T <= MAX_UNFOCUSED) {
      for (let i = 0; i < T; i++) {
        const top = run.topk(m.layer, m.head, i, UNFOCUSED_TOP);
        if (!top) { pending = true; continue; }
        top.keys.forEach((j, k) => line(i, j, theme.accent, 0.5 * weightToAlpha(top.weights[k], 1)));
      }
    }
    this.canvas.dataset.focus = f ? `${f.side} ${f.index}` : '';
    // For tests and tools: what is drawn for the focus ("key:weight", "head/key:weight" with All heads), once all is in.
    Object.assign(this.canvas.dataset, { drawn: pending ? '' : drawn.join(' '), pending: pending ? '1' : '' });
    this.drawTokens(ctx, m, f, fontPx, y);
    this.describe(m, f, heads);
  }

  private drawTokens(ctx: CanvasRenderingContext2D, m: LinesModel, f: LineFocus | null, fontPx: number, y: (k: number) => number): void {
    const { run, theme } = m;
    const g = this.geometry;
    ctx.font = canvasFont(theme, fontPx / theme.fontSize);
    ctx.textBaseline = 'middle';
    const maxChars = Math.max(3, Math.floor((g.left - 8) / (fontPx * 0.62)));
    const column = (labels: RunData['labels'], side: LineFocus['side'], x: number): void => {
      ctx.textAlign = side === 'query' ? 'right' : 'left';
      labels.forEach((l, k) => {
        const on = f?.side === side && f.index === k;
        if (on) {
          ctx.fillStyle = rgbaToCss(withAlpha(theme.focus, 0.35));
          ctx.fillRect(side === 'query' ? 0 : g.right, y(k) - g.rowH / 2 + 1, g.left, g.rowH - 2);
        }
        ctx.fillStyle = rgbaToCss(on ? theme.fg : withAlpha(theme.fg, 0.8));
        ctx.fillText(shortLabel(l.label, maxChars), x, y(k), g.left - 8);
      });
    };
    column(run.labels, 'query', g.left - 2);
    column(run.keyLabels, 'key', g.right + 2);
  }

  private describe(m: LinesModel, f: LineFocus | null, heads: readonly HeadChoice[]): void {
    const what = m.head === 'rollout' ? `rollout to L${m.layer}` : m.head === 'all' ? `L${m.layer} all heads` : `L${m.layer} ${headChoiceLabel(m.head)}`;
    const item = (text: string, cls = '', colour?: Rgba): HTMLElement => {
      const s = document.createElement('span');
      s.className = `legend-item ${cls}`;
      if (colour) {
        const sw = document.createElement('span');
        sw.className = 'swatch head-swatch';
        sw.style.backgroundColor = rgbaToCss(colour);
        s.append(sw);
      }
      s.append(text);
      return s;
    };
    this.legend.replaceChildren(item(what, 'legend-title'), item('left: query tokens · right: key tokens · line opacity: weight'),
      ...(m.head === 'all' ? heads.map((h) => item(`H${String(h)}`, '', m.theme.head(h as number))) : []));
    const single = f && heads.length === 1 ? this.weights(m, f, heads[0]) : undefined;
    const strongest = single ? topK(single, 3) : [];
    const labels = f?.side === 'query' ? m.run.keyLabels : m.run.labels;
    const name = f && describeToken(f.side === 'query' ? m.run.labels : m.run.keyLabels, f.index);
    this.status.textContent = !f
      ? 'Hover a token, or focus this view and use ↑/↓ (←/→ switch columns), to see only its lines.'
      : heads.length > 1 ? `${name}: the lines of ${heads.length} heads, each in its colour.`
      : `${name} ${f.side === 'query' ? 'attends most to' : 'is attended most by'} ` +
          (single ? strongest.map((k) => `${describeToken(labels, k)} ${formatWeight(single[k])}`).join(', ') : '…') + '.';
    this.canvas.setAttribute('aria-label', `Lines between query and key tokens, ${what}. ${this.status.textContent}`);
  }
}
