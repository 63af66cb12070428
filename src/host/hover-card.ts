/**
 * The Markdown of the editor hover card for one token: the token, then the tokens it attends to most
 * with their weights, for the head shown in the panel. It speaks the panel's vocabulary (token-display.ts):
 * tokens numbered from #0, the same symbols for spaces, line breaks, tabs and byte fragments, weights as
 * formatWeight writes them. Pure (no `vscode`): returns a Markdown string.
 */
import { headLabel, type HeadRef, type TokenInfo } from '../shared/protocol';
import { formatWeight, topK } from '../shared/attention';
import { SYMBOL_LEGEND, tokenKind, tokenKindNote, tokenNumber, tokenSymbolText } from '../shared/token-display';

/** How many attended tokens the hover card lists. */
export const HOVER_TOP_K = 5;

/** Inline Markdown code span that survives backticks inside `text`. */
export function markdownCode(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Escapes pipes so a Markdown table cell stays one cell (GFM handles \\| inside code spans too). */
function tableCell(md: string): string {
  return md.replace(/\|/g, '\\|');
}

/** The legend entries whose symbol appears in one of `shown`, as "␣ space · ⏎ line break"; '' when none does. */
export function usedSymbols(shown: readonly string[]): string {
  return SYMBOL_LEGEND.filter((s) => shown.some((t) => t.includes(s.symbol))).map((s) => `${s.symbol} ${s.meaning}`).join(' · ');
}

/**
 * Markdown for the hover card of token `index` of the analysed `text`, given its attention row for `head`. Tokens
 * are shown as the panel shows them: their slice of `text`, never their decoded text (a token holding the first
 * bytes of an emoji decodes to U+FFFD but covers the emoji).
 */
export function hoverMarkdown(tokens: readonly TokenInfo[], text: string, index: number, row: ArrayLike<number>, head: HeadRef,
  causal: boolean): string {
  const token = tokens[index];
  const shownText = tokenSymbolText(token, text);
  const note = tokenKindNote(tokenKind(token));
  const lines = [
    `**Attention Lens** · ${headLabel(head)}`,
    '',
    `Token ${tokenNumber(index)} of ${tokens.length} (numbered from #0): ${markdownCode(shownText)}`,
    '',
  ];
  if (note) lines.splice(3, 0, '', `_${note}_`);
  const shown = [shownText];
  const top = topK(row, HOVER_TOP_K);
  if (top.length === 0) {
    lines.push('_No attention weights for this token._');
  } else {
    lines.push('| attends to | token | weight |', '|---|---|---:|');
    for (const j of top) {
      const t = tokens[j];
      const label = t ? tokenSymbolText(t, text) : '?';
      shown.push(label);
      lines.push(`| ${tableCell(markdownCode(label))} | ${tokenNumber(j)} | ${formatWeight(row[j])} |`);
    }
  }
  if (causal && index === 0) lines.push('', '_The first token of a causal model can only attend to itself._');
  const legend = usedSymbols(shown);
  if (legend) lines.push('', `_${legend}_`);
  return lines.join('\n');
}
