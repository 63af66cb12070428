/**
 * The Tokens view: the selection as inline token spans. The focused token (hovered, keyboard-focused or
 * locked) is the query; every target token it attends to gets a background whose intensity is
 * proportional to the weight, class `target` and `data-weight`. Future tokens of a causal model are
 * hatched. With "all heads", each token carries a small canvas of per-head bars in the head palette.
 */
import { maxValue, rgbaToCss, weightToAlpha, withAlpha } from '../../src/shared/colors';
import { formatWeight, selectTargets, topK } from '../../src/shared/attention';
import { rampCanvas, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken, tokenTitle } from '../common/token-text';
import { symbolLegendText, tokenNumber } from '../../src/shared/token-display';
import { headChoiceLabel, type HeadChoice, type RunData } from './state';

/** What the Tokens view draws. */
export interface TokensViewModel {
  readonly run: RunData;
  readonly layer: number;
  readonly head: HeadChoice;
  readonly focused: number | null;
  readonly locked: number | null;
  readonly theme: Theme;
  /** 'to': what the focused token attends to (its row); 'by': which tokens attend to it (its column). */
  readonly direction?: 'to' | 'by';
}

/** Callbacks from the Tokens view. */
export interface TokensViewEvents {
  hover(index: number | null): void;
  lock(index: number | null): void;
  /** Keyboard moved the focus to a token. */
  move(index: number): void;
}

const BAR_W = 4;
const BAR_GAP = 1;
const BAR_H = 16;

/** Renders and drives the Tokens view. */
export class TokensView {
  private readonly root = document.getElementById('tokens')!;
  private readonly legend = document.getElementById('tokens-legend')!;
  private readonly summary = document.getElementById('focus-summary')!;
  private spans: HTMLElement[] = [];
  /** What each span was last drawn with (render skips the spans whose state has not changed). */
  private drawn: string[] = [];
  private bars: HTMLCanvasElement[] = [];
  private run?: RunData;

  constructor(private readonly events: TokensViewEvents) {
    this.root.addEventListener('mouseover', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) this.events.hover(i);
    });
    this.root.addEventListener('mouseleave', () => this.events.hover(null));
    this.root.addEventListener('click', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) this.events.lock(i);
    });
    this.root.addEventListener('focusin', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) {
        this.setRoving(i);
        this.events.hover(i);
      }
    });
    this.root.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  private indexOf(target: EventTarget | null): number | null {
    const el = (target as HTMLElement | null)?.closest?.('.token') as HTMLElement | null;
    if (!el || !this.root.contains(el)) return null;
    const i = Number(el.dataset.tokenIndex);
    return Number.isInteger(i) ? i : null;
  }

  private onKey(ev: KeyboardEvent): void {
    const i = this.indexOf(ev.target);
    if (i === null) return;
    const last = this.spans.length - 1;
    let next: number | undefined;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') next = Math.min(last, i + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') next = Math.max(0, i - 1);
    else if (ev.key === 'Home') next = 0;
    else if (ev.key === 'End') next = last;
    else if (ev.key === 'Enter' || ev.key === ' ') {
      this.events.lock(i);
      ev.preventDefault();
      return;
    } else if (ev.key === 'Escape') {
      this.events.lock(null);
      return;
    }
    if (next === undefined) return;
    ev.preventDefault();
    this.focusToken(next);
    this.events.move(next);
  }

  private setRoving(i: number): void {
    this.spans.forEach((s, k) => { s.tabIndex = k === i ? 0 : -1; });
  }

  /** Moves keyboard focus to token i. */
  focusToken(i: number): void {
    const s = this.spans[i];
    if (!s) return;
    this.setRoving(i);
    s.focus({ preventScroll: false });
  }

  /** Builds the token spans for a run (called once per run). */
  setRun(run: RunData): void {
    this.run = run;
    this.spans = [];
    this.drawn = [];
    this.bars = [];
    const frag = document.createDocumentFragment();
    run.labels.forEach((l, i) => {
      const span = document.createElement('span');
      span.className = `token kind-${l.kind}`;
      span.dataset.tokenIndex = String(i);
      span.tabIndex = i === 0 ? 0 : -1;
      span.setAttribute('role', 'button');
      span.setAttribute('aria-pressed', 'false');
      span.setAttribute('aria-label', `token ${tokenNumber(i)}: ${l.raw || l.label}`);
      span.title = tokenTitle(run.labels, i);
      const text = document.createElement('span');
      text.className = 'tok-text';
      text.textContent = l.label;
      const bars = document.createElement('canvas');
      bars.className = 'head-bars';
      bars.setAttribute('aria-hidden', 'true');
      const weight = document.createElement('span');
      weight.className = 'tok-weight';
      weight.setAttribute('aria-hidden', 'true');
      span.append(text, weight, bars);
      frag.append(span);
      if (l.breaksLine) {
        const br = document.createElement('span');
        br.className = 'line-break';
        frag.append(br);
      }
      this.spans.push(span);
      this.bars.push(bars);
    });
    this.root.replaceChildren(frag);
  }

  /** Updates highlights, bars, legend and summary. */
  render(m: TokensViewModel): void {
    if (m.run !== this.run) this.setRun(m.run);
    const { run, focused, theme } = m;
    const all = m.head === 'all';
    this.root.classList.toggle('all-heads', all);
    this.root.classList.toggle('has-query', focused !== null);
    const by = m.direction === 'by';
    // 'by': the focused token's column (the weight each query puts on it) is highlighted over the queries instead.
    const row = focused === null ? undefined : by ? run.column(m.layer, m.head, focused) : run.row(m.layer, m.head, focused);
    const targets = new Set(row ? selectTargets(row) : []);
    const max = row ? maxValue(row) : 0;
    this.spans.forEach((span, j) => {
      const isTarget = targets.has(j);
      // Causal: a query cannot see later keys, so 'to' masks the tokens after the focus and 'by' the tokens before it.
      const masked = focused !== null && run.causal && (by ? j < focused : j > focused);
      // At 1 000+ tokens touching every span on each hover is the slow part: skip the spans whose state is unchanged.
      const key = `${by}|${isTarget ? `${row![j]}@${focused}` : ''}|${j === focused}|${masked}|${j === m.locked}|${isTarget ? max : ''}|${theme.accent.r},${theme.accent.g},${theme.accent.b}`;
      if (this.drawn[j] === key) return;
      this.drawn[j] = key;
      span.classList.toggle('target', isTarget);
      span.classList.toggle('query', j === focused);
      span.classList.toggle('masked', masked);
      span.classList.toggle('locked', j === m.locked);
      span.setAttribute('aria-pressed', String(j === m.locked));
      const weightLabel = span.children[1] as HTMLElement;
      weightLabel.textContent = isTarget && row ? formatWeight(row[j]) : '';
      if (isTarget && row) {
        span.dataset.weight = formatWeight(row[j]);
        span.style.backgroundColor = rgbaToCss(withAlpha(theme.accent, weightToAlpha(row[j], max)));
        span.title = by ? `${describeToken(run.labels, j)} → ${describeToken(run.labels, focused!)}: ${formatWeight(row[j])}`
          : `${describeToken(run.labels, focused!)} → ${describeToken(run.labels, j)}: ${formatWeight(row[j])}`;
      } else {
        delete span.dataset.weight;
        span.style.backgroundColor = '';
        const why = by ? 'Earlier token: it cannot see the focused one' : 'Future token: masked for this query';
        span.title = masked ? `${tokenTitle(run.labels, j)}. ${why}` : tokenTitle(run.labels, j);
      }
    });
    // The query whose row is drawn ('' while its row is on its way from the worker): tests and tools wait on it.
    this.root.dataset.shown = row && focused !== null ? String(focused) : '';
    this.root.dataset.direction = by ? 'by' : 'to';
    if (all) this.drawBars(m);
    this.renderLegend(m, max);
    this.renderSummary(m, row);
  }

  private drawBars(m: TokensViewModel): void {
    const { run, layer, focused, theme } = m;
    const H = run.heads;
    const width = Math.max(8, H * (BAR_W + BAR_GAP) - BAR_GAP);
    let max = 0;
    const rows: (Float32Array | undefined)[] = [];
    for (let h = 0; h < H; h++) {
      const r = focused === null ? undefined : m.direction === 'by' ? run.column(layer, h, focused) : run.row(layer, h, focused);
      rows.push(r);
      if (r) max = Math.max(max, maxValue(r));
    }
    this.bars.forEach((c, j) => {
      const ctx = sizeCanvas(c, width, BAR_H);
      ctx.clearRect(0, 0, width, BAR_H);
      ctx.fillStyle = rgbaToCss(withAlpha(theme.fg, 0.15));
      ctx.fillRect(0, BAR_H - 1, width, 1);
      const weights: string[] = [];
      for (let h = 0; h < H; h++) {
        const w = rows[h]?.[j] ?? 0;
        weights.push(`H${h} ${rows[h] ? formatWeight(w) : '…'}`); // … while that head's row is on its way
        if (!(w > 0) || !(max > 0)) continue;
        const bh = Math.max(1, Math.round((w / max) * (BAR_H - 1)));
        ctx.fillStyle = rgbaToCss(theme.head(h));
        ctx.fillRect(h * (BAR_W + BAR_GAP), BAR_H - 1 - bh, BAR_W, bh);
      }
      c.dataset.headWeights = focused !== null ? weights.join(' ') : '';
    });
    // The query whose bars are all drawn from their rows ('' while some are on their way).
    this.root.dataset.bars = focused !== null && rows.every((r) => r) ? String(focused) : '';
  }

  private renderLegend(m: TokensViewModel, max: number): void {
    const items: HTMLElement[] = [];
    const item = (cls: string, label: string, swatch?: HTMLElement): void => {
      const el = document.createElement('span');
      el.className = `legend-item ${cls}`;
      const sw = swatch ?? document.createElement('span');
      if (!swatch) sw.className = 'swatch';
      const text = document.createElement('span');
      text.textContent = label;
      el.append(sw, text);
      items.push(el);
    };
    const ramp = rampCanvas(56, 10, [withAlpha(m.theme.accent, 0.08), withAlpha(m.theme.accent, 0.85)]);
    item('legend-weight', max > 0 ? `weight 0 → ${formatWeight(max)} (row max)` : 'weight (hover a token)', ramp);
    item('legend-query', 'query token');
    if (m.run.valueWeighted) item('legend-value', 'scaled by ‖v‖: α_ij·‖v_j‖, rows renormalised (no W_O)');
    if (m.run.causal) item('legend-masked', m.direction === 'by' ? 'earlier tokens cannot attend to it' : 'future tokens are masked');
    item('legend-symbols', `tokens are numbered from #0; ${symbolLegendText()}`);
    if (m.head === 'all') {
      for (let h = 0; h < m.run.heads; h++) {
        const sw = document.createElement('span');
        sw.className = 'swatch head-swatch';
        sw.style.backgroundColor = rgbaToCss(m.theme.head(h));
        item('legend-head', `H${h}`, sw);
      }
    }
    this.legend.replaceChildren(...items);
  }

  private renderSummary(m: TokensViewModel, row: Float32Array | undefined): void {
    const { run, focused } = m;
    if (focused === null || !row) {
      this.summary.textContent = run.ready
        ? 'Hover a token, or Tab to the tokens and use ←/→, to see what it attends to. Click or Enter locks it; Esc unlocks.'
        : '';
      return;
    }
    const top = topK(row, 3).filter((j) => row[j] > 0);
    const parts = top.map((j) => `${describeToken(run.labels, j)} ${formatWeight(row[j])}`);
    const lock = m.locked === focused ? ' (locked)' : '';
    this.summary.textContent = `${describeToken(run.labels, focused)}${lock} in L${m.layer} ${headChoiceLabel(m.head)} ` +
      `${m.direction === 'by' ? 'is attended most by' : 'attends most to'} ${parts.join(', ')}.`;
  }
}
