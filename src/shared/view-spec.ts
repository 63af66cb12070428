/**
 * What the panel sends when the user exports the view on show as SVG or HTML: which view, head and window, the
 * sizes it is drawn at, the token labels shown and the theme's colours as resolved from the --vscode-* variables.
 * The host checks it (it comes from a webview) and asks the worker for the pooled matrices itself. Pure.
 */
import type { MatrixRegion } from './attention-query';
import type { Rgba } from './colors';
import type { HeadRef } from './protocol';

/** The theme colours an export is drawn in (webview/common/theme.ts resolves them from the CSS variables). */
export interface ExportTheme {
  readonly bg: Rgba;
  readonly fg: Rgba;
  /** High end of the attention ramp (--vscode-charts-blue). */
  readonly accent: Rgba;
  readonly masked: Rgba;
  readonly hatch: Rgba;
  readonly focus: Rgba;
  readonly contrastBorder?: Rgba;
  readonly fontFamily: string;
  readonly fontSize: number;
}

/** The view on show, as the panel describes it for an export. */
export interface ViewSpec {
  readonly runId: number;
  readonly view: 'heatmap' | 'grid';
  /** The head (or aggregate) on show; its `stack` names the stack. */
  readonly head: HeadRef;
  /** The stack's shape. */
  readonly layers: number;
  readonly heads: number;
  readonly queries: number;
  readonly keys: number;
  readonly causal: boolean;
  /** True when the view shows α·‖v‖ (the worker's value-weighted stacks). */
  readonly valueWeighted: boolean;
  /** The zoomed window of the heatmap, if any. */
  readonly region?: MatrixRegion;
  /** CSS px per heatmap cell (may be fractional when pooled), or per grid thumbnail. */
  readonly cell: number;
  /** Labels of the query tokens and of the key tokens, as the panel shows them. */
  readonly labels: readonly string[];
  readonly keyLabels: readonly string[];
  readonly theme: ExportTheme;
  /** The grid's notes on each head's thumbnail (layer-major, heads only): the metric's value as drawn and the label badges. */
  readonly notes?: readonly ThumbNote[];
}

/** What a grid thumbnail shows besides its matrix. */
export interface ThumbNote {
  readonly value?: string;
  readonly badges: readonly string[];
}

const isRgba = (c: unknown): c is Rgba => {
  const x = c as Partial<Rgba> | null;
  return typeof x === 'object' && x !== null && [x.r, x.g, x.b].every((v) => typeof v === 'number' && v >= 0 && v <= 255)
    && typeof x.a === 'number' && x.a >= 0 && x.a <= 1;
};
const isCount = (n: unknown, max: number): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= max;
const isLabels = (a: unknown, n: number): boolean => Array.isArray(a) && a.length === n && a.every((s) => typeof s === 'string' && s.length <= 200);

/** Why `x` is not a usable ViewSpec (it comes from a webview), or undefined when it is one. */
export function viewSpecProblem(x: unknown): string | undefined {
  const s = x as Partial<ViewSpec> | null;
  if (typeof s !== 'object' || s === null) return 'no view was described';
  if (s.view !== 'heatmap' && s.view !== 'grid') return 'the view is neither the heatmap nor the model grid';
  if (!Number.isInteger(s.runId) || typeof s.head !== 'object' || s.head === null) return 'the view names no run or head';
  if (![s.layers, s.heads].every((n) => isCount(n, 4096)) || ![s.queries, s.keys].every((n) => isCount(n, 1 << 20))) return 'the stack shape is malformed';
  if (typeof s.cell !== 'number' || !(s.cell > 0 && s.cell <= 512)) return 'the cell size is malformed';
  if (!isLabels(s.labels, s.queries!) || !isLabels(s.keyLabels, s.keys!)) return 'the token labels do not match the stack';
  const t = s.theme;
  if (!t || ![t.bg, t.fg, t.accent, t.masked, t.hatch, t.focus].every(isRgba) || (t.contrastBorder !== undefined && !isRgba(t.contrastBorder))
    || typeof t.fontFamily !== 'string' || t.fontFamily.length > 300 || !(typeof t.fontSize === 'number' && t.fontSize > 0 && t.fontSize < 100)) {
    return 'the theme colours are malformed';
  }
  const okNote = (n: Partial<ThumbNote> | null) => typeof n === 'object' && n !== null && (n.value === undefined || (typeof n.value === 'string' && n.value.length <= 20))
    && Array.isArray(n.badges) && n.badges.length <= 8 && n.badges.every((b) => typeof b === 'string' && b.length <= 20);
  if (s.notes !== undefined && !(Array.isArray(s.notes) && s.notes.length === s.layers! * s.heads! && s.notes.every(okNote))) return 'the grid\'s notes are malformed';
  const r = s.region;
  if (r !== undefined && !([r.row, r.col, r.rows, r.cols].every(Number.isInteger) && r.row >= 0 && r.col >= 0 && r.rows > 0 && r.cols > 0
    && r.row + r.rows <= s.queries! && r.col + r.cols <= s.keys!)) return 'the zoomed window is outside the matrix';
  return undefined;
}

/** `#rrggbb` (or `#rrggbbaa` when not opaque) of a colour, channels rounded. */
export function hexColor(c: Rgba): string {
  const h = (v: number) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, '0');
  return `#${h(c.r)}${h(c.g)}${h(c.b)}${c.a < 1 ? h(c.a * 255) : ''}`;
}

/** Text made safe inside XML/HTML elements and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
    // Characters XML 1.0 forbids (controls other than tab, newline, return; lone surrogates) become U+FFFD.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
