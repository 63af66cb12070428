/**
 * The script inlined into an exported HTML page (src/host/html-export.ts): reads the stored heads from the page's
 * JSON data block, draws the head picked in the theme's colours, shows a cell's weight on hover (or with the arrow
 * keys), and a token's row over the tokens when one is hovered or focused. No network, no dependencies at run time.
 */
import { formatWeight } from '../../src/shared/attention';
import { heatIntensity, mixColors, rgbaToCss, withAlpha, type Rgba } from '../../src/shared/colors';
import { blockStart } from '../../src/shared/display';

interface Stored { layer: number; head: number | 'mean'; rows: number; cols: number; pooled: boolean; scale: number; max: number; codes: string }
interface Data {
  layers: number; heads: number; queries: number; keys: number; causal: boolean; labels: string[]; keyLabels: string[];
  shown: { layer: number; head: number | 'mean' }; steps: number; maskedCode: number; note: string;
  theme: { bg: Rgba; fg: Rgba; accent: Rgba; masked: Rgba; hatch?: Rgba }; stored: Stored[];
}
interface Head { rows: number; cols: number; pooled: boolean; scale: number; values: Float32Array }

const data = JSON.parse(document.getElementById('attention-data')?.textContent ?? '{}') as Data;
const stored = new Map(data.stored.map((s) => [`${s.layer}|${s.head}`, s]));
const decoded = new Map<string, Head>();
/** A stored head's weights, decoded the first time it is shown (decoding all 156 heads of a 12 × 12 model at once took 0.3 s). */
function headOf(key: string): Head {
  let h = decoded.get(key);
  if (!h) {
    const s = stored.get(key)!;
    const bytes = Uint8Array.from(atob(s.codes), (c) => c.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const values = new Float32Array(s.rows * s.cols);
    for (let k = 0; k < values.length; k++) {
      const code = view.getUint16(k * 2, true);
      values[k] = code === data.maskedCode ? NaN : (code / data.steps) * s.max;
    }
    decoded.set(key, (h = { rows: s.rows, cols: s.cols, pooled: s.pooled, scale: s.scale, values }));
  }
  return h;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const layerSelect = $<HTMLSelectElement>('layer');
const headSelect = $<HTMLSelectElement>('head');
const canvas = $<HTMLCanvasElement>('matrix');
const tip = $('tip');
const tokens = $('tokens');
const readout = $('row-readout');
const option = (value: string, text: string) => Object.assign(document.createElement('option'), { value, textContent: text });
for (let l = 0; l < data.layers; l++) layerSelect.append(option(String(l), `L${l}`));
for (let h = 0; h < data.heads; h++) headSelect.append(option(String(h), `H${h}`));
headSelect.append(option('mean', 'mean of heads'));
layerSelect.value = String(data.shown.layer);
headSelect.value = String(data.shown.head);
$('note').textContent = data.note;

/** The block of `n` cells pooled into `out` that cell `i` falls in. */
const blockOf = (i: number, n: number, out: number): number => {
  let b = Math.min(out - 1, Math.floor((i * out) / n));
  while (b > 0 && blockStart(b, n, out) > i) b--;
  while (b < out - 1 && blockStart(b + 1, n, out) <= i) b++;
  return b;
};
const current = (): Head => headOf(`${layerSelect.value}|${headSelect.value}`);
/** Masked: no visible weight in the block, or a key after the query of a causal head stored at full size. */
const masked = (h: Head, r: number, c: number): boolean => Number.isNaN(h.values[r * h.cols + c]) || (data.causal && !h.pooled && c > r);
const token = (labels: string[], i: number) => `“${labels[i]}” (#${i})`;
let cell = 1;
let cursor: [number, number] | null = null;

/** Where the matrix starts on the canvas (room for token labels at full size, 96 tokens or fewer). */
let [x0, y0] = [0, 0];

/** Hatches the masked cells over their fill, as the panel does (a page exported before hatching was stored has no hatch colour). */
function hatchMaskedCells(ctx: CanvasRenderingContext2D, h: Head): void {
  const line = data.theme.hatch;
  const tile = line && Object.assign(document.createElement('canvas'), { width: 6, height: 6 });
  const tctx = tile?.getContext('2d');
  if (!line || !tile || !tctx) return;
  tctx.strokeStyle = rgbaToCss(line);
  tctx.beginPath();
  tctx.moveTo(0, 6);
  tctx.lineTo(6, 0);
  tctx.stroke();
  const pattern = ctx.createPattern(tile, 'repeat');
  if (!pattern) return;
  ctx.save();
  ctx.fillStyle = pattern;
  ctx.beginPath();
  for (let r = 0; r < h.rows; r++) for (let c = 0; c < h.cols; c++) if (masked(h, r, c)) ctx.rect(x0 + c * cell, y0 + r * cell, cell, cell);
  ctx.fill();
  ctx.restore();
}

function draw(): void {
  const h = current();
  const dpr = window.devicePixelRatio || 1;
  const labels = !h.pooled && Math.max(h.rows, h.cols) <= 96;
  [x0, y0] = labels ? [96, 72] : [0, 0];
  cell = Math.max(2, Math.min(28, Math.floor(Math.min(640, window.innerWidth - 48 - x0) / h.cols)));
  const [width, height] = [x0 + h.cols * cell, y0 + h.rows * cell];
  Object.assign(canvas.style, { width: `${width}px`, height: `${height}px` });
  [canvas.width, canvas.height] = [Math.round(width * dpr), Math.round(height * dpr)];
  const img = new ImageData(h.cols, h.rows);
  for (let r = 0; r < h.rows; r++) {
    for (let c = 0; c < h.cols; c++) {
      const col = masked(h, r, c) ? data.theme.masked : mixColors(data.theme.bg, data.theme.accent, heatIntensity(h.values[r * h.cols + c], h.scale));
      img.data.set([col.r, col.g, col.b, Math.round(col.a * 255)].map(Math.round), (r * h.cols + c) * 4);
    }
  }
  const small = Object.assign(document.createElement('canvas'), { width: h.cols, height: h.rows });
  small.getContext('2d')!.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, x0, y0, h.cols * cell, h.rows * cell);
  hatchMaskedCells(ctx, h);
  if (labels) {
    const font = Math.max(9, Math.min(13, cell * 0.8));
    ctx.font = `${font}px ${getComputedStyle(document.body).fontFamily}`;
    ctx.fillStyle = rgbaToCss(withAlpha(data.theme.fg, 0.8));
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    const cut = (s: string, n: number) => ([...s].length <= n ? s : [...s].slice(0, n - 1).join('') + '…');
    for (let r = 0; r < h.rows; r++) ctx.fillText(cut(data.labels[r], 12), x0 - 4, y0 + (r + 0.5) * cell, x0 - 6);
    ctx.textAlign = 'left';
    for (let c = 0; c < h.cols; c++) {
      ctx.save();
      ctx.translate(x0 + (c + 0.5) * cell, y0 - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(cut(data.keyLabels[c], 10), 0, 0);
      ctx.restore();
    }
  }
  Object.assign(canvas.dataset, { x0: String(x0), y0: String(y0), cell: String(cell), rows: String(h.rows), cols: String(h.cols), pooled: String(h.pooled) });
  canvas.setAttribute('aria-label', `Attention of L${layerSelect.value} ${headSelect.value === 'mean' ? 'mean of heads' : `H${headSelect.value}`}: ` +
    'rows are query tokens, columns key tokens. Arrow keys move a cursor that reads the weight.');
  // A redraw (another head, a resize) updates a tip on show; a hidden one stays hidden.
  if (cursor && !tip.hidden) showCell(...cursor);
}

/** The tip for served cell (r, c): its tokens (or token ranges when pooled) and its weight. */
function showCell(r: number, c: number): void {
  const h = current();
  if (r < 0 || c < 0 || r >= h.rows || c >= h.cols) return void (tip.hidden = true);
  const v = h.values[r * h.cols + c];
  const range = (b: number, n: number, out: number) => `#${blockStart(b, n, out)}–#${blockStart(b + 1, n, out) - 1}`;
  const where = h.pooled ? `queries ${range(r, data.queries, h.rows)}, keys ${range(c, data.keys, h.cols)}`
    : `query ${token(data.labels, r)}, key ${token(data.keyLabels, c)}`;
  const what = masked(h, r, c) ? 'masked (future token)' : `${h.pooled ? 'largest weight' : 'weight'} ${formatWeight(v)}`;
  tip.textContent = `${where} · ${what}`;
  Object.assign(tip.dataset, { row: String(r), col: String(c), weight: masked(h, r, c) ? 'masked' : v.toFixed(6) });
  tip.hidden = false;
  tip.style.left = `${Math.min(x0 + (c + 1) * cell + 8, canvas.offsetWidth - 40)}px`;
  tip.style.top = `${y0 + (r + 1) * cell + 8}px`;
}

canvas.addEventListener('mousemove', (ev) => {
  cursor = [Math.floor((ev.offsetY - y0) / cell), Math.floor((ev.offsetX - x0) / cell)];
  showCell(...cursor);
});
canvas.addEventListener('mouseleave', () => { tip.hidden = true; cursor = null; });
canvas.addEventListener('blur', () => { tip.hidden = true; });
canvas.addEventListener('keydown', (ev) => {
  const h = current();
  const [r, c] = cursor ?? [0, 0];
  const moves: Record<string, [number, number]> = { ArrowUp: [r - 1, c], ArrowDown: [r + 1, c], ArrowLeft: [r, c - 1], ArrowRight: [r, c + 1] };
  const next = moves[ev.key];
  if (!next) return;
  ev.preventDefault();
  cursor = [Math.max(0, Math.min(h.rows - 1, next[0])), Math.max(0, Math.min(h.cols - 1, next[1]))];
  showCell(...cursor);
});

const spans = data.labels.map((label, i) => {
  const s = Object.assign(document.createElement('span'), { className: 'token', textContent: label, tabIndex: 0 });
  s.setAttribute('role', 'listitem');
  s.dataset.index = String(i);
  s.addEventListener('mouseenter', () => showRow(i));
  s.addEventListener('focus', () => showRow(i));
  return s;
});
tokens.append(...spans);

/** Colours every key token by the weight query `i`'s row puts on it (its block's, when pooled) and lists the largest. */
function showRow(i: number): void {
  const h = current();
  const r = h.pooled ? blockOf(i, data.queries, h.rows) : i;
  const weights = data.keyLabels.map((_, j) => {
    const c = h.pooled ? blockOf(j, data.keys, h.cols) : j;
    return masked(h, r, c) ? NaN : h.values[r * h.cols + c];
  });
  // Self-attention keys are the tokens shown; cross-attention keys are another sequence, listed in the readout only.
  if (data.keys === data.queries) {
    spans.forEach((s, j) => {
      const w = weights[j];
      s.classList.toggle('source', j === i);
      s.classList.toggle('masked', Number.isNaN(w));
      s.style.backgroundColor = Number.isNaN(w) ? '' : rgbaToCss(withAlpha(data.theme.accent, Math.sqrt(Math.min(1, w / (h.scale || 1))) * 0.85));
      s.dataset.weight = Number.isNaN(w) ? 'masked' : w.toFixed(6);
      s.title = Number.isNaN(w) ? 'masked (future token)' : `weight ${formatWeight(w)}`;
    });
  }
  const top = weights.map((w, j) => [w, j]).filter(([w]) => w > 0).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 5);
  readout.textContent = `${token(data.labels, i)} attends most to: ` + top.map(([w, j]) => `${token(data.keyLabels, j)} ${formatWeight(w)}`).join(', ') +
    (h.pooled ? ' (largest weight of each block)' : '');
  readout.dataset.row = String(i);
}

layerSelect.addEventListener('change', draw);
headSelect.addEventListener('change', draw);
window.addEventListener('resize', draw);
draw();
