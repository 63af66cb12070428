/**
 * The window of a [T, K] matrix a zoomed heatmap shows: zooming in or out keeps the given cell in view and the
 * window inside the matrix; a window as large as the matrix is no zoom. Pure: no DOM, no vscode.
 */
import type { MatrixRegion } from './attention-query';

/** The fewest rows or columns a zoomed window shows. */
export const MIN_ZOOM_SIDE = 8;

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * The window after zooming by `factor` (> 1 in, < 1 out) around cell `center` [row, column] of a `rows` × `cols`
 * matrix, from `current` (undefined: the whole matrix). Undefined again when the result covers the whole matrix.
 */
export function zoomWindow(rows: number, cols: number, current: MatrixRegion | undefined, center: readonly [number, number],
  factor: number): MatrixRegion | undefined {
  const cur = current ?? { row: 0, col: 0, rows, cols };
  const side = (n: number, total: number) => clamp(Math.round(n / factor), Math.min(MIN_ZOOM_SIDE, total), total);
  const r = side(cur.rows, rows);
  const c = side(cur.cols, cols);
  if (r === rows && c === cols) return undefined;
  const [ci, cj] = [clamp(center[0], 0, rows - 1), clamp(center[1], 0, cols - 1)];
  return { row: clamp(ci - Math.floor(r / 2), 0, rows - r), col: clamp(cj - Math.floor(c / 2), 0, cols - c), rows: r, cols: c };
}

/** The window moved as little as needed to show cell [row, column] (the keyboard cursor walking out of it). */
export function followCell(w: MatrixRegion, rows: number, cols: number, cell: readonly [number, number]): MatrixRegion {
  const row = cell[0] < w.row ? cell[0] : cell[0] >= w.row + w.rows ? cell[0] - w.rows + 1 : w.row;
  const col = cell[1] < w.col ? cell[1] : cell[1] >= w.col + w.cols ? cell[1] - w.cols + 1 : w.col;
  return { ...w, row: clamp(row, 0, rows - w.rows), col: clamp(col, 0, cols - w.cols) };
}
