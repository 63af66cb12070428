/**
 * Drawing for the compare view: one heatmap per pinned head with its tokens on both axes, as wide as the view
 * allows (title button → focusHead, ✕ → unpin, hover a cell for its tokens and weight),
 * the heads nearest each pinned one (mean JSD, focus or pin), a diverging difference heatmap of any two (picked), and the
 * mean row Jensen–Shannon divergence and similarity of every pair.
 */
import { maxAbs, maxValue, rgbaToCss, scaleMax, withAlpha } from '../../src/shared/colors';
import { formatWeight } from '../../src/shared/attention';
import { differenceMatrix, pairwiseDivergence } from '../../src/shared/head-compare';
import { isCausal } from '../../src/shared/onnx-tap';
import { headLabel, type HeadRef, type TokenInfo } from '../../src/shared/protocol';
import { attentionImage, blitMatrix, divergingImage, hatchUpperTriangle, rampCanvas, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { shortLabel } from '../common/token-text';
import { drawAxisLabels, labelStep, measureAxisLabels, type AxisLabelSizes } from '../common/axis-labels';
import { tokenNumber, tokenSymbolText } from '../../src/shared/token-display';

/** Data of one 'compare' message, decoded. */
export interface CompareData {
  readonly tokens: readonly TokenInfo[];
  readonly pinned: readonly HeadRef[];
  /** Float32 [pinned.length, T, T]. */
  readonly stack: Float32Array;
  /** Per pinned head, the nearest heads on this input (mean row JS divergence). */
  readonly related?: readonly (readonly { readonly head: HeadRef; readonly meanJsd: number }[])[];
}

/** Callbacks for the pinned-head buttons. */
export interface CompareEvents {
  focus(head: HeadRef): void;
  unpin(head: HeadRef): void;
  pin(head: HeadRef): void;
  /** Draw again (the difference pair changed). */
  redraw(): void;
}

/** The pinned heads the difference shows, by label (kept across messages while both stay pinned). */
let diffPair: [string, string] | undefined;

type Dropdown = HTMLElement & { value: string };

/** Fills a difference dropdown with the pinned heads and selects `selected`. */
function fillPick(el: Dropdown, labels: readonly string[], selected: string, onChange: (v: string) => void): void {
  el.replaceChildren(...labels.map((l) => {
    const o = document.createElement('vscode-option');
    o.setAttribute('value', l);
    o.textContent = l;
    if (l === selected) o.setAttribute('selected', '');
    return o;
  }));
  el.value = selected;
  queueMicrotask(() => { if (el.value !== selected) el.value = selected; });
  el.onchange = () => onChange(el.value);
}

/** The related-heads list under a pinned head: each one focuses the head; "+" pins it. */
function relatedList(related: CompareData['related'], k: number, events: CompareEvents): HTMLElement | undefined {
  const list = related?.[k];
  if (!list?.length) return undefined;
  const box = document.createElement('div');
  box.className = 'related';
  const t = document.createElement('span');
  t.className = 'muted';
  t.textContent = 'Nearest (JSD):';
  t.title = 'The heads whose attention on this input is closest to this one: mean Jensen–Shannon divergence over query rows.';
  box.append(t);
  for (const r of list) {
    const item = document.createElement('span');
    item.className = 'related-head';
    item.dataset.head = headLabel(r.head);
    item.dataset.jsd = r.meanJsd.toFixed(6);
    const b = document.createElement('vscode-button');
    b.setAttribute('appearance', 'secondary');
    b.className = 'related-focus';
    b.textContent = `${headLabel(r.head)} ${r.meanJsd.toFixed(2)}`;
    b.title = `Show ${headLabel(r.head)} in the panel (mean JS divergence ${r.meanJsd.toFixed(4)})`;
    b.addEventListener('click', () => events.focus(r.head));
    const pin = document.createElement('vscode-button');
    pin.setAttribute('appearance', 'icon');
    pin.className = 'related-pin';
    pin.textContent = '+';
    pin.setAttribute('aria-label', `Pin ${headLabel(r.head)}`);
    pin.title = `Pin ${headLabel(r.head)}`;
    pin.addEventListener('click', () => events.pin(r.head));
    item.append(b, pin);
    box.append(item);
  }
  return box;
}

/** The difference on show (the difference canvas's tooltip reads it: its tip is attached once, the canvas redrawn). */
let currentDiff: TipView = { tokens: [], size: 1, x0: 0, y0: 0, value: () => '' };

const $ = (id: string): HTMLElement => document.getElementById(id)!;

function tokenText(tokens: readonly TokenInfo[], i: number): string {
  const t = tokens[i];
  return `“${shortLabel(t ? tokenSymbolText(t) : '?', 14)}” (${tokenNumber(i)})`;
}

/** What a matrix canvas's tooltip reads: its tokens, its size in px and where the matrix starts, and each cell's text. */
interface TipView {
  readonly tokens: readonly TokenInfo[];
  readonly size: number;
  readonly x0: number;
  readonly y0: number;
  value(i: number, j: number): string;
}

/**
 * Attaches a tooltip (query, key, value) to a matrix canvas, reading `view()` each time (the difference canvas is
 * redrawn for other heads and tokens): on hover, and from the keyboard (the canvas takes focus; arrows move a cell
 * cursor, Home/End jump to the row's ends, Escape hides the tip). The cursor's cell is in the canvas's `data-cursor`.
 */
function attachTip(canvas: HTMLCanvasElement, view: () => TipView): void {
  const tip = $('compare-tip');
  const show = (v: TipView, i: number, j: number, pageX: number, pageY: number): void => {
    tip.textContent = `${tokenText(v.tokens, i)} → ${tokenText(v.tokens, j)}: ${v.value(i, j)}`;
    tip.hidden = false;
    tip.style.left = `${pageX + 12}px`;
    tip.style.top = `${pageY + 12}px`;
  };
  canvas.addEventListener('mousemove', (ev) => {
    const v = view();
    const T = v.tokens.length;
    const i = Math.floor(((ev.offsetY - v.y0) / v.size) * T);
    const j = Math.floor(((ev.offsetX - v.x0) / v.size) * T);
    if (i < 0 || j < 0 || i >= T || j >= T) {
      tip.hidden = true;
      return;
    }
    show(v, i, j, ev.pageX, ev.pageY);
  });
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
  canvas.tabIndex = 0;
  let cursor = { i: 0, j: 0 };
  const showCursor = (): void => {
    const v = view();
    const T = v.tokens.length;
    if (T === 0) return;
    cursor = { i: Math.min(T - 1, Math.max(0, cursor.i)), j: Math.min(T - 1, Math.max(0, cursor.j)) };
    const r = canvas.getBoundingClientRect();
    const cell = v.size / T;
    canvas.dataset.cursor = `${cursor.i},${cursor.j}`;
    show(v, cursor.i, cursor.j, r.left + window.scrollX + v.x0 + (cursor.j + 1) * cell, r.top + window.scrollY + v.y0 + (cursor.i + 1) * cell);
  };
  const moves: Record<string, (c: { i: number; j: number }, last: number) => { i: number; j: number }> = {
    ArrowUp: (c) => ({ ...c, i: c.i - 1 }), ArrowDown: (c) => ({ ...c, i: c.i + 1 }),
    ArrowLeft: (c) => ({ ...c, j: c.j - 1 }), ArrowRight: (c) => ({ ...c, j: c.j + 1 }),
    Home: (c) => ({ ...c, j: 0 }), End: (c, last) => ({ ...c, j: last }),
  };
  canvas.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      tip.hidden = true;
      return;
    }
    const move = moves[ev.key];
    if (!move) return;
    ev.preventDefault();
    cursor = move(cursor, view().tokens.length - 1);
    showCursor();
  });
  canvas.addEventListener('focus', showCursor);
  canvas.addEventListener('blur', () => { tip.hidden = true; });
}

/**
 * A pinned head's thumbnail: its T×T matrix `size` px wide with the tokens along both axes (every step-th when the
 * cells are small), hatched where masked. Geometry in the canvas's dataset, as the panel's heatmap has it.
 */
function thumbnail(m: Float32Array, texts: readonly string[], size: number, causal: boolean, theme: Theme,
  labels: AxisLabelSizes | undefined): HTMLCanvasElement {
  const T = texts.length;
  const cell = size / T;
  const step = labels ? labelStep(labels.fontPx, cell) : 0;
  const [x0, y0] = step ? [labels!.width + 1, labels!.height + 1] : [1, 1];
  const c = document.createElement('canvas');
  const ctx = sizeCanvas(c, x0 + size + 1, y0 + size + 1);
  blitMatrix(ctx, attentionImage(m, T, scaleMax(m, T, causal), causal, theme, T, Math.ceil(size * (window.devicePixelRatio || 1))), x0, y0, size);
  if (causal) hatchUpperTriangle(ctx, T, x0, y0, cell, theme.hatch);
  ctx.strokeStyle = rgbaToCss(theme.contrastBorder ?? withAlpha(theme.fg, 0.3));
  ctx.strokeRect(x0 - 0.5, y0 - 0.5, size + 1, size + 1);
  if (step) {
    drawAxisLabels(ctx, { theme, window: { row: 0, col: 0, rows: T, cols: T }, rowLabels: texts, colLabels: texts, x0, y0, cell,
      sizes: labels!, step, focused: null, sameAxes: true });
  }
  Object.assign(c.dataset, { x0: String(x0), y0: String(y0), cell: String(cell), rows: String(T), cols: String(T), labelStep: String(step) });
  return c;
}

/** Renders the compare view for `data` at the wrapper width. */
export function renderCompare(data: CompareData, theme: Theme, events: CompareEvents): void {
  const { tokens, pinned, stack } = data;
  const T = tokens.length;
  const n = T * T;
  const P = pinned.length;
  const causal = T > 0 && isCausal(stack, P, T);
  const width = Math.max(200, document.body.clientWidth - 24);
  // The thumbnails grow with the view: as many per row as leave each about 260 px, then all the width they share.
  const perRow = Math.max(1, Math.min(P, Math.floor(width / 260)));
  const texts = tokens.map((t) => tokenSymbolText(t));
  const labels = T > 0 && T <= 96 ? measureAxisLabels(theme, texts, texts, Math.floor(width / perRow)) : undefined;
  const size = Math.max(96, Math.min(720, Math.floor(width / perRow) - 16 - (labels?.width ?? 0)));
  const matrix = (k: number): Float32Array => stack.subarray(k * n, (k + 1) * n);

  $('compare-status').textContent = P === 0
    ? 'No heads pinned. Use “Pin head” in the Attention Lens panel.'
    : `${P} pinned head${P === 1 ? '' : 's'} on the same ${T} tokens. Rows are query tokens, columns key tokens; ` +
      'hover a cell for its weight.';

  const cards = pinned.map((head, k) => {
    const card = document.createElement('figure');
    card.className = 'pinned-head';
    card.dataset.head = headLabel(head);
    const bar = document.createElement('figcaption');
    const title = document.createElement('vscode-button');
    title.setAttribute('appearance', 'secondary');
    title.className = 'focus-head';
    title.textContent = headLabel(head);
    title.title = `Show ${headLabel(head)} in the panel`;
    title.addEventListener('click', () => events.focus(head));
    const unpin = document.createElement('vscode-button');
    unpin.setAttribute('appearance', 'icon');
    unpin.className = 'unpin';
    unpin.textContent = '✕';
    unpin.setAttribute('aria-label', `Unpin ${headLabel(head)}`);
    unpin.title = `Unpin ${headLabel(head)}`;
    unpin.addEventListener('click', () => events.unpin(head));
    bar.append(title, unpin);
    const m = matrix(k);
    const canvas = thumbnail(m, texts, size, causal, theme, labels);
    canvas.className = 'thumbnail';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${headLabel(head)} attention, ${T} tokens, max weight ${formatWeight(maxValue(m))}; arrow keys read its cells`);
    const tipView: TipView = { tokens, size, x0: Number(canvas.dataset.x0), y0: Number(canvas.dataset.y0),
      value: (i, j) => (causal && j > i ? 'masked' : formatWeight(m[i * T + j])) };
    attachTip(canvas, () => tipView);
    card.append(bar, canvas);
    const related = relatedList(data.related, k, events);
    if (related) card.append(related);
    return card;
  });
  $('pinned').replaceChildren(...cards);

  const diffSection = $('difference');
  diffSection.hidden = P < 2;
  if (P >= 2) {
    const labels = pinned.map(headLabel);
    if (!diffPair || !labels.includes(diffPair[0]) || !labels.includes(diffPair[1]) || diffPair[0] === diffPair[1]) {
      diffPair = [labels[0], labels[1]];
    }
    const [a, b] = [labels.indexOf(diffPair[0]), labels.indexOf(diffPair[1])];
    const choose = (side: 0 | 1) => (v: string): void => {
      if (!diffPair || diffPair[side] === v) return;
      const next: [string, string] = [...diffPair];
      next[side] = v;
      // Picking the other side's head swaps the two, so A and B always differ.
      if (next[0] === next[1]) next[1 - side] = diffPair[side];
      diffPair = next;
      events.redraw();
    };
    fillPick($('diff-a') as Dropdown, labels, diffPair[0], choose(0));
    fillPick($('diff-b') as Dropdown, labels, diffPair[1], choose(1));
    const d = differenceMatrix(matrix(a), matrix(b), T);
    const limit = maxAbs(d);
    const big = Math.max(size, Math.min(360, width - 16));
    $('difference-title').textContent = `Difference: ${headLabel(pinned[a])} − ${headLabel(pinned[b])}`;
    const old = $('difference-canvas') as HTMLCanvasElement;
    const ctx = sizeCanvas(old, big, big);
    blitMatrix(ctx, divergingImage(d, T, limit, causal, theme), 0, 0, big);
    if (causal) hatchUpperTriangle(ctx, T, 0, 0, big / T, theme.hatch);
    old.setAttribute('aria-label', `Difference of ${headLabel(pinned[a])} and ${headLabel(pinned[b])}; largest |difference| ${formatWeight(limit)}`);
    currentDiff = { tokens, size: big, x0: 0, y0: 0, value: (i, j) => (causal && j > i ? 'masked' : formatWeight(d[i * T + j])) };
    if (!old.dataset.tipAttached) {
      old.dataset.tipAttached = '1';
      attachTip(old, () => currentDiff);
    }
    const legend = $('difference-legend');
    const lo = document.createElement('span');
    lo.textContent = `${headLabel(pinned[b])} higher −${formatWeight(limit)}`;
    const hi = document.createElement('span');
    hi.textContent = `+${formatWeight(limit)} ${headLabel(pinned[a])} higher (√ scale)`;
    legend.replaceChildren(lo, rampCanvas(96, 10, [theme.negative, theme.bg, theme.positive]), hi);
  }

  const divSection = $('divergence');
  divSection.hidden = P < 2;
  if (P >= 2) {
    const table = $('divergence-table');
    const head = document.createElement('tr');
    for (const h of ['Head A', 'Head B', 'Mean JS divergence', 'Similarity']) {
      const th = document.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    const rows = pairwiseDivergence(stack, P, T).map((p) => {
      const tr = document.createElement('tr');
      tr.dataset.pair = `${p.a}-${p.b}`;
      tr.dataset.jsd = p.meanJsd.toFixed(6);
      const cells = [headLabel(pinned[p.a]), headLabel(pinned[p.b]), p.meanJsd.toFixed(4), `${(p.similarity * 100).toFixed(1)}%`];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      const cell = document.createElement('td');
      const track = document.createElement('span');
      track.className = 'similarity-bar';
      track.setAttribute('aria-hidden', 'true');
      const fill = document.createElement('span');
      fill.style.width = `${(p.similarity * 100).toFixed(1)}%`;
      track.append(fill);
      cell.append(track);
      tr.append(cell);
      return tr;
    });
    table.replaceChildren(head, ...rows);
    table.title = 'Jensen–Shannon divergence (base 2) of each query row, averaged over rows: 0 = identical, 1 = disjoint.';
  }
}
