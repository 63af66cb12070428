/**
 * The view on show as SVG: the Heatmap (one head or aggregate, its zoomed window, token labels, the hatched
 * masked cells) or the Model grid (every head and each layer's mean), in the theme's colours as drawn. Every
 * matrix comes from the worker's 'matrix' query max-pooled to the size it is drawn at (never a whole stack),
 * one head at a time, and is written as rects (runs of one colour merged), so large models stream.
 */
import { formatWeight } from '../shared/attention';
import type { MatrixRegion } from '../shared/attention-query';
import { headLabel, type HeadRef } from '../shared/protocol';
import { escapeXml, hexColor, type ExportTheme, type ThumbNote, type ViewSpec } from '../shared/view-spec';
import type { AnswerOf } from './attention-asker';
import { cellColor, ViewExportCancelled, writePieces, type ExportControl, type MatrixAsk, type PieceWriter } from './view-export';

/** Most cells one heatmap is exported at per side (beyond it the worker max-pools, as the canvas does at its pixels). */
export const SVG_MAX_SIDE = 256;
/** Most cells of all grid thumbnails together (the thumbnails share it evenly, never above their CSS size). */
export const SVG_GRID_CELLS = 250_000;

/** Who and what the file describes. */
export interface ViewMeta {
  readonly model: string;
  readonly document: string;
}

const num = (x: number): string => String(+x.toFixed(3));

/**
 * One served matrix as a `<g class="matrix">` of rects in cell units, scaled to `width` × `height` CSS px at (x, y):
 * cell (i, j) of the served matrix is the rect at x = j, y = i; a run of equal colours in a row is one wider rect.
 */
export function matrixSvg(m: AnswerOf<'matrix'>, head: HeadRef, theme: ExportTheme, x: number, y: number, width: number, height: number): string {
  const values = new Float32Array(m.data);
  const maskFull = m.causal && !m.pooled && !m.region;
  const parts: string[] = [`<g class="matrix" data-layer="${head.layer}" data-head="${head.head}" data-rows="${m.rows}" data-cols="${m.cols}" ` +
    `data-pooled="${m.pooled}" data-scale="${m.scale}"${m.region ? ` data-row0="${m.region.row}" data-col0="${m.region.col}"` : ''} ` +
    `transform="translate(${num(x)} ${num(y)}) scale(${num(width / m.cols)} ${num(height / m.rows)})" shape-rendering="crispEdges">`];
  for (let i = 0; i < m.rows; i++) {
    let start = 0;
    let fill = '';
    for (let j = 0; j <= m.cols; j++) {
      const f = j < m.cols ? hexColor(cellColor(values[i * m.cols + j], m.scale, maskFull && j > i, theme)) : '';
      if (j > 0 && f !== fill) parts.push(`<rect x="${start}" y="${i}" width="${j - start}" height="1" fill="${fill}"/>`);
      if (f !== fill) [start, fill] = [j, f];
    }
  }
  parts.push('</g>');
  return parts.join('');
}

/** Opening of an SVG document of `width` × `height` CSS px on the theme's background, with the hatch pattern. */
function svgOpen(width: number, height: number, theme: ExportTheme, title: string, desc: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" ` +
    `viewBox="0 0 ${num(width)} ${num(height)}" font-family="${escapeXml(theme.fontFamily)}">\n<title>${escapeXml(title)}</title>\n` +
    `<desc>${escapeXml(desc)}</desc>\n<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse">` +
    `<path d="M0 5L5 0M-2.5 2.5L2.5 -2.5M2.5 7.5L7.5 2.5" stroke="${hexColor(theme.hatch)}" stroke-width="1"/></pattern></defs>\n` +
    `<rect class="background" x="0" y="0" width="${num(width)}" height="${num(height)}" fill="${hexColor(theme.bg)}"/>\n`;
}

/** A line of text in the foreground colour (alpha as fill-opacity). */
function text(s: string, x: number, y: number, theme: ExportTheme, size: number, attrs = '', alpha = 1): string {
  return `<text x="${num(x)}" y="${num(y)}" font-size="${num(size)}" fill="${hexColor({ ...theme.fg, a: 1 })}"` +
    `${alpha < 1 || theme.fg.a < 1 ? ` fill-opacity="${num(alpha * theme.fg.a)}"` : ''} dominant-baseline="middle"${attrs}>${escapeXml(s)}</text>`;
}

/** A label cut to `max` characters with an ellipsis. */
const cut = (s: string, max: number): string => ([...s].length <= max ? s : [...s].slice(0, max - 1).join('') + '…');

/** The heatmap as SVG: title line, token labels (96 tokens or fewer a side, as the panel), matrix, hatch over masked cells, frame. */
async function heatmapSvg(out: PieceWriter, ask: MatrixAsk, spec: ViewSpec, meta: ViewMeta, ctl: ExportControl): Promise<void> {
  const { theme } = spec;
  const w: MatrixRegion = spec.region ?? { row: 0, col: 0, rows: spec.queries, cols: spec.keys };
  const labels = Math.max(w.rows, w.cols) <= 96;
  const cell = spec.cell;
  const [labelW, labelH, titleH] = [labels ? 110 : 0, labels ? 88 : 0, Math.round(theme.fontSize * 2)];
  const [x0, y0] = [labelW + 1, titleH + labelH + 1];
  const [size, height] = [w.cols * cell, w.rows * cell];
  const title = `${headLabel(spec.head)}${spec.valueWeighted ? ' (α·‖v‖)' : ''} — ${meta.model} — ${meta.document}`;
  if (ctl.cancelled()) throw new ViewExportCancelled();
  const m = await ask({ kind: 'matrix', head: spec.head, maxSide: Math.max(1, Math.min(SVG_MAX_SIDE, Math.ceil(Math.max(size, height)))),
    ...(spec.region ? { region: spec.region } : {}) });
  const desc = `Attention heatmap: rows are query tokens, columns key tokens; rows ${w.row}–${w.row + w.rows - 1}, columns ${w.col}–${w.col + w.cols - 1} ` +
    `of ${spec.queries}×${spec.keys}. Colour: √(weight / ${formatWeight(m.scale)}) from background to accent${m.pooled ? '; each cell is the largest weight of its block' : ''}.`;
  const legendH = Math.round(theme.fontSize * 2);
  await out.write(svgOpen(Math.max(x0 + size + 2, 320), y0 + height + 2 + legendH, theme, title, desc));
  await out.write(text(title, 4, titleH / 2, theme, theme.fontSize, ' class="title"'));
  await out.write(matrixSvg(m, spec.head, theme, x0, y0, size, height));
  if (spec.causal) {
    const d: string[] = [];
    for (let i = 0; i < w.rows; i++) {
      const first = Math.max(0, w.row + i + 1 - w.col);
      if (first < w.cols) d.push(`M${num(x0 + first * cell)} ${num(y0 + i * cell)}h${num((w.cols - first) * cell)}v${num(cell)}h${num(-(w.cols - first) * cell)}z`);
    }
    if (d.length) await out.write(`<path class="masked" d="${d.join('')}" fill="url(#hatch)"/>`);
  }
  const frame = theme.contrastBorder ?? { ...theme.fg, a: theme.fg.a * 0.3 };
  await out.write(`<rect class="frame" x="${num(x0 - 0.5)}" y="${num(y0 - 0.5)}" width="${num(size + 1)}" height="${num(height + 1)}" fill="none" stroke="${hexColor(frame)}"/>\n`);
  if (labels) {
    const font = Math.min(Math.max(9, cell * 0.8), theme.fontSize);
    const maxChars = Math.max(3, Math.floor(labelW / (font * 0.62)));
    const rows = Array.from({ length: w.rows }, (_, i) =>
      text(cut(spec.labels[w.row + i], maxChars), labelW - 4, y0 + (i + 0.5) * cell, theme, font, ` text-anchor="end" data-query="${w.row + i}"`, 0.75));
    const diag = Math.max(3, Math.floor((labelH * 1.3) / (font * 0.62)));
    const cols = Array.from({ length: w.cols }, (_, j) => text(cut(spec.keyLabels[w.col + j], diag), 0, 0, theme, font,
      ` transform="translate(${num(x0 + (j + 0.5) * cell)} ${num(y0 - 4)}) rotate(-60)" data-key="${w.col + j}"`, 0.75));
    await out.write(`<g class="labels">${rows.join('')}${cols.join('')}</g>\n`);
  }
  // The colour scale, as the panel's legend draws it: a ramp from the background to the accent, its top the head's 99th percentile.
  const ly = y0 + height + 2 + legendH / 2;
  await out.write(`<defs><linearGradient id="ramp"><stop offset="0" stop-color="${hexColor(theme.bg)}"/><stop offset="1" stop-color="${hexColor(theme.accent)}"/>` +
    `</linearGradient></defs><rect class="ramp" x="4" y="${num(ly - 5)}" width="56" height="10" fill="url(#ramp)" stroke="${hexColor(frame)}"/>`);
  await out.write(text(`0 → ${formatWeight(m.scale)}+ (√ scale; top 1% saturate)${m.pooled ? '; each cell: the largest weight of its block' : ''}`,
    66, ly, theme, Math.max(9, theme.fontSize * 0.85), ' class="legend"', 0.8));
  ctl.progress(1, 1);
  await out.write('</svg>\n');
}

/**
 * A thumbnail's notes as the grid draws them: the metric's value in a chip at the top-right (left out when the
 * thumbnail cannot hold it) and the label badges along the bottom. Text widths are estimated (0.6 em a character).
 */
function noteSvg(note: ThumbNote, x: number, y: number, thumb: number, theme: ExportTheme): string {
  const size = Math.max(9, Math.round(theme.fontSize * 0.72));
  const h = Math.round(theme.fontSize * 0.72 + 6);
  const width = (s: string) => Math.ceil([...s].length * size * 0.6) + 8;
  const chip = (s: string, cx: number, cy: number, stroke: string, cls: string) =>
    `<g class="${cls}"><rect x="${num(cx)}" y="${num(cy)}" width="${width(s)}" height="${h}" rx="3" fill="${hexColor(theme.bg)}" fill-opacity="0.9" stroke="${stroke}"/>` +
    text(s, cx + 4, cy + h / 2 + 0.5, theme, size) + '</g>';
  const parts: string[] = [];
  if (note.value !== undefined && width(note.value) + 4 <= thumb && h * 2 + 6 <= thumb) {
    parts.push(chip(note.value, x + thumb - width(note.value) - 2, y + 2, hexColor({ ...theme.fg, a: theme.fg.a * 0.45 }), 'value'));
  }
  let [bx, by] = [x + 2, y + thumb - h - 2];
  for (const b of note.badges) {
    if (bx + width(b) > x + thumb - 2 && bx > x + 2) [bx, by] = [x + 2, by - h - 2];
    parts.push(chip(b, bx, by, hexColor(theme.focus), 'badge'));
    bx += width(b) + 3;
  }
  return parts.join('');
}

/** The model grid as SVG: a thumbnail per head and a mean column per layer, head and layer labels, the selected head outlined. */
async function gridSvg(out: PieceWriter, ask: MatrixAsk, spec: ViewSpec, meta: ViewMeta, ctl: ExportControl): Promise<void> {
  const { theme, layers, heads } = spec;
  const cols = heads + 1;
  const [labelW, titleH, gap, meanGap, thumb] = [34, Math.round(theme.fontSize * 2), 6, 8, spec.cell];
  const labelH = titleH + 20;
  const cellX = (c: number) => labelW + c * (thumb + gap) + (c === cols - 1 ? meanGap : 0);
  const side = Math.max(1, Math.min(Math.ceil(thumb), Math.floor(Math.sqrt(SVG_GRID_CELLS / (layers * cols)))));
  const title = `Model grid${spec.valueWeighted ? ' (α·‖v‖)' : ''} — ${meta.model} — ${meta.document}`;
  await out.write(svgOpen(cellX(cols - 1) + thumb + 2, labelH + layers * (thumb + gap), theme, title,
    `Every head's attention (rows: query tokens, columns: key tokens), ${layers} layers × ${heads} heads and each layer's mean; ` +
    `each thumbnail max-pooled to at most ${side} × ${side} cells.`));
  await out.write(text(title, 4, titleH / 2, theme, theme.fontSize, ' class="title"'));
  const small = Math.max(9, Math.round(theme.fontSize * 0.8));
  const heads0 = Array.from({ length: cols }, (_, c) => text(c < heads ? `H${c}` : 'mean', cellX(c) + thumb / 2, titleH + 10, theme, small, ' text-anchor="middle"', 0.8));
  const layers0 = Array.from({ length: layers }, (_, r) => text(`L${r}`, labelW - 6, labelH + r * (thumb + gap) + thumb / 2, theme, small, ' text-anchor="end"', 0.8));
  await out.write(`<g class="labels">${heads0.join('')}${layers0.join('')}</g>\n`);
  const border = hexColor(theme.contrastBorder ?? { ...theme.fg, a: theme.fg.a * 0.2 });
  for (let r = 0; r < layers; r++) {
    for (let c = 0; c < cols; c++) {
      if (ctl.cancelled()) throw new ViewExportCancelled();
      const head: HeadRef = { stack: spec.head.stack, layer: r, head: c < heads ? c : 'mean' };
      const m = await ask({ kind: 'matrix', head, maxSide: side });
      const [x, y] = [cellX(c), labelH + r * (thumb + gap)];
      await out.write(matrixSvg(m, head, theme, x, y, thumb, thumb));
      await out.write(`<rect class="frame" x="${num(x - 0.5)}" y="${num(y - 0.5)}" width="${num(thumb + 1)}" height="${num(thumb + 1)}" fill="none" stroke="${border}"/>`);
      const note = c < heads ? spec.notes?.[r * heads + c] : undefined;
      if (note) await out.write(noteSvg(note, x, y, thumb, theme));
      const selected = spec.head.layer === r && spec.head.head === head.head;
      if (selected) {
        await out.write(`<rect class="selected" x="${num(x - 2)}" y="${num(y - 2)}" width="${num(thumb + 4)}" height="${num(thumb + 4)}" fill="none" ` +
          `stroke="${hexColor(theme.focus)}" stroke-width="3"/>`);
      }
      await out.write('\n');
      ctl.progress(r * cols + c + 1, layers * cols);
    }
  }
  await out.write('</svg>\n');
}

/** Writes the view `spec` describes to `file` as SVG; resolves with the bytes written (the file is removed on failure or cancel). */
export function writeSvgExport(ask: MatrixAsk, spec: ViewSpec, meta: ViewMeta, file: string, ctl: ExportControl): Promise<number> {
  return writePieces(file, (out) => (spec.view === 'grid' ? gridSvg : heatmapSvg)(out, ask, spec, meta, ctl));
}
