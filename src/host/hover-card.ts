/**
 * The Markdown of the editor hover card for one token: the token, then the tokens it attends to most
 * with their weights, for the head shown in the panel. Pure (no `vscode`): returns a Markdown string.
 */
import { headLabel, type HeadRef, type TokenInfo } from '../shared/protocol';
import { formatWeight, topK } from '../shared/attention';

/** How many attended tokens the hover card lists. */
export const HOVER_TOP_K = 5;

/** A token's text with invisible characters made visible: space ·, tab →, newline ↵. */
export function visibleToken(text: string): string {
  if (text.length === 0) return '∅';
  return text.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r\n|\n|\r/g, '↵');
}

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

/** Markdown for the hover card of token `index`, given its attention row for `head`. */
export function hoverMarkdown(tokens: readonly TokenInfo[], index: number, row: ArrayLike<number>, head: HeadRef,
  causal: boolean): string {
  const token = tokens[index];
  const lines = [
    `**Attention Lens** · ${headLabel(head)}`,
    '',
    `Token ${index + 1} of ${tokens.length}: ${markdownCode(visibleToken(token.text))}`,
    '',
  ];
  const top = topK(row, HOVER_TOP_K);
  if (top.length === 0) {
    lines.push('_No attention weights for this token._');
  } else {
    lines.push('| attends to | token | weight |', '|---|---|---:|');
    for (const j of top) {
      lines.push(`| ${tableCell(markdownCode(visibleToken(tokens[j]?.text ?? '?')))} | #${j + 1} | ${formatWeight(row[j])} |`);
    }
  }
  if (causal && index === 0) lines.push('', '_The first token of a causal model can only attend to itself._');
  return lines.join('\n');
}
