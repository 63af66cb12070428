/**
 * The Residual view (issue 13): for every layer and head, ‖head output through W_O‖ / ‖residual stream it is added
 * to‖, as two layers × heads grids: at the focused token (hover, lock, or the view's token slider) and averaged over
 * the tokens. The numbers come from the worker on demand, once per run (residual-run.ts); layers it could not
 * decompose say why. Arrow keys move a cell cursor, Enter selects that head. Canvas at devicePixelRatio, theme colours.
 */
import { heatIntensity, luminance, mixColors, rgbaToCss, withAlpha } from '../../src/shared/colors';
import { formatWeight } from '../../src/shared/attention';
import { residualNumbers, residualRatios, type ResidualNumbers } from '../../src/shared/residual-norms';
import { canvasFont, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken } from '../common/token-text';
import type { InferenceClient } from './client';
import type { HeadChoice, RunData } from './state';

/** What the Residual view draws. */
export interface ResidualModel {
  readonly run: RunData;
  /** False for encoder–decoder runs, which this view does not decompose. */
  readonly single: boolean;
  readonly focused: number | null;
  readonly layer: number;
  readonly head: HeadChoice;
  readonly theme: Theme;
}

/** Renders and drives #residual. */
export class ResidualView {
  private readonly canvas = document.getElementById('residual') as HTMLCanvasElement;
  private readonly status = document.getElementById('residual-status')!;
  private readonly reasons = document.getElementById('residual-reasons')!;
  private readonly slider = document.getElementById('residual-token') as HTMLInputElement;
  private readonly sliderLabel = document.getElementById('residual-token-label')!;
  private model?: ResidualModel;
  /** The answer per run id (a promise while it is being computed; a string for an error). */
  private answers = new Map<number, ResidualNumbers | string | Promise<void>>();
  private cursor = { layer: 0, head: 0 };
  /** Cell size and the top-left corner of each grid's first cell (at the token, then the mean), in CSS px. */
  private geometry = { w: 40, h: 20, grids: [] as { x: number; y: number }[] };

  constructor(private readonly deps: { client: InferenceClient; select: (layer: number, head: number) => void; focus: (token: number) => void }) {
    this.canvas.addEventListener('keydown', (ev) => this.onKey(ev));
    this.canvas.addEventListener('click', (ev) => {
      const c = this.cellAt(ev.offsetX, ev.offsetY);
      if (c) this.deps.select(c.layer, c.head);
    });
    this.slider.addEventListener('input', () => this.deps.focus(Number(this.slider.value)));
  }

  private cellAt(x: number, y: number): { layer: number; head: number } | undefined {
    const n = this.numbers();
    const { w, h, grids } = this.geometry;
    if (!n) return undefined;
    for (const g of grids) {
      const layer = Math.floor((y - g.y) / h);
      const head = Math.floor((x - g.x) / w);
      if (layer >= 0 && layer < n.layers && head >= 0 && head < n.heads) return { layer, head };
    }
    return undefined;
  }

  private onKey(ev: KeyboardEvent): void {
    const n = this.numbers();
    if (!n) return;
    const { layer, head } = this.cursor;
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (ev.key === 'Enter') this.deps.select(layer, head);
    else if (moves[ev.key]) {
      const [dl, dh] = moves[ev.key];
      this.cursor = { layer: Math.max(0, Math.min(n.layers - 1, layer + dl)), head: Math.max(0, Math.min(n.heads - 1, head + dh)) };
      if (this.model) this.render(this.model);
    } else return;
    ev.preventDefault();
  }

  private numbers(): ResidualNumbers | undefined {
    const a = this.model && this.answers.get(this.model.run.runId);
    return a && typeof a === 'object' && 'headNorms' in a ? a : undefined;
  }

  /** Asks the worker for the run's numbers the first time it is shown, and draws again when they arrive. */
  private request(run: RunData): void {
    if (this.answers.has(run.runId)) return;
    for (const k of [...this.answers.keys()]) if (k !== run.runId) this.answers.delete(k); // one run's numbers at a time
    this.answers.set(run.runId, this.deps.client.residual(run.runId).then((a) => {
      this.answers.set(run.runId, residualNumbers(a) ?? a.error ?? 'The worker sent no numbers.');
      if (this.model?.run === run) this.render(this.model);
    }));
  }

  /** Draws the view for the panel's state (asks the worker first when the run's numbers are not in yet). */
  render(m: ResidualModel): void {
    this.model = m;
    const { run } = m;
    if (!m.single) return this.message('The Residual view reads single-stack models; this is an encoder–decoder run.');
    this.request(run);
    const a = this.answers.get(run.runId);
    if (typeof a === 'string') return this.message(`Cannot show the residual stream: ${a}`);
    const n = this.numbers();
    if (!n) return this.message('Computing each head’s output through W_O…');
    if (typeof m.head === 'number' && this.canvas !== document.activeElement) this.cursor = { layer: Math.min(m.layer, n.layers - 1), head: Math.min(m.head, n.heads - 1) };
    const token = m.focused !== null && m.focused < n.tokens ? m.focused : null;
    Object.assign(this.slider, { max: String(n.tokens - 1), value: String(token ?? 0) });
    this.sliderLabel.textContent = token === null ? 'no token focused' : describeToken(run.labels, token);
    this.draw(m, n, token);
  }

  private message(text: string): void {
    this.status.textContent = text;
    this.reasons.replaceChildren();
    sizeCanvas(this.canvas, 1, 1);
    Object.assign(this.canvas.dataset, { run: '', token: '', atToken: '', mean: '' });
  }

  private draw(m: ResidualModel, n: ResidualNumbers, token: number | null): void {
    const { theme } = m;
    const width = this.canvas.parentElement?.clientWidth ?? 0;
    if (width === 0) return;
    const mean = residualRatios(n, 'mean');
    const at = token === null ? undefined : residualRatios(n, token);
    const fontPx = Math.max(10, Math.round(theme.fontSize * 0.85));
    const labelW = fontPx * 3;
    const textW = fontPx * 3.6; // the narrowest cell that holds a number
    const gap = 16;
    const beside = Math.floor((width - 2 * labelW - gap - 2) / (2 * n.heads));
    const below = Math.floor((width - labelW - 2) / n.heads);
    // Side by side where both grids fit with their numbers, else one above the other; cells too narrow for numbers show colour only.
    const sideBySide = beside >= textW;
    const w = Math.max(4, Math.min(72, sideBySide ? beside : below));
    const withText = w >= textW;
    const h = withText ? fontPx + 10 : Math.max(8, Math.min(fontPx + 10, w));
    const head = 2 * fontPx + 14; // title and head labels above each grid
    const gridH = head + n.layers * h;
    const grids = sideBySide ? [{ x: labelW, y: head }, { x: 2 * labelW + n.heads * w + gap, y: head }]
      : [{ x: labelW, y: head }, { x: labelW, y: gridH + gap + head }];
    this.geometry = { w, h, grids };
    const last = grids[1];
    const ctx = sizeCanvas(this.canvas, last.x + n.heads * w + 2, last.y + n.layers * h + 2);
    ctx.font = canvasFont(theme, fontPx / theme.fontSize);
    ctx.textBaseline = 'middle';
    // Numbers in the theme's foreground or background, whichever stands out on the cell.
    const [dark, light] = luminance(theme.fg) < luminance(theme.bg) ? [theme.fg, theme.bg] : [theme.bg, theme.fg];
    let max = 0;
    for (const v of [...mean, ...(at ?? [])]) if (v > max) max = v;
    const grid = ({ x: x0, y: y0 }: { x: number; y: number }, title: string, values: Float32Array | undefined): void => {
      ctx.fillStyle = rgbaToCss(theme.fg);
      ctx.textAlign = 'left';
      ctx.fillText(title, x0, y0 - head + fontPx / 2 + 2, n.heads * w);
      ctx.textAlign = 'center';
      ctx.fillStyle = rgbaToCss(withAlpha(theme.fg, 0.8));
      const every = Math.ceil((fontPx * 2.2) / w); // head labels that fit
      for (let hd = 0; hd < n.heads; hd += every) ctx.fillText(`H${hd}`, x0 + (hd + 0.5) * w, y0 - fontPx / 2 - 3);
      for (let l = 0; l < n.layers; l++) {
        const y = y0 + l * h;
        ctx.textAlign = 'right';
        ctx.fillStyle = rgbaToCss(withAlpha(theme.fg, 0.8));
        ctx.fillText(`L${l}`, x0 - 4, y + h / 2);
        for (let hd = 0; hd < n.heads; hd++) {
          const x = x0 + hd * w;
          const v = values?.[l * n.heads + hd];
          const fill = n.reasons[l] || v === undefined ? theme.masked : mixColors(theme.bg, theme.accent, heatIntensity(v, max));
          ctx.fillStyle = rgbaToCss(fill);
          ctx.fillRect(x + 1, y + 1, w - 2, h - 2);
          if (withText) {
            ctx.textAlign = 'center';
            ctx.fillStyle = rgbaToCss(luminance(fill) > 0.5 ? dark : light);
            ctx.fillText(n.reasons[l] ? '—' : v === undefined ? '' : formatWeight(v), x + w / 2, y + h / 2, w - 4);
          }
          if (l === this.cursor.layer && hd === this.cursor.head) {
            ctx.strokeStyle = rgbaToCss(theme.focus);
            ctx.lineWidth = 2;
            ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
          }
        }
      }
    };
    grid(grids[0], token === null ? 'At a token: hover one, or move the slider' : `At ${describeToken(m.run.labels, token)}`, at);
    grid(grids[1], `Mean over ${n.tokens} tokens`, mean);
    // For tests and tools: the ratios as drawn (layer-major, "—" where a layer has a reason).
    const shown = (v: Float32Array | undefined) => (v ? Array.from(v, (x, k) => (n.reasons[Math.floor(k / n.heads)] ? '—' : formatWeight(x))).join(' ') : '');
    Object.assign(this.canvas.dataset, { run: String(m.run.runId), token: token === null ? '' : String(token), atToken: shown(at), mean: shown(mean) });
    this.describe(m, n, token, at, mean);
  }

  private describe(m: ResidualModel, n: ResidualNumbers, token: number | null, at: Float32Array | undefined, mean: Float32Array): void {
    const { layer, head } = this.cursor;
    const k = layer * n.heads + head;
    const why = n.reasons[layer];
    const norms = token === null ? '' : ` ‖head output‖ ${formatWeight(n.headNorms[k * n.tokens + token])}, ‖residual‖ ${formatWeight(n.residualNorms[layer * n.tokens + token])}, ratio ${formatWeight(at![k])};`;
    this.status.textContent = why ? `Layer ${layer}: ${why}.`
      : `L${layer} H${head}:${norms} mean ratio over the tokens ${formatWeight(mean[k])}. Arrow keys move, Enter selects the head.`;
    this.canvas.setAttribute('aria-label', `Each head's output norm over the residual stream's norm, layers by heads. ${this.status.textContent}`);
    const missing = n.reasons.map((r, l) => (r ? `Layer ${l} is not decomposed: ${r}.` : '')).filter(Boolean);
    this.reasons.replaceChildren(...missing.map((t) => Object.assign(document.createElement('li'), { textContent: t })));
  }
}
