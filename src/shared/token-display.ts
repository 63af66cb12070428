/**
 * One vocabulary for tokens wherever they are shown (the panel, the compare view, the editor's hover card):
 * the symbols that make invisible characters visible, the mark of a byte fragment, how a token is numbered,
 * and the legend that explains them. Pure: no DOM, no vscode.
 *
 * Tokens are numbered from 0 (#0 is the first token), as layers and heads are (L0 H2): the heatmap's axes,
 * the first-token (sink) metric and "previous token" all count that way, so one number names one token
 * in every view.
 */
import type { TokenInfo } from './protocol';

/** The symbols that stand for characters that would otherwise be invisible, and for tokens without text. */
export const TOKEN_SYMBOLS = {
  /** A space. */
  space: '␣',
  /** A line break (\n, \r\n or \r). */
  newline: '⏎',
  /** A tab. */
  tab: '⇥',
  /** A zero-width character (zero-width space or joiner, direction marks, BOM). */
  invisible: '◌',
  /** A byte fragment: a token holding only some of the bytes of a character that several tokens share. */
  fragment: '⋯',
  /** A token whose text is empty. */
  empty: '∅',
} as const;

/** What kind of token it is: text of the selection, a special token with no text (e.g. [CLS]), or a byte fragment. */
export type TokenKind = 'text' | 'special' | 'fragment';

/** Every symbol with its meaning in plain words, for the panel's legend and tooltips. */
export const SYMBOL_LEGEND: readonly { readonly symbol: string; readonly meaning: string }[] = [
  { symbol: TOKEN_SYMBOLS.space, meaning: 'space' },
  { symbol: TOKEN_SYMBOLS.newline, meaning: 'line break' },
  { symbol: TOKEN_SYMBOLS.tab, meaning: 'tab' },
  { symbol: TOKEN_SYMBOLS.invisible, meaning: 'zero-width character' },
  { symbol: TOKEN_SYMBOLS.fragment, meaning: 'byte fragment: part of a character that the tokenizer split over several tokens' },
];

/** The legend as one line: "␣ space · ⏎ line break · …". */
export function symbolLegendText(): string {
  return SYMBOL_LEGEND.map((s) => `${s.symbol} ${s.meaning}`).join(' · ');
}

/** `s` with spaces, line breaks, tabs and zero-width characters replaced by their symbols. */
export function visibleWhitespace(s: string): string {
  return s
    .replace(/\r\n|\n|\r/g, TOKEN_SYMBOLS.newline)
    .replace(/ /g, TOKEN_SYMBOLS.space)
    .replace(/\t/g, TOKEN_SYMBOLS.tab)
    .replace(/[\u200b-\u200f\u2060\ufeff]/g, TOKEN_SYMBOLS.invisible);
}

/** The kind of a token from its range: none is special, an empty one is a byte fragment. */
export function tokenKind(t: Pick<TokenInfo, 'start' | 'end'>): TokenKind {
  if (!(t.start >= 0 && t.end >= t.start)) return 'special';
  return t.end === t.start ? 'fragment' : 'text';
}

/**
 * A token as every view shows it: a byte fragment as ⋯, a special token as its own text, text with its
 * invisible characters made visible (∅ when empty). `text` is the analysed text the ranges point into;
 * without it the token's own decoded text is used.
 */
export function tokenSymbolText(t: TokenInfo, text?: string): string {
  const kind = tokenKind(t);
  if (kind === 'fragment') return TOKEN_SYMBOLS.fragment;
  if (kind === 'special') return t.text || TOKEN_SYMBOLS.empty;
  const raw = text !== undefined ? text.slice(t.start, t.end) : t.text;
  return visibleWhitespace(raw) || TOKEN_SYMBOLS.empty;
}

/**
 * Tokens whose `text` is what they cover in the analysed `text` (a decoded token holding an emoji's first bytes is
 * U+FFFD, but it covers the emoji), for views that get tokens without the text (the compare view).
 */
export function tokensAsShown(tokens: readonly TokenInfo[], text: string): TokenInfo[] {
  return tokens.map((t) => (tokenKind(t) === 'text' ? { ...t, text: text.slice(t.start, t.end) } : t));
}

/** How token `i` is named everywhere: "#i", counted from 0. */
export function tokenNumber(i: number): string {
  return `#${i}`;
}

/** A sentence for a token's tooltip that explains a fragment or a special token; '' for plain text. */
export function tokenKindNote(kind: TokenKind): string {
  if (kind === 'fragment') {
    return `${TOKEN_SYMBOLS.fragment} byte fragment: this token holds some of the bytes of a character that the tokenizer split ` +
      'over several tokens; the character is shown on the token that holds its first byte.';
  }
  if (kind === 'special') return 'special token: added by the tokenizer, it covers no text of the selection.';
  return '';
}
