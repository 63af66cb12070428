/**
 * Canvas helpers shared by the panel and the compare view: devicePixelRatio-aware sizing, matrix images
 * (one pixel per cell, scaled up without smoothing), the hatch pattern for masked cells, and colour ramps.
 */
import { divergingColor, heatIntensity, mixColors, rgbaToCss, type Rgba } from '../../src/shared/colors';
import { displaySize, poolMax } from '../../src/shared/display';
import type { Theme } from './theme';

/** Sizes a canvas to css width × height at the device pixel ratio; returns a context in CSS pixels. */
export function sizeCanvas(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(cssWidth));
  const h = Math.max(1, Math.round(cssHeight));
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

/** Canvas fill text of a colour. */
export const css = rgbaToCss;

/** A T×K image (K = T unless given), one pixel per cell, coloured by `colorAt(i, j)`. */
export function matrixImage(tokens: number, colorAt: (i: number, j: number) => Rgba, cols = tokens): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = Math.max(1, cols);
  c.height = Math.max(1, tokens);
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(c.width, c.height);
  for (let i = 0; i < tokens; i++) {
    for (let j = 0; j < cols; j++) {
      const col = colorAt(i, j);
      const p = (i * cols + j) * 4;
      img.data[p] = col.r;
      img.data[p + 1] = col.g;
      img.data[p + 2] = col.b;
      img.data[p + 3] = Math.round(col.a * 255);
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** Entries of the heat colour table: finer than 8 bits, so a table colour is within 0.1 of the exact mix per channel. */
const HEAT_LEVELS = 1024;
const heatTables = new WeakMap<Theme, Uint8ClampedArray>();

/** RGBA for heat positions 0..1 (background → accent), one row per level, cached per theme object. */
function heatTable(theme: Theme): Uint8ClampedArray {
  let t = heatTables.get(theme);
  if (!t) {
    t = new Uint8ClampedArray(HEAT_LEVELS * 4);
    for (let k = 0; k < HEAT_LEVELS; k++) {
      const c = mixColors(theme.bg, theme.accent, k / (HEAT_LEVELS - 1));
      t.set([c.r, c.g, c.b, Math.round(c.a * 255)], k * 4);
    }
    heatTables.set(theme, t);
  }
  return t;
}

/**
 * Attention image of a [T,K] matrix (K = T unless given): background → accent by √(weight / max); masked
 * cells (causal, j > i) greyed. Where the matrix has more cells than `maxSide` pixels it is max-pooled to
 * that size first (display.ts), so a 1 024-token head becomes a thumbnail-sized image in one pass, written
 * straight into the pixels through a colour table (no object per cell).
 */
export function attentionImage(m: Float32Array, tokens: number, max: number, causal: boolean, theme: Theme, cols = tokens,
  maxSide = Infinity): HTMLCanvasElement {
  const size = displaySize(tokens, cols, maxSide);
  const pooled = size.rows === tokens && size.cols === cols ? undefined : poolMax(m, tokens, cols, size.rows, size.cols, causal);
  const c = document.createElement('canvas');
  c.width = Math.max(1, size.cols);
  c.height = Math.max(1, size.rows);
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(c.width, c.height);
  const table = heatTable(theme);
  const masked = theme.masked;
  const maskedPx = [masked.r, masked.g, masked.b, Math.round(masked.a * 255)];
  for (let i = 0; i < size.rows; i++) {
    for (let j = 0; j < size.cols; j++) {
      const p = (i * size.cols + j) * 4;
      const w = pooled ? pooled[i * size.cols + j] : causal && j > i ? NaN : m[i * cols + j];
      if (Number.isNaN(w)) {
        img.data.set(maskedPx, p);
        continue;
      }
      const k = Math.round(heatIntensity(w, max) * (HEAT_LEVELS - 1)) * 4;
      img.data[p] = table[k];
      img.data[p + 1] = table[k + 1];
      img.data[p + 2] = table[k + 2];
      img.data[p + 3] = table[k + 3];
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/**
 * Attention image of a matrix the worker served at display size (attention-query.ts): pooled cells are the
 * max of their block with NaN for blocks that are all masked; a full-size causal matrix is masked above the diagonal.
 */
export function servedImage(m: { readonly values: Float32Array; readonly rows: number; readonly cols: number; readonly scale: number;
  readonly pooled: boolean; readonly causal: boolean; }, theme: Theme): HTMLCanvasElement {
  return attentionImage(m.values, m.rows, m.scale, m.causal && !m.pooled, theme, m.cols);
}

/** Diverging image of a signed [T,T] matrix on a signed √ ramp: −limit blue, 0 background, +limit red; masked greyed. */
export function divergingImage(d: Float32Array, tokens: number, limit: number, causal: boolean, theme: Theme): HTMLCanvasElement {
  return matrixImage(tokens, (i, j) => {
    if (causal && j > i) return theme.masked;
    const v = d[i * tokens + j];
    return divergingColor(Math.sign(v) * heatIntensity(Math.abs(v), limit), 1, theme.negative, theme.bg, theme.positive);
  });
}

/** Draws `img` (a matrix image) into the size × height (default square) box at (x, y), no smoothing. */
export function blitMatrix(ctx: CanvasRenderingContext2D, img: HTMLCanvasElement, x: number, y: number, size: number, height = size): void {
  ctx.save();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, x, y, size, height);
  ctx.restore();
}

/** Diagonal hatch pattern (lines in `line` over transparent), spaced `gap` CSS px. */
export function hatchPattern(ctx: CanvasRenderingContext2D, line: Rgba, gap = 5): CanvasPattern | null {
  const dpr = window.devicePixelRatio || 1;
  const n = Math.max(2, Math.round(gap * dpr));
  const c = document.createElement('canvas');
  c.width = n;
  c.height = n;
  const p = c.getContext('2d')!;
  p.strokeStyle = css(line);
  p.lineWidth = Math.max(1, dpr);
  p.beginPath();
  // Two segments so the diagonal tiles seamlessly.
  p.moveTo(0, n);
  p.lineTo(n, 0);
  p.moveTo(-n / 2, n / 2);
  p.lineTo(n / 2, -n / 2);
  p.moveTo(n / 2, n + n / 2);
  p.lineTo(n + n / 2, n / 2);
  p.stroke();
  const pattern = ctx.createPattern(c, 'repeat');
  // The pattern tile is in device pixels; undo the context's dpr scale.
  pattern?.setTransform(new DOMMatrix([1 / dpr, 0, 0, 1 / dpr, 0, 0]));
  return pattern;
}

/** Hatches the masked upper triangle (cells j > i) of a T×T matrix drawn at (x, y), `cell` px per cell. */
export function hatchUpperTriangle(ctx: CanvasRenderingContext2D, tokens: number, x: number, y: number, cell: number,
  line: Rgba): void {
  hatchMasked(ctx, { row: 0, col: 0, rows: tokens, cols: tokens }, x, y, cell, line);
}

/**
 * Hatches the masked cells (key after query: col > row; with a sliding window `band`, also col ≤ row − band) of a
 * window of a causal matrix drawn at (x, y), `cell` px per cell.
 */
export function hatchMasked(ctx: CanvasRenderingContext2D, w: { row: number; col: number; rows: number; cols: number }, x: number, y: number,
  cell: number, line: Rgba, band?: number): void {
  const pattern = hatchPattern(ctx, line, Math.max(3, Math.min(6, cell / 2)));
  if (!pattern) return;
  ctx.save();
  ctx.fillStyle = pattern;
  ctx.beginPath();
  for (let i = 0; i < w.rows; i++) {
    const first = Math.max(0, w.row + i + 1 - w.col); // the window's first masked column in this row
    if (first < w.cols) ctx.rect(x + first * cell, y + i * cell, (w.cols - first) * cell, cell);
    const before = band === undefined ? 0 : Math.min(w.cols, w.row + i - band + 1 - w.col); // columns left of the band
    if (before > 0) ctx.rect(x, y + i * cell, before * cell, cell);
  }
  ctx.fill();
  ctx.restore();
}

/** A horizontal colour ramp with end labels, for legends. Returns the canvas. */
export function rampCanvas(width: number, height: number, stops: readonly Rgba[]): HTMLCanvasElement {
  const c = document.createElement('canvas');
  const ctx = sizeCanvas(c, width, height);
  const g = ctx.createLinearGradient(0, 0, width, 0);
  stops.forEach((s, k) => g.addColorStop(stops.length === 1 ? 0 : k / (stops.length - 1), css(s)));
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, width, height);
  c.setAttribute('aria-hidden', 'true');
  c.className = 'ramp';
  return c;
}

/** Font string for canvas text in the editor font at `scale` × its size. */
export function canvasFont(theme: Theme, scale = 0.85): string {
  return `${Math.max(9, Math.round(theme.fontSize * scale))}px ${theme.fontFamily}`;
}
