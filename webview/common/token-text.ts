/**
 * How a token is shown in the webviews: the shared vocabulary (src/shared/token-display.ts: ␣ ⏎ ⇥ ◌, ⋯ for
 * byte fragments, #0-based numbers), plus labels shortened for axes and tooltips.
 */
import type { TokenInfo } from '../../src/shared/protocol';
import { tokenKind, tokenKindNote, tokenNumber, tokenSymbolText, visibleWhitespace, type TokenKind } from '../../src/shared/token-display';

export { visibleWhitespace };

/** A token ready for display. */
export interface TokenLabel {
  /** Visible text: the shared symbols for spaces, line breaks, tabs and byte fragments. */
  readonly label: string;
  /** The raw text the token covers. */
  readonly raw: string;
  /** 'fragment' for a token that only continues a multi-byte character; 'special' for one with no range. */
  readonly kind: TokenKind;
  /** True when the token ends with a line break (the tokens view breaks the line after it). */
  readonly breaksLine: boolean;
}

/** Display form of token `t` of the tokenized `text`. */
export function tokenLabel(t: TokenInfo, text: string): TokenLabel {
  const kind = tokenKind(t);
  const raw = kind === 'text' ? text.slice(t.start, t.end) : kind === 'fragment' ? '' : t.text;
  return { label: tokenSymbolText(t, text), raw, kind, breaksLine: /[\r\n]$/.test(raw) };
}

/** A label cut to `max` characters (code points) with an ellipsis, for axis labels. */
export function shortLabel(label: string, max = 10): string {
  const chars = [...label];
  return chars.length <= max ? label : chars.slice(0, max - 1).join('') + '…';
}

/** Quoted description used in tooltips and summaries: “␣cat” (#2). */
export function describeToken(labels: readonly TokenLabel[], i: number): string {
  return `“${shortLabel(labels[i]?.label ?? '?', 16)}” (${tokenNumber(i)})`;
}

/** The tooltip of a token chip: its description, and what a fragment or special token is. */
export function tokenTitle(labels: readonly TokenLabel[], i: number): string {
  const note = tokenKindNote(labels[i]?.kind ?? 'text');
  return note ? `${describeToken(labels, i)}: ${note}` : describeToken(labels, i);
}
