/** How a token is shown: whitespace made visible (␣ ⏎ →), empty byte fragments marked, labels shortened. */
import type { TokenInfo } from '../../src/shared/protocol';

/** A token ready for display. */
export interface TokenLabel {
  /** Visible text: spaces as ␣, newlines as ⏎, tabs as →. */
  readonly label: string;
  /** The raw text the token covers. */
  readonly raw: string;
  /** 'fragment' for a token that only continues a multi-byte character; 'special' for one with no range. */
  readonly kind: 'text' | 'special' | 'fragment';
  /** True when the token ends with a line break (the tokens view breaks the line after it). */
  readonly breaksLine: boolean;
}

/** Makes whitespace and invisible characters visible. */
export function visibleWhitespace(s: string): string {
  return s
    .replace(/\r\n|\n|\r/g, '⏎')
    .replace(/ /g, '␣')
    .replace(/\t/g, '→')
    .replace(/[\u200b-\u200f\u2060\ufeff]/g, '◌');
}

/** Display form of token `t` of the tokenized `text`. */
export function tokenLabel(t: TokenInfo, text: string): TokenLabel {
  const hasRange = t.start >= 0 && t.end >= t.start;
  const raw = hasRange && t.end > t.start ? text.slice(t.start, t.end) : hasRange ? '' : t.text;
  const kind = !hasRange ? 'special' : raw === '' ? 'fragment' : 'text';
  const label = kind === 'fragment' ? '·' : visibleWhitespace(raw) || '∅';
  return { label, raw, kind, breaksLine: /[\r\n]$/.test(raw) };
}

/** A label cut to `max` characters (code points) with an ellipsis, for axis labels. */
export function shortLabel(label: string, max = 10): string {
  const chars = [...label];
  return chars.length <= max ? label : chars.slice(0, max - 1).join('') + '…';
}

/** Quoted description used in tooltips and summaries: “␣cat” (#2). */
export function describeToken(labels: readonly TokenLabel[], i: number): string {
  return `“${shortLabel(labels[i]?.label ?? '?', 16)}” (#${i})`;
}
