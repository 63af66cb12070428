/**
 * The Tokens view for cross-attention: the decoder tokens (queries) on one line and the encoder's input
 * tokens (keys) below. Hovering, focusing or locking a decoder token paints the input tokens it attends
 * to (class `target`, `data-weight`, background by weight). Replaces `#tokens` while cross-attention is on
 * show; lives in its own `#cross-tokens` element next to it.
 */
import { maxValue, rgbaToCss, weightToAlpha, withAlpha } from '../../src/shared/colors';
import { formatWeight, selectTargets, topK } from '../../src/shared/attention';
import { rampCanvas } from '../common/canvas';
import { describeToken, tokenTitle, type TokenLabel } from '../common/token-text';
import type { RunData } from './state';
import type { TokensViewEvents, TokensViewModel } from './tokens-view';

/** Renders and drives the cross-attention token lines. */
export class CrossTokensView {
  private readonly root: HTMLElement;
  private readonly queryLine: HTMLElement;
  private readonly keyLine: HTMLElement;
  private queries: HTMLElement[] = [];
  private keys: HTMLElement[] = [];
  private run?: RunData;

  constructor(private readonly events: TokensViewEvents) {
    const tokens = document.getElementById('tokens')!;
    this.root = document.createElement('div');
    this.root.id = 'cross-tokens';
    this.root.hidden = true;
    const heading = (text: string): HTMLElement => {
      const h = document.createElement('div');
      h.className = 'cross-heading';
      h.textContent = text;
      return h;
    };
    this.queryLine = document.createElement('div');
    this.queryLine.className = 'cross-queries';
    this.queryLine.setAttribute('role', 'group');
    this.queryLine.setAttribute('aria-label', 'Decoder tokens (queries): hover or use arrow keys; Enter locks');
    this.keyLine = document.createElement('div');
    this.keyLine.className = 'cross-keys';
    this.keyLine.setAttribute('aria-label', 'Input tokens (keys) the decoder token attends to');
    this.root.append(heading('Decoder tokens (queries)'), this.queryLine, heading('Input tokens seen by the encoder (keys)'), this.keyLine);
    tokens.parentElement!.insertBefore(this.root, tokens.nextSibling);
    this.queryLine.addEventListener('mouseover', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) this.events.hover(i);
    });
    this.queryLine.addEventListener('mouseleave', () => this.events.hover(null));
    this.queryLine.addEventListener('click', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) this.events.lock(i);
    });
    this.queryLine.addEventListener('focusin', (ev) => {
      const i = this.indexOf(ev.target);
      if (i !== null) this.events.hover(i);
    });
    this.queryLine.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  /** Shows this view instead of `#tokens` (or gives `#tokens` back). */
  setVisible(visible: boolean): void {
    this.root.hidden = !visible;
    document.getElementById('tokens')!.hidden = visible;
  }

  private indexOf(target: EventTarget | null): number | null {
    const el = (target as HTMLElement | null)?.closest?.('.token') as HTMLElement | null;
    if (!el || !this.queryLine.contains(el)) return null;
    const i = Number(el.dataset.tokenIndex);
    return Number.isInteger(i) ? i : null;
  }

  private onKey(ev: KeyboardEvent): void {
    const i = this.indexOf(ev.target);
    if (i === null) return;
    const last = this.queries.length - 1;
    let next: number | undefined;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') next = Math.min(last, i + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') next = Math.max(0, i - 1);
    else if (ev.key === 'Enter' || ev.key === ' ') this.events.lock(i);
    else if (ev.key === 'Escape') this.events.lock(null);
    else return;
    ev.preventDefault();
    if (next === undefined) return;
    this.queries.forEach((s, k) => { s.tabIndex = k === next ? 0 : -1; });
    this.queries[next].focus();
    this.events.move(next);
  }

  private spans(labels: readonly TokenLabel[], line: HTMLElement, query: boolean): HTMLElement[] {
    const out = labels.map((l, i) => {
      const span = document.createElement('span');
      span.className = `token kind-${l.kind}`;
      span.dataset[query ? 'tokenIndex' : 'keyIndex'] = String(i);
      if (query) {
        span.tabIndex = i === 0 ? 0 : -1;
        span.setAttribute('role', 'button');
        span.setAttribute('aria-pressed', 'false');
        span.setAttribute('aria-label', `decoder token ${i}: ${l.raw || l.label}`);
      }
      const text = document.createElement('span');
      text.className = 'tok-text';
      text.textContent = l.label;
      const weight = document.createElement('span');
      weight.className = 'tok-weight';
      weight.setAttribute('aria-hidden', 'true');
      span.append(text, weight);
      return span;
    });
    line.replaceChildren(...out);
    return out;
  }

  /** The legend above the lines: the weight ramp (row max) and the query outline; nothing is masked here. */
  private renderLegend(m: TokensViewModel, max: number): void {
    const item = (cls: string, label: string, swatch: HTMLElement): HTMLElement => {
      const el = document.createElement('span');
      el.className = `legend-item ${cls}`;
      const text = document.createElement('span');
      text.textContent = label;
      el.append(swatch, text);
      return el;
    };
    const ramp = rampCanvas(56, 10, [withAlpha(m.theme.accent, 0.08), withAlpha(m.theme.accent, 0.85)]);
    const sw = document.createElement('span');
    sw.className = 'swatch';
    document.getElementById('tokens-legend')?.replaceChildren(
      item('legend-weight', max > 0 ? `weight 0 → ${formatWeight(max)} (row max)` : 'weight (hover a decoder token)', ramp),
      item('legend-query', 'decoder (query) token', sw));
  }

  /** Updates the query highlight and the painted input tokens. */
  render(m: TokensViewModel): void {
    const { run, focused, theme } = m;
    if (run !== this.run) {
      this.run = run;
      this.queries = this.spans(run.labels, this.queryLine, true);
      this.keys = this.spans(run.keyLabels, this.keyLine, false);
    }
    this.queries.forEach((s, i) => {
      s.classList.toggle('query', i === focused);
      s.classList.toggle('locked', i === m.locked);
      s.setAttribute('aria-pressed', String(i === m.locked));
    });
    const row = focused !== null ? run.row(m.layer, m.head, focused) : undefined;
    const targets = new Set(row ? selectTargets(row) : []);
    const max = row ? maxValue(row) : 0;
    this.keyLine.classList.toggle('has-query', !!row);
    this.keys.forEach((span, j) => {
      const on = !!row && targets.has(j);
      span.classList.toggle('target', on);
      (span.children[1] as HTMLElement).textContent = on ? formatWeight(row[j]) : '';
      if (on) {
        span.dataset.weight = formatWeight(row[j]);
        span.style.backgroundColor = rgbaToCss(withAlpha(theme.accent, weightToAlpha(row[j], max)));
        span.title = `${describeToken(run.labels, focused!)} → ${describeToken(run.keyLabels, j)}: ${formatWeight(row[j])}`;
      } else {
        delete span.dataset.weight;
        span.style.backgroundColor = '';
        span.title = tokenTitle(run.keyLabels, j);
      }
    });
    this.renderLegend(m, max);
    const summary = document.getElementById('focus-summary');
    if (!summary) return;
    if (focused === null || !row) {
      summary.textContent = 'Cross-attention: hover a decoder token to see which input tokens it reads. Click or Enter locks it.';
      return;
    }
    const top = topK(row, 3).filter((j) => row[j] > 0).map((j) => `${describeToken(run.keyLabels, j)} ${formatWeight(row[j])}`);
    summary.textContent = `Decoder token ${describeToken(run.labels, focused)} attends most to ${top.join(', ')}.`;
  }
}
