/**
 * The head palettes stay distinguishable for colour-blind viewers and readable on the theme backgrounds.
 * Colour vision deficiency is simulated with the published matrices of Machado, Oliveira & Fernandes, "A
 * Physiologically-based Model for Simulation of Color Vision Deficiency", IEEE TVCG 15(6), 2009 (severity 1.0,
 * applied to linear RGB), differences are CIEDE2000 (Sharma, Wu & Dalal, Color Res. Appl. 30(1), 2005; the
 * implementation here is checked against rows of their test table) on CIELAB under D65, and contrast is the
 * WCAG 2.1 ratio (SC 1.4.11 asks 3:1 for graphics). Everything is computed here from those sources.
 */
import assert from 'node:assert/strict';
import { HEAD_PALETTES, luminance, parseCssColor } from '../../src/shared/colors';

type Rgb = [number, number, number];
type Lab = [number, number, number];

/** Machado et al. 2009, Table 1, severity 1.0. */
const DEUTERANOPIA = [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]];
const PROTANOPIA = [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]];

/** Smallest CIEDE2000 difference allowed between two head colours (≈ 2.3 is a just-noticeable difference). */
const MIN_DELTA_E = 10;
/** WCAG 2.1 SC 1.4.11: graphical objects need 3:1 against what is next to them. */
const MIN_CONTRAST = 3;
/** Editor and side-bar backgrounds of the built-in themes each palette is drawn on. */
const BACKGROUNDS = {
  dark: { 'Dark Modern': '#1f1f1f', 'Dark+': '#1e1e1e', 'Dark+ side bar': '#252526', 'Dark High Contrast': '#000000' },
  light: { 'Light Modern': '#ffffff', 'Light Modern panels': '#f8f8f8', 'Light High Contrast': '#ffffff' },
} as const;

const toLinear = (c: number): number => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c: number): number => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);

function rgb(hex: string): Rgb {
  const c = parseCssColor(hex);
  assert.ok(c, hex);
  return [c.r / 255, c.g / 255, c.b / 255];
}

/** The colour as seen with the deficiency: the matrix on linear RGB, clipped to the gamut. */
function simulate(c: Rgb, m: number[][]): Rgb {
  const l = c.map(toLinear);
  return m.map((row) => toSrgb(Math.min(1, Math.max(0, row[0] * l[0] + row[1] * l[1] + row[2] * l[2])))) as Rgb;
}

/** sRGB (0..1) → CIELAB, D65 white. */
function lab(c: Rgb): Lab {
  const [r, g, b] = c.map(toLinear);
  const xyz = [0.4124564 * r + 0.3575761 * g + 0.1804375 * b, 0.2126729 * r + 0.7151522 * g + 0.0721750 * b,
    0.0193339 * r + 0.1191920 * g + 0.9503041 * b];
  const white = [0.95047, 1, 1.08883];
  const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  const [fx, fy, fz] = xyz.map((v, i) => f(v / white[i]));
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

const rad = (d: number): number => (d * Math.PI) / 180;
const deg = (r: number): number => ((r * 180) / Math.PI + 360) % 360;

/** CIEDE2000 colour difference (kL = kC = kH = 1), as written out in Sharma, Wu & Dalal 2005, eqs. 1–22. */
function ciede2000([L1, a1, b1]: Lab, [L2, a2, b2]: Lab): number {
  const Cbar = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2;
  const G = 0.5 * (1 - Math.sqrt(Cbar ** 7 / (Cbar ** 7 + 25 ** 7)));
  const [a1p, a2p] = [(1 + G) * a1, (1 + G) * a2];
  const [C1p, C2p] = [Math.hypot(a1p, b1), Math.hypot(a2p, b2)];
  const h1p = a1p === 0 && b1 === 0 ? 0 : deg(Math.atan2(b1, a1p));
  const h2p = a2p === 0 && b2 === 0 ? 0 : deg(Math.atan2(b2, a2p));
  const dLp = L2 - L1;
  const dCp = C2p - C1p;
  let dhp = 0;
  if (C1p * C2p !== 0) dhp = h2p - h1p > 180 ? h2p - h1p - 360 : h2p - h1p < -180 ? h2p - h1p + 360 : h2p - h1p;
  const dHp = 2 * Math.sqrt(C1p * C2p) * Math.sin(rad(dhp / 2));
  const Lbp = (L1 + L2) / 2;
  const Cbp = (C1p + C2p) / 2;
  let hbp = h1p + h2p;
  if (C1p * C2p !== 0) hbp = Math.abs(h1p - h2p) <= 180 ? (h1p + h2p) / 2 : (h1p + h2p < 360 ? (h1p + h2p + 360) / 2 : (h1p + h2p - 360) / 2);
  const T = 1 - 0.17 * Math.cos(rad(hbp - 30)) + 0.24 * Math.cos(rad(2 * hbp)) + 0.32 * Math.cos(rad(3 * hbp + 6))
    - 0.2 * Math.cos(rad(4 * hbp - 63));
  const dTheta = 30 * Math.exp(-(((hbp - 275) / 25) ** 2));
  const Rc = 2 * Math.sqrt(Cbp ** 7 / (Cbp ** 7 + 25 ** 7));
  const Sl = 1 + (0.015 * (Lbp - 50) ** 2) / Math.sqrt(20 + (Lbp - 50) ** 2);
  const Sc = 1 + 0.045 * Cbp;
  const Sh = 1 + 0.015 * Cbp * T;
  const Rt = -Math.sin(rad(2 * dTheta)) * Rc;
  return Math.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh));
}

/** WCAG contrast ratio of two colours. */
function contrast(a: string, b: string): number {
  const [la, lb] = [a, b].map((h) => luminance(parseCssColor(h)!));
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** The smallest difference between two colours of `palette` as seen through `see`, with the pair. */
function closestPair(palette: readonly string[], see: (c: Rgb) => Rgb): { delta: number; pair: string } {
  let best = { delta: Infinity, pair: '' };
  for (let i = 0; i < palette.length; i++) {
    for (let j = i + 1; j < palette.length; j++) {
      const delta = ciede2000(lab(see(rgb(palette[i]))), lab(see(rgb(palette[j]))));
      if (delta < best.delta) best = { delta, pair: `${palette[i]} / ${palette[j]}` };
    }
  }
  return best;
}

describe('head palette: colour-blind safe and readable', () => {
  it('computes CIEDE2000 as Sharma, Wu & Dalal\'s test data say', () => {
    // Rows 1, 7, 17 and 25 of their Table 1: (L, a, b) pairs and ΔE00 to 4 decimals.
    const rows: [Lab, Lab, number][] = [
      [[50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425],
      [[50, 0, 0], [50, -1, 2], 2.3669],
      [[50, 2.5, 0], [73, 25, -18], 27.1492],
      [[60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644],
    ];
    for (const [x, y, want] of rows) assert.ok(Math.abs(ciede2000(x, y) - want) < 1e-4, `${ciede2000(x, y)} ≠ ${want}`);
  });

  it('simulates deficiencies that keep greys grey and merge what a deficient viewer cannot tell apart', () => {
    for (const m of [DEUTERANOPIA, PROTANOPIA]) {
      const grey = simulate([0.5, 0.5, 0.5], m);
      grey.forEach((v) => assert.ok(Math.abs(v - 0.5) < 2e-3, `grey → ${grey.join(', ')}`));
    }
    // Light Modern's chart red and green, far apart in normal vision, come close under deuteranopia.
    const [red, green] = [rgb('#e51400'), rgb('#388a34')];
    assert.ok(ciede2000(lab(red), lab(green)) > 40);
    assert.ok(ciede2000(lab(simulate(red, DEUTERANOPIA)), lab(simulate(green, DEUTERANOPIA))) < MIN_DELTA_E);
    // The head colours before this palette (Dark Modern's chart colours) fail the pair check: it has teeth.
    const old = ['#3794ff', '#f14c4c', '#89d185', '#cca700', '#d18616', '#b180d7'];
    assert.ok(closestPair(old, (c) => simulate(c, DEUTERANOPIA)).delta < MIN_DELTA_E);
  });

  for (const kind of ['dark', 'light'] as const) {
    const palette = HEAD_PALETTES[kind];
    it(`${kind} backgrounds: every pair of the ${palette.length} head colours differs by ΔE00 ≥ ${MIN_DELTA_E} in normal vision, deuteranopia and protanopia`, () => {
      for (const [vision, see] of [['normal', (c: Rgb) => c], ['deuteranopia', (c: Rgb) => simulate(c, DEUTERANOPIA)],
        ['protanopia', (c: Rgb) => simulate(c, PROTANOPIA)]] as const) {
        const { delta, pair } = closestPair(palette, see);
        console.log(`      ${kind}, ${vision}: closest pair ${pair}, ΔE00 ${delta.toFixed(1)}`);
        assert.ok(delta >= MIN_DELTA_E, `${vision}: ${pair} differ by ΔE00 ${delta.toFixed(1)}`);
      }
    });
    it(`${kind} backgrounds: every head colour has ${MIN_CONTRAST}:1 contrast against each theme background`, () => {
      for (const [theme, bg] of Object.entries(BACKGROUNDS[kind])) {
        for (const c of palette) assert.ok(contrast(c, bg) >= MIN_CONTRAST, `${c} on ${theme} ${bg}: ${contrast(c, bg).toFixed(2)}:1`);
      }
    });
  }
});
