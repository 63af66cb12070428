/**
 * The explanation of one heatmap weight α_ij (#explain, under the heatmap): q_i·k_j with its per-dimension
 * products drawn on a canvas, the division by √d_k, the causal mask, the softmax over row i with every other
 * key's logit and weight shown small, and the result next to the weight the heatmap shows. The maths is
 * weight-explain.ts; this file only lays it out.
 */
import { rgbaToCss, withAlpha } from '../../src/shared/colors';
import { formatWeight } from '../../src/shared/attention';
import type { WeightExplanation } from '../../src/shared/weight-explain';
import { sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken } from '../common/token-text';
import type { RunData } from './state';

/** What the explanation shows. */
export interface ExplainModel {
  readonly run: RunData;
  readonly layer: number;
  readonly head: number;
  readonly e: WeightExplanation;
  /** q_i and Kᵀ (for the per-dimension products), when the graph gave them. */
  readonly q?: readonly number[];
  readonly kT?: readonly number[];
  /** The weight the heatmap shows for (i, j). */
  readonly shown: number;
  readonly note?: string;
  readonly theme: Theme;
}

const num = (v: number, digits = 4): string => (v === -Infinity ? '−∞' : v.toFixed(digits).replace('-', '−'));

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** Renders into #explain. */
export class ExplainView {
  private readonly root = document.getElementById('explain')!;
  private readonly hint = document.getElementById('explain-hint');

  constructor(private readonly onClose: () => void) {}

  /** Hides the explanation. */
  hide(): void {
    this.root.hidden = true;
    this.root.replaceChildren();
    if (this.hint) this.hint.hidden = false;
  }

  /** Shows a message instead of an explanation (a pending request, an aggregate, an error). */
  message(text: string): void {
    this.root.hidden = false;
    if (this.hint) this.hint.hidden = true;
    const p = el('p', 'explain-message', text);
    this.root.replaceChildren(this.closeButton(), p);
    delete this.root.dataset.weight;
  }

  private closeButton(): HTMLElement {
    const b = document.createElement('vscode-button');
    b.setAttribute('appearance', 'icon');
    b.setAttribute('aria-label', 'Close the explanation');
    b.className = 'explain-close';
    b.textContent = '✕';
    b.addEventListener('click', () => this.onClose());
    return b;
  }

  /** Shows the step-by-step explanation. */
  show(m: ExplainModel): void {
    const { run, e } = m;
    const i = e.query;
    const j = e.key;
    const tok = (k: number): string => describeToken(run.labels, k);
    this.root.hidden = false;
    if (this.hint) this.hint.hidden = true;
    Object.assign(this.root.dataset, {
      query: String(i), key: String(j), weight: e.weight.toFixed(6), shown: m.shown.toFixed(6), source: e.source,
      ...(e.dot !== undefined ? { dot: e.dot.toFixed(6), scaled: e.scaled!.toFixed(6) } : {}),
    });
    const title = el('h3', '', `L${m.layer} H${m.head}: why ${tok(i)} puts ${formatWeight(m.shown)} on ${tok(j)}`);
    const steps = el('ol', 'explain-steps');
    const step = (name: string, ...body: (string | Node)[]): HTMLLIElement => {
      const li = el('li');
      li.append(el('strong', '', name), ' ', ...body);
      steps.append(li);
      return li;
    };
    if (e.source === 'qk') {
      const li = step('Dot product', `q${sub(i)} · k${sub(j)} = Σ over ${e.dHead} dimensions of q_d·k_d = `, el('b', 'value', num(e.dot!)));
      if (m.q && m.kT) li.append(this.productsCanvas(m));
      step('Scale', e.scale === 1 ? 'the graph does not divide the product (q or k is scaled before it): '
        : `÷ √d_k = ÷ √${e.dHead} = ÷ ${num(Math.sqrt(e.dHead!), 3)} → `, el('b', 'value', num(e.scaled!)),
      e.bias ? `, plus ${num(e.bias)} the graph adds after the product (a position bias) → ${num(e.logits[j])}` : '');
    } else {
      step('Scores', `the pre-softmax score of ${tok(i)} → ${tok(j)} is `, el('b', 'value', num(e.logits[j])),
        `. ${m.note ?? 'Q and K were not found in the graph, so only the scores are shown.'}`);
    }
    const future = run.causal ? Math.max(0, run.T - 1 - i) : 0;
    step('Mask', run.causal
      ? (future ? `keys after the query (#${i + 1}–#${run.T - 1}, ${future} token${future === 1 ? '' : 's'}) get −∞, so they get weight 0.`
        : 'the query is the last token: no key is masked.')
      : (e.masked ? `${e.masked} key${e.masked === 1 ? '' : 's'} masked (−∞).` : 'bidirectional model: no key is masked.'));
    const soft = step('Softmax over row ' + i,
      `α_ij = exp(s_ij − max) / Σ_j exp(s_ij − max), with max = ${num(e.max, 3)} and Σ = ${num(e.expSum, 3)}:`);
    soft.append(this.rowChips(m));
    const diff = Math.abs(e.weight - m.shown);
    const ok = diff <= 1e-5;
    step('Result', `α = exp(${num(e.logits[j], 3)} − ${num(e.max, 3)}) / ${num(e.expSum, 3)} = `, el('b', 'value', num(e.weight, 6)),
      ok ? ` = the heatmap’s ${num(m.shown, 6)} ✓ (|Δ| ${diff.toExponential(1)})` : ` ≠ the heatmap’s ${num(m.shown, 6)} (|Δ| ${diff.toExponential(1)})`);
    this.root.dataset.match = String(ok);
    this.root.replaceChildren(this.closeButton(), title, steps);
  }

  /** Per-dimension products q_d·k_d as bars (positive up, negative down), so the dot product is visible. */
  private productsCanvas(m: ExplainModel): HTMLCanvasElement {
    const d = m.e.dHead!;
    const T = m.run.T;
    const prods = Array.from({ length: d }, (_, c) => m.q![c] * m.kT![c * T + m.e.key]);
    const max = Math.max(1e-9, ...prods.map(Math.abs));
    const bw = Math.max(3, Math.min(8, Math.floor(320 / d)));
    const h = 36;
    const c = el('canvas', 'products');
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', `Per-dimension products q_d·k_d, largest ${num(max, 3)}`);
    const ctx = sizeCanvas(c, d * bw, h);
    ctx.fillStyle = rgbaToCss(withAlpha(m.theme.fg, 0.3));
    ctx.fillRect(0, h / 2, d * bw, 1);
    prods.forEach((p, k) => {
      const len = (Math.abs(p) / max) * (h / 2 - 1);
      ctx.fillStyle = rgbaToCss(p >= 0 ? m.theme.positive : m.theme.negative);
      ctx.fillRect(k * bw, p >= 0 ? h / 2 - len : h / 2 + 1, bw - 1, len);
    });
    return c;
  }

  /** Every key of row i: its logit and weight, small; the explained key large; masked keys collapsed. */
  private rowChips(m: ExplainModel): HTMLElement {
    const { e, run } = m;
    const box = el('div', 'row-chips');
    let maskedFrom = -1;
    const flushMasked = (to: number): void => {
      if (maskedFrom < 0) return;
      box.append(el('span', 'chip masked', `#${maskedFrom}${to > maskedFrom ? `–#${to}` : ''}: −∞ → 0`));
      maskedFrom = -1;
    };
    e.logits.forEach((s, k) => {
      if (s === -Infinity) {
        if (maskedFrom < 0) maskedFrom = k;
        return;
      }
      flushMasked(k - 1);
      const chip = el('span', k === e.key ? 'chip chosen' : 'chip');
      chip.dataset.key = String(k);
      chip.style.setProperty('--al-fill', `${Math.round(Math.min(1, e.row[k] / Math.max(1e-9, Math.max(...e.row))) * 100)}%`);
      // The weight's bar sits under the numbers (its own element), not behind them.
      chip.append(el('span', 'chip-token', run.labels[k]?.label ?? `#${k}`), el('span', 'chip-num', `${num(s, 2)} → ${formatWeight(e.row[k])}`),
        el('span', 'chip-bar'));
      chip.title = `${describeToken(run.labels, k)}: score ${num(s)}, weight ${formatWeight(e.row[k])}`;
      box.append(chip);
    });
    flushMasked(e.logits.length - 1);
    return box;
  }
}

/** Subscript digits for an index: 17 → ₁₇. */
function sub(n: number): string {
  return String(n).replace(/\d/g, (d) => '₀₁₂₃₄₅₆₇₈₉'[Number(d)]);
}
