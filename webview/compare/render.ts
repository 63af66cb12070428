/**
 * Drawing for the compare view: one small heatmap per pinned head (title button → focusHead, ✕ → unpin),
 * a diverging difference heatmap of the first two, and the mean row Jensen–Shannon divergence and
 * similarity of every pair.
 */
import { formatWeight, maxAbs, maxValue, scaleMax } from '../../src/shared/colors';
import { differenceMatrix, pairwiseDivergence } from '../../src/shared/head-compare';
import { isCausal } from '../../src/shared/onnx-tap';
import { headLabel, type HeadRef, type TokenInfo } from '../../src/shared/protocol';
import { attentionImage, blitMatrix, divergingImage, hatchUpperTriangle, rampCanvas, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { shortLabel, visibleWhitespace } from '../common/token-text';

/** Data of one 'compare' message, decoded. */
export interface CompareData {
  readonly tokens: readonly TokenInfo[];
  readonly pinned: readonly HeadRef[];
  /** Float32 [pinned.length, T, T]. */
  readonly stack: Float32Array;
}

/** Callbacks for the pinned-head buttons. */
export interface CompareEvents {
  focus(head: HeadRef): void;
  unpin(head: HeadRef): void;
}

/** The difference matrix on show (the difference canvas's tooltip reads it). */
let currentDiff: Float32Array = new Float32Array(0);

const $ = (id: string): HTMLElement => document.getElementById(id)!;

function tokenText(tokens: readonly TokenInfo[], i: number): string {
  return `“${shortLabel(visibleWhitespace(tokens[i]?.text ?? '') || '∅', 14)}” (#${i})`;
}

/** Attaches a hover tooltip (query, key, value) to a matrix canvas drawn at `size` px. */
function attachTip(canvas: HTMLCanvasElement, tokens: readonly TokenInfo[], size: number, value: (i: number, j: number) => string): void {
  const T = tokens.length;
  const tip = $('compare-tip');
  canvas.addEventListener('mousemove', (ev) => {
    const i = Math.floor((ev.offsetY / size) * T);
    const j = Math.floor((ev.offsetX / size) * T);
    if (i < 0 || j < 0 || i >= T || j >= T) {
      tip.hidden = true;
      return;
    }
    tip.textContent = `${tokenText(tokens, i)} → ${tokenText(tokens, j)}: ${value(i, j)}`;
    tip.hidden = false;
    tip.style.left = `${ev.pageX + 12}px`;
    tip.style.top = `${ev.pageY + 12}px`;
  });
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
}

function matrixCanvas(size: number, draw: (ctx: CanvasRenderingContext2D) => void): HTMLCanvasElement {
  const c = document.createElement('canvas');
  draw(sizeCanvas(c, size, size));
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
  const perRow = Math.max(1, Math.min(P, Math.floor(width / 150)));
  const size = Math.max(96, Math.min(240, Math.floor(width / perRow) - 16));
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
    const canvas = matrixCanvas(size, (ctx) => {
      blitMatrix(ctx, attentionImage(m, T, scaleMax(m, T, causal), causal, theme), 0, 0, size);
      if (causal) hatchUpperTriangle(ctx, T, 0, 0, size / T, theme.hatch);
    });
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${headLabel(head)} attention, ${T} tokens, max weight ${formatWeight(maxValue(m))}`);
    attachTip(canvas, tokens, size, (i, j) => (causal && j > i ? 'masked' : formatWeight(m[i * T + j])));
    card.append(bar, canvas);
    return card;
  });
  $('pinned').replaceChildren(...cards);

  const diffSection = $('difference');
  diffSection.hidden = P < 2;
  if (P >= 2) {
    const d = differenceMatrix(matrix(0), matrix(1), T);
    const limit = maxAbs(d);
    const big = Math.max(size, Math.min(360, width - 16));
    $('difference-title').textContent = `Difference: ${headLabel(pinned[0])} − ${headLabel(pinned[1])}`;
    const old = $('difference-canvas') as HTMLCanvasElement;
    const ctx = sizeCanvas(old, big, big);
    blitMatrix(ctx, divergingImage(d, T, limit, causal, theme), 0, 0, big);
    if (causal) hatchUpperTriangle(ctx, T, 0, 0, big / T, theme.hatch);
    old.setAttribute('aria-label', `Difference of ${headLabel(pinned[0])} and ${headLabel(pinned[1])}; largest |difference| ${formatWeight(limit)}`);
    if (!old.dataset.tipAttached) {
      old.dataset.tipAttached = '1';
      attachTip(old, tokens, big, (i, j) => (causal && j > i ? 'masked' : formatWeight(currentDiff[i * T + j])));
    }
    currentDiff = d;
    const legend = $('difference-legend');
    const lo = document.createElement('span');
    lo.textContent = `${headLabel(pinned[1])} higher −${formatWeight(limit)}`;
    const hi = document.createElement('span');
    hi.textContent = `+${formatWeight(limit)} ${headLabel(pinned[0])} higher (√ scale)`;
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
