/**
 * Pure colour maths for the attention views: CSS colour parsing and mixing, weight → alpha and heat
 * intensity, the colour scale's top, the diverging scale and the per-head palette. Tensor views, top-k and
 * weight formatting live with the attention type (attention.ts). Imports neither `vscode` nor the DOM.
 */
import { visibleQuantile } from './display';

/** An sRGB colour with straight alpha; r, g, b in 0..255, a in 0..1. */
export interface Rgba {
  readonly r: number;
  readonly g: number;
  readonly b: number;
  readonly a: number;
}

/**
 * Head colours, chosen to stay apart for colour-blind viewers (checked in test/unit/head-palette.test.ts:
 * CIEDE2000 ≥ 10 between every pair in normal vision and under simulated deuteranopia and protanopia, and at
 * least 3:1 contrast against the theme backgrounds). Dark backgrounds: Okabe & Ito's palette ("Color
 * Universal Design", 2002) without black and blue. Light backgrounds: Paul Tol's "muted" scheme (2021) with
 * its olive darkened from #999933 to #8A8A2E for 3:1 contrast. Fixed colours, not theme variables: VS Code's
 * chart colours put red next to green.
 */
export const HEAD_PALETTES: { readonly dark: readonly string[]; readonly light: readonly string[] } = {
  dark: ['#56b4e9', '#e69f00', '#009e73', '#f0e442', '#cc79a7', '#d55e00'],
  light: ['#332288', '#cc6677', '#117733', '#aa4499', '#882255', '#8a8a2e'],
};

/**
 * The palette colour of head `h` for a light or dark background, and how many times the palette wrapped
 * (0 for the first six heads; callers shade wrapped entries so that heads 0 and 6 differ).
 */
export function headPalette(h: number, onLight: boolean): { readonly color: string; readonly shade: number } {
  const palette = onLight ? HEAD_PALETTES.light : HEAD_PALETTES.dark;
  const n = palette.length;
  return { color: palette[((h % n) + n) % n], shade: Math.floor(Math.max(0, h) / n) };
}

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** Parses #rgb, #rgba, #rrggbb, #rrggbbaa, rgb(…) and rgba(…); returns undefined for anything else. */
export function parseCssColor(input: string | undefined | null): Rgba | undefined {
  if (!input) return undefined;
  const s = input.trim().toLowerCase();
  const hex = /^#([0-9a-f]{3,8})$/.exec(s);
  if (hex) {
    const h = hex[1];
    if (h.length === 3 || h.length === 4) {
      const v = [...h].map((c) => parseInt(c + c, 16));
      return { r: v[0], g: v[1], b: v[2], a: h.length === 4 ? v[3] / 255 : 1 };
    }
    if (h.length === 6 || h.length === 8) {
      const v = [0, 2, 4, 6].map((i) => parseInt(h.slice(i, i + 2), 16));
      return { r: v[0], g: v[1], b: v[2], a: h.length === 8 ? v[3] / 255 : 1 };
    }
    return undefined;
  }
  const fn = /^rgba?\(\s*([^)]*)\)$/.exec(s);
  if (fn) {
    const parts = fn[1].split(/[\s,/]+/).filter(Boolean);
    if (parts.length < 3 || parts.length > 4) return undefined;
    const chan = (p: string): number => (p.endsWith('%') ? (parseFloat(p) / 100) * 255 : parseFloat(p));
    const [r, g, b] = parts.slice(0, 3).map(chan);
    const a = parts[3] === undefined ? 1 : parts[3].endsWith('%') ? parseFloat(parts[3]) / 100 : parseFloat(parts[3]);
    if ([r, g, b, a].some((x) => !Number.isFinite(x))) return undefined;
    return { r: clamp(r, 0, 255), g: clamp(g, 0, 255), b: clamp(b, 0, 255), a: clamp(a, 0, 1) };
  }
  return undefined;
}

/** Linear mix of two colours: t = 0 gives `a`, t = 1 gives `b` (t is clamped). */
export function mixColors(a: Rgba, b: Rgba, t: number): Rgba {
  const u = clamp(t, 0, 1);
  return { r: a.r + (b.r - a.r) * u, g: a.g + (b.g - a.g) * u, b: a.b + (b.b - a.b) * u, a: a.a + (b.a - a.a) * u };
}

/** The colour with its alpha replaced. */
export function withAlpha(c: Rgba, a: number): Rgba {
  return { r: c.r, g: c.g, b: c.b, a: clamp(a, 0, 1) };
}

/** CSS `rgba(…)` text of a colour (channels rounded). */
export function rgbaToCss(c: Rgba): string {
  return `rgba(${Math.round(c.r)}, ${Math.round(c.g)}, ${Math.round(c.b)}, ${+c.a.toFixed(3)})`;
}

/** Relative luminance (WCAG) of a colour, ignoring alpha. */
export function luminance(c: Rgba): number {
  const lin = (v: number): number => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

/**
 * Highlight alpha for a weight, proportional to w / max (max = the largest weight on show), mapped into
 * [floor, ceil] for w > 0 so that the smallest visible target still shows; 0 for w ≤ 0.
 */
export function weightToAlpha(w: number, max: number, floor = 0.08, ceil = 0.85): number {
  if (!(w > 0) || !(max > 0)) return 0;
  return floor + (ceil - floor) * clamp(w / max, 0, 1);
}

/**
 * Position on a heatmap colour ramp for a weight: √(w / max), clamped to [0, 1]. The square root keeps
 * the many small weights of diffuse heads visible next to the trivial 1.0 of the first query row.
 */
export function heatIntensity(w: number, max: number): number {
  if (!(w > 0) || !(max > 0)) return 0;
  return Math.sqrt(clamp(w / max, 0, 1));
}

/**
 * Top of a heatmap's colour scale: the q-quantile of a [T,K] matrix's visible entries (j ≤ i when causal; K = cols, T unless given),
 * so that the trivial 1.0 of the first rows does not leave long texts dark; larger values saturate.
 * Falls back to the largest entry when the quantile is 0. Linear time (selection, not a sort: display.ts).
 */
export function scaleMax(m: ArrayLike<number>, tokens: number, causal: boolean, q = 0.99, cols = tokens): number {
  return visibleQuantile(m, tokens, causal, q, cols);
}

/** Diverging scale for a signed value: −limit → `neg`, 0 → `mid`, +limit → `pos`. */
export function divergingColor(v: number, limit: number, neg: Rgba, mid: Rgba, pos: Rgba): Rgba {
  if (!(limit > 0) || v === 0 || !Number.isFinite(v)) return mid;
  const t = clamp(Math.abs(v) / limit, 0, 1);
  return mixColors(mid, v > 0 ? pos : neg, t);
}

/** Largest finite value in an array (0 for an empty one). */
export function maxValue(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

/** Largest |value| in an array (0 for an empty one). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m) m = v;
  }
  return m;
}
