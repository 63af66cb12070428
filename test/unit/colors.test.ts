import assert from 'node:assert/strict';
import {
  divergingColor, heatIntensity, scaleMax, headPalette, HEAD_PALETTES, maxAbs, maxValue, mixColors,
  parseCssColor, rgbaToCss, weightToAlpha, withAlpha, luminance,
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
  it('the diverging scale hits its ends', () => {
    const lo = { r: 0, g: 0, b: 0, a: 1 };
    const hi = { r: 255, g: 0, b: 0, a: 1 };
    const blue = { r: 0, g: 0, b: 255, a: 1 };
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
});

describe('colors: head palette', () => {
  it('cycles through the palette of the background and counts wraps', () => {
    assert.equal(headPalette(0, false).color, HEAD_PALETTES.dark[0]);
    assert.equal(headPalette(1, true).color, HEAD_PALETTES.light[1]);
    const n = HEAD_PALETTES.dark.length;
    assert.equal(headPalette(n, false).color, headPalette(0, false).color);
    assert.equal(headPalette(n, false).shade, 1);
    assert.equal(headPalette(n - 1, true).shade, 0);
    assert.match(headPalette(3, true).color, /^#[0-9a-f]{6}$/);
  });
});

describe('colors: maxima', () => {
  it('finds maxima', () => {
    assert.equal(maxValue([0.1, 0.7, 0.2]), 0.7);
    assert.equal(maxValue([]), 0);
    assert.equal(maxAbs([0.1, -0.9, 0.2]), 0.9);
  });
});
