import assert from 'node:assert/strict';
import { followCell, MIN_ZOOM_SIDE, zoomWindow } from '../../src/shared/zoom-window';

describe('heatmap zoom window', () => {
  it('zooms in around a cell, halving the window each time, down to the smallest window, always inside the matrix', () => {
    const a = zoomWindow(1024, 1024, undefined, [700, 10], 2)!;
    assert.deepEqual(a, { row: 444, col: 0, rows: 512, cols: 512 }, 'centred on the row; pushed right at the left edge');
    const b = zoomWindow(1024, 1024, a, [1000, 500], 2)!;
    assert.deepEqual(b, { row: 768, col: 372, rows: 256, cols: 256 }, 'pushed up at the bottom edge');
    let w = b;
    for (let k = 0; k < 10; k++) w = zoomWindow(1024, 1024, w, [1000, 500], 2)!;
    assert.deepEqual([w.rows, w.cols], [MIN_ZOOM_SIDE, MIN_ZOOM_SIDE]);
    assert.ok(w.row + w.rows <= 1024 && w.col + w.cols <= 1024 && w.row <= 1000 && 1000 < w.row + w.rows);
  });

  it('zooms out back to no zoom, and keeps a cross-attention window inside its own T_dec × T_enc', () => {
    const w = zoomWindow(300, 40, undefined, [150, 20], 4)!;
    assert.deepEqual(w, { row: 113, col: 15, rows: 75, cols: 10 });
    assert.equal(zoomWindow(300, 40, w, [150, 20], 1 / 4), undefined, 'the whole matrix again is no zoom');
    assert.equal(zoomWindow(6, 6, undefined, [3, 3], 2), undefined, 'a matrix smaller than the smallest window does not zoom');
  });

  it('follows the keyboard cursor out of the window by the least shift', () => {
    const w = { row: 100, col: 100, rows: 50, cols: 50 };
    assert.deepEqual(followCell(w, 1024, 1024, [120, 130]), w, 'inside: unchanged');
    assert.deepEqual(followCell(w, 1024, 1024, [150, 99]), { row: 101, col: 99, rows: 50, cols: 50 });
    assert.deepEqual(followCell(w, 1024, 1024, [2000, 0]), { row: 974, col: 0, rows: 50, cols: 50 }, 'clamped to the matrix');
  });
});
