/**
 * Theme colours for canvas drawing, read from VS Code's `--vscode-*` CSS variables, and a watcher that
 * fires when the theme changes (VS Code swaps the body class and rewrites the variables on <html>).
 */
import { headPalette, luminance, parseCssColor, type Rgba } from '../../src/shared/colors';

/** Kind of colour theme, from the body class VS Code sets. */
export type ThemeKind = 'dark' | 'light' | 'high-contrast' | 'high-contrast-light';

/** Colours and fonts the canvases use, resolved to RGBA. */
export interface Theme {
  readonly kind: ThemeKind;
  readonly fg: Rgba;
  readonly bg: Rgba;
  /** High end of the attention scale. */
  readonly accent: Rgba;
  /** Diverging scale ends (difference maps): negative and positive. */
  readonly negative: Rgba;
  readonly positive: Rgba;
  readonly focus: Rgba;
  /** Colour of masked (future) cells, and of their hatch lines. */
  readonly masked: Rgba;
  readonly hatch: Rgba;
  /** Outline for high-contrast themes, if any. */
  readonly contrastBorder?: Rgba;
  readonly fontFamily: string;
  readonly fontSize: number;
  /** Colour of head h: a colour-blind-safe palette (colors.ts) that wraps with a shade towards the foreground. */
  head(h: number): Rgba;
}

const FALLBACK: Record<ThemeKind, { fg: string; bg: string }> = {
  dark: { fg: '#cccccc', bg: '#1e1e1e' },
  light: { fg: '#3b3b3b', bg: '#ffffff' },
  'high-contrast': { fg: '#ffffff', bg: '#000000' },
  'high-contrast-light': { fg: '#292929', bg: '#ffffff' },
};

/** The theme kind from body classes. */
export function themeKind(body: HTMLElement = document.body): ThemeKind {
  const c = body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  if (c.contains('vscode-light')) return 'light';
  return 'dark';
}

function mix(a: Rgba, b: Rgba, t: number): Rgba {
  return { r: a.r + (b.r - a.r) * t, g: a.g + (b.g - a.g) * t, b: a.b + (b.b - a.b) * t, a: 1 };
}

/** Reads the current theme from computed CSS variables (with fallbacks per theme kind). */
export function readTheme(): Theme {
  const style = getComputedStyle(document.body);
  const v = (name: string): string => style.getPropertyValue(name).trim();
  const kind = themeKind();
  const color = (name: string, fallback: string): Rgba => parseCssColor(v(name)) ?? parseCssColor(fallback)!;
  const fg = color('--vscode-editor-foreground', FALLBACK[kind].fg);
  const bgRaw = color('--vscode-editor-background', FALLBACK[kind].bg);
  const bg = { ...bgRaw, a: 1 };
  const focus = color('--vscode-focusBorder', '#007fd4');
  const heads = new Map<number, Rgba>();
  const contrast = parseCssColor(v('--vscode-contrastBorder'));
  return {
    kind, fg, bg, focus,
    accent: color('--vscode-charts-blue', '#3794ff'),
    negative: color('--vscode-charts-blue', '#3794ff'),
    positive: color('--vscode-charts-red', '#f14c4c'),
    masked: mix(bg, fg, kind.startsWith('high') ? 0.12 : 0.07),
    hatch: mix(bg, fg, kind.startsWith('high') ? 0.5 : 0.28),
    contrastBorder: contrast && contrast.a > 0 ? contrast : undefined,
    fontFamily: v('--vscode-editor-font-family') || v('--vscode-font-family') || 'monospace',
    fontSize: parseFloat(v('--vscode-editor-font-size')) || 13,
    head(h: number): Rgba {
      let c = heads.get(h);
      if (!c) {
        // The colour-blind-safe palette for the background's lightness (light and high-contrast light themes).
        const p = headPalette(h, luminance(bg) > 0.4);
        const base = parseCssColor(p.color)!;
        // Wrapped palette entries move towards the foreground so that heads 0 and 6 differ.
        c = p.shade === 0 ? base : mix(base, fg, Math.min(0.6, 0.3 * p.shade));
        heads.set(h, c);
      }
      return c;
    },
  };
}

/** Calls `onChange` whenever the theme (body class or the variables on <html>) changes; returns a stop function. */
export function watchTheme(onChange: () => void): () => void {
  let pending = false;
  const fire = (): void => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => { pending = false; onChange(); });
  };
  const obs = new MutationObserver(fire);
  obs.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => obs.disconnect();
}
