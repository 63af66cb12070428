import assert from 'node:assert/strict';
import {
  divergingColor, formatWeight, heatIntensity, scaleMax, headMatrix, headPalette, HEAD_PALETTE, maxAbs, maxValue, meanOverHeads, mixColors,
  parseCssColor, rgbaToCss, selectTargets, sequentialColor, topK, weightToAlpha, withAlpha, luminance,
} from '../../src/shared/colors';

describe('colors: CSS colour parsing and mixing', () => {
  it('parses hex forms', () => {
    assert.deepEqual(parseCssColor('#fff'), { r: 255, g: 255, b: 255, a: 1 });
    assert.deepEqual(parseCssColor('#1e1e1e'), { r: 30, g: 30, b: 30, a: 1 });
    assert.deepEqual(parseCssColor(' #3794FF80 '), { r: 55, g: 148, b: 255, a: 128 / 255 });
    assert.equal(parseCssColor('#12345')?.a, undefined);
  });
  it('parses rgb() and rgba() with commas, spaces and percentages', () => {
    assert.deepEqual(parseCssColor('rgb(1, 2, 3)'), { r: 1, g: 2, b: 3, a: 1 });
    assert.deepEqual(parseCssColor('rgba(10,20,30,0.5)'), { r: 10, g: 20, b: 30, a: 0.5 });
    assert.deepEqual(parseCssColor('rgb(100% 0% 0% / 25%)'), { r: 255, g: 0, b: 0, a: 0.25 });
  });
  it('refuses what it cannot read', () => {
    for (const s of ['', 'red', 'var(--x)', 'rgb(1,2)', 'hsl(0 0% 0%)', undefined, null]) assert.equal(parseCssColor(s), undefined);
  });
  it('mixes linearly and clamps t', () => {
    const a = { r: 0, g: 0, b: 0, a: 1 };
    const b = { r: 200, g: 100, b: 50, a: 0 };
    assert.deepEqual(mixColors(a, b, 0.5), { r: 100, g: 50, b: 25, a: 0.5 });
    assert.deepEqual(mixColors(a, b, -1), a);
    assert.deepEqual(mixColors(a, b, 7), b);
    assert.equal(rgbaToCss(withAlpha(b, 0.25)), 'rgba(200, 100, 50, 0.25)');
  });
  it('orders luminance of black and white', () => {
    assert.ok(luminance({ r: 0, g: 0, b: 0, a: 1 }) < 0.01);
    assert.ok(luminance({ r: 255, g: 255, b: 255, a: 1 }) > 0.99);
  });
});

describe('colors: weight scales', () => {
  it('maps weight to an alpha proportional to w / max within [floor, ceil]', () => {
    assert.equal(weightToAlpha(0, 1), 0);
    assert.equal(weightToAlpha(-0.1, 1), 0);
    assert.equal(weightToAlpha(0.5, 0), 0);
    assert.equal(weightToAlpha(1, 1, 0.1, 0.9), 0.9);
    assert.ok(Math.abs(weightToAlpha(0.25, 0.5, 0, 1) - 0.5) < 1e-12);
    assert.ok(weightToAlpha(0.2, 1) < weightToAlpha(0.4, 1), 'monotonic');
  });
  it('sequential and diverging scales hit their ends', () => {
    const lo = { r: 0, g: 0, b: 0, a: 1 };
    const hi = { r: 255, g: 0, b: 0, a: 1 };
    const blue = { r: 0, g: 0, b: 255, a: 1 };
    assert.deepEqual(sequentialColor(2, 2, lo, hi), hi);
    assert.deepEqual(sequentialColor(0, 2, lo, hi), lo);
    assert.deepEqual(sequentialColor(1, 0, lo, hi), lo);
    assert.deepEqual(divergingColor(0.5, 0.5, blue, lo, hi), hi);
    assert.deepEqual(divergingColor(-0.5, 0.5, blue, lo, hi), blue);
    assert.deepEqual(divergingColor(0, 0.5, blue, lo, hi), lo);
    assert.deepEqual(divergingColor(1, 0, blue, lo, hi), lo);
  });
  it('maps heatmap weights on a square-root ramp', () => {
    assert.equal(heatIntensity(0, 1), 0);
    assert.equal(heatIntensity(0.25, 1), 0.5);
    assert.equal(heatIntensity(2, 1), 1);
    assert.equal(heatIntensity(0.5, 0), 0);
    assert.equal(heatIntensity(Number.NaN, 1), 0);
  });
  it('tops the heatmap scale at a quantile of the visible entries', () => {
    // causal 3×3: visible entries 1 | .5 .5 | .2 .3 .5
    const m = [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5];
    assert.equal(scaleMax(m, 3, true, 1), 1);
    assert.equal(scaleMax(m, 3, true, 0.5), 0.5);
    assert.equal(scaleMax(m, 3, true, 0), 0.2);
    assert.equal(scaleMax(m, 3, false, 0.5), 0.3, 'bidirectional: the zeros count too');
    assert.equal(scaleMax([0, 0, 0, 0.9], 2, false, 0.5), 0.9, 'a zero quantile falls back to the max');
    assert.equal(scaleMax([], 0, true), 0);
  });
  it('formats weights with four decimals', () => {
    assert.equal(formatWeight(0.123456), '0.1235');
    assert.equal(formatWeight(1), '1.0000');
  });
});

describe('colors: head palette', () => {
  it('cycles through the chart colours and counts wraps', () => {
    assert.equal(headPalette(0).cssVar, '--vscode-charts-blue');
    assert.equal(headPalette(1).cssVar, '--vscode-charts-red');
    const n = HEAD_PALETTE.length;
    assert.equal(headPalette(n).cssVar, headPalette(0).cssVar);
    assert.equal(headPalette(n).shade, 1);
    assert.equal(headPalette(n - 1).shade, 0);
    assert.match(headPalette(3).fallback, /^#[0-9a-f]{6}$/);
  });
});

describe('colors: stack access, mean and top-k', () => {
  // 2 layers, 2 heads, 2 tokens; value = 1000*l + 100*h + 10*i + j
  const dims = { layers: 2, heads: 2, tokens: 2 };
  const data = new Float32Array(16);
  for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
    data[((l * 2 + h) * 2 + i) * 2 + j] = 1000 * l + 100 * h + 10 * i + j;
  }
  it('reads one head as a view', () => {
    assert.deepEqual(Array.from(headMatrix(data, dims, 1, 0)), [1000, 1001, 1010, 1011]);
    assert.equal(headMatrix(data, dims, 1, 1).buffer, data.buffer);
  });
  it('averages heads of a layer', () => {
    assert.deepEqual(Array.from(meanOverHeads(data, dims, 1)), [1050, 1051, 1060, 1061]);
  });
  it('keeps rows of a softmax stack summing to 1', () => {
    const p = new Float32Array([1, 0, 0.3, 0.7, 1, 0, 0.9, 0.1]);
    const m = meanOverHeads(p, { layers: 1, heads: 2, tokens: 2 }, 0);
    assert.ok(Math.abs(m[2] + m[3] - 1) < 1e-6);
    assert.deepEqual(Array.from(m.subarray(0, 2)), [1, 0]);
  });
  it('finds maxima', () => {
    assert.equal(maxValue([0.1, 0.7, 0.2]), 0.7);
    assert.equal(maxValue([]), 0);
    assert.equal(maxAbs([0.1, -0.9, 0.2]), 0.9);
  });
  it('top-k orders by weight, ties by index', () => {
    assert.deepEqual(topK([0.1, 0.5, 0.1, 0.3], 3), [1, 3, 0]);
    assert.deepEqual(topK([0.2], 5), [0]);
    assert.deepEqual(topK([0.2, 0.3], 0), []);
  });
  it('selects targets above the threshold, topped up to the minimum count', () => {
    assert.deepEqual(selectTargets([0.5, 0.005, 0.3, 0.195], 0.01, 3), [0, 2, 3]);
    assert.deepEqual(selectTargets([0.98, 0.005, 0.006, 0.009], 0.01, 3), [0, 2, 3]);
    assert.deepEqual(selectTargets([1, 0, 0, 0], 0.01, 3), [0], 'zero weights are never targets');
    assert.deepEqual(selectTargets([0.2, 0.2, 0.2, 0.2, 0.2], 0.01, 3), [0, 1, 2, 3, 4]);
  });
});
