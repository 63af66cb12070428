/**
 * The store's answers that need every row of a matrix (a column, the colour scale, a matrix or region at display
 * size), as jobs over row blocks (row-blocks.ts): a paged stack computes one block at a time and never holds a whole
 * head. Pure: no `vscode`, no DOM.
 */
import { BlockJob, ColumnSink, passOver, PoolSink, type RowSource } from './row-blocks';
import { displaySize, VisibleQuantileSink } from './display';

/** A window of a matrix: rows [row, row + rows) × columns [col, col + cols). */
export interface MatrixRegion {
  readonly row: number;
  readonly col: number;
  readonly rows: number;
  readonly cols: number;
}

/** A matrix (or a region of it) at display size: attention-query's 'matrix' answer without its scale. */
export interface PooledMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly pooled: boolean;
  readonly data: Float32Array;
}

/** Column `key` of a source's matrix, streamed: Float32 [rows]. */
export function columnJob(source: RowSource, key: number, blockRows: number): BlockJob<Float32Array> {
  const sink = new ColumnSink(source.rows, source.keys, key);
  return new BlockJob(passOver(source, [sink], blockRows), Math.ceil(source.rows / blockRows), () => sink.column);
}

/**
 * A matrix pooled to at most `maxSide` × `maxSide` cells, or the `region` of it, and (when `scale` is not known yet)
 * the colour scale's top: visibleQuantile(0.99) of the whole matrix, found in the same pass over every row. With a
 * scale known, only the region's rows are computed.
 */
export function matrixJob(source: RowSource, causal: boolean, maxSide: number, region: MatrixRegion | undefined, scale: number | undefined,
  blockRows: number): BlockJob<{ matrix: PooledMatrix; scale: number }> {
  const r = region ?? { row: 0, col: 0, rows: source.rows, cols: source.keys };
  const size = displaySize(r.rows, r.cols, maxSide);
  const pooled = size.rows !== r.rows || size.cols !== r.cols;
  const pool = new PoolSink(source.keys, r, size.rows, size.cols, causal, !!region);
  const quantile = scale === undefined ? new VisibleQuantileSink(source.rows, source.keys, causal, 0.99) : undefined;
  // With the scale known only the region's rows are computed (blocks from its first row), from the source itself so a driver still sees its origin.
  const units = quantile ? passOver(source, [pool, quantile], blockRows) : passOver(source, [pool], blockRows, r.row, r.row + r.rows);
  return new BlockJob(units, Math.ceil((quantile ? source.rows : r.rows) / blockRows), () => ({
    matrix: { rows: size.rows, cols: size.cols, pooled, data: pool.result() },
    scale: scale ?? quantile!.result(),
  }));
}
