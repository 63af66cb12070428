/**
 * Axis labels of a matrix canvas (the panel's heatmap, the compare view's thumbnails): query tokens left of
 * the rows, key tokens above the columns written upwards (vertical, so each stays in its own column), one
 * label every `step` tokens when the cells are smaller than a line of text, and the label strips only as wide
 * and tall as the longest label drawn (no empty band).
 */
import { rgbaToCss, withAlpha } from '../../src/shared/colors';
import type { MatrixRegion } from '../../src/shared/attention-query';
import { canvasFont } from './canvas';
import type { Theme } from './theme';
import { shortLabel } from './token-text';

/** Longest label drawn, in characters (longer ones end in …). */
const MAX_LABEL_CHARS = 12;
/** Most tokens between two labels before the labels are left out altogether. */
const MAX_STEP = 8;

/** How the labels are laid out: font, strip sizes in CSS px. */
export interface AxisLabelSizes {
  readonly fontPx: number;
  /** Width of the row-label strip left of the matrix and height of the column-label strip above it. */
  readonly width: number;
  readonly height: number;
}

/**
 * Measures the labels of a window that are drawn (every `step`-th): the strips fit the longest row and column
 * label (the row strip capped at a share of `avail`).
 */
export function measureAxisLabels(theme: Theme, rows: readonly string[], cols: readonly string[], avail: number, step = 1): AxisLabelSizes {
  const fontPx = Math.max(9, Math.round(theme.fontSize * 0.85));
  const ctx = document.createElement('canvas').getContext('2d')!;
  ctx.font = canvasFont(theme);
  const longest = (ls: readonly string[]): number => ls.reduce((m, l, i) =>
    (i % step ? m : Math.max(m, ctx.measureText(shortLabel(l, MAX_LABEL_CHARS)).width)), 0);
  return {
    fontPx,
    width: Math.ceil(Math.min(longest(rows) + 8, avail * 0.3, 130)),
    height: Math.ceil(Math.min(longest(cols) + 8, 130)),
  };
}

/** Tokens per label so that neighbouring labels are at least a line of text apart; 0 when that would leave out too many. */
export function labelStep(fontPx: number, cell: number): number {
  const step = Math.max(1, Math.ceil((fontPx + 3) / cell));
  return step > MAX_STEP ? 0 : step;
}

/** What drawAxisLabels needs: the window, the geometry and the focused row. */
export interface AxisLabelDrawing {
  readonly theme: Theme;
  readonly window: MatrixRegion;
  readonly rowLabels: readonly string[];
  readonly colLabels: readonly string[];
  readonly x0: number;
  readonly y0: number;
  readonly cell: number;
  readonly sizes: AxisLabelSizes;
  readonly step: number;
  /** Row (and, for self-attention, column) to draw at full contrast; null for none. */
  readonly focused: number | null;
  readonly sameAxes: boolean;
}

/** Draws every step-th label of the window (counted from the window's first row and column), each centred on its cell. */
export function drawAxisLabels(ctx: CanvasRenderingContext2D, d: AxisLabelDrawing): void {
  const { theme, window: w, x0, y0, cell, sizes, step } = d;
  ctx.font = canvasFont(theme);
  ctx.textBaseline = 'middle';
  const colour = (i: number): string => rgbaToCss(i === d.focused ? theme.fg : withAlpha(theme.fg, 0.75));
  ctx.textAlign = 'right';
  for (let i = 0; i < w.rows; i += step) {
    ctx.fillStyle = colour(w.row + i);
    ctx.fillText(shortLabel(d.rowLabels[w.row + i], MAX_LABEL_CHARS), sizes.width - 4, y0 + (i + 0.5) * cell, sizes.width - 6);
  }
  ctx.textAlign = 'left';
  for (let j = 0; j < w.cols; j += step) {
    ctx.save();
    ctx.translate(x0 + (j + 0.5) * cell, y0 - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillStyle = colour(d.sameAxes ? w.col + j : -1);
    ctx.fillText(shortLabel(d.colLabels[w.col + j], MAX_LABEL_CHARS), 0, 0, sizes.height - 6);
    ctx.restore();
  }
}
