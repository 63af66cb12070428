/**
 * The one alignment between a text and what a tokenizer's model sees: the text cut at literal added tokens
 * (longest first, as the tokenizers library splits them out), and each piece between them normalized with
 * every output character keeping the UTF-16 range of the input it came from (normalize.ts). Every kind of
 * tokenizer (byte-level, WordPiece, SentencePiece-style) maps its tokens through this. Pure.
 */
import { applyNormalizer, alignedChars, type AlignedChar } from './normalize';

/** A piece of the input: normalized characters, or an added token that occurs literally. */
export type Segment = { literal: string; start: number; end: number } | { chars: AlignedChar[]; first: boolean };

/** What segments() needs of a tokenizer. */
export interface SegmentFacts {
  readonly literalTokens: ReadonlySet<string>;
  readonly normalizer: unknown;
}

/** Literal tokens by their first UTF-16 unit, longest first: a tokenizer may have thousands (Gemma 3: 6 415). */
const literalIndexes = new WeakMap<ReadonlySet<string>, Map<number, string[]>>();

function literalIndex(literals: ReadonlySet<string>): Map<number, string[]> {
  let index = literalIndexes.get(literals);
  if (index) return index;
  index = new Map();
  for (const l of literals) {
    if (l.length === 0) continue;
    const list = index.get(l.charCodeAt(0)) ?? [];
    list.push(l);
    index.set(l.charCodeAt(0), list);
  }
  for (const list of index.values()) list.sort((a, b) => b.length - a.length);
  literalIndexes.set(literals, index);
  return index;
}

/** Splits text at literal added tokens (longest first), normalizing the text between them with alignment. */
export function segments(text: string, facts: SegmentFacts): Segment[] {
  const index = literalIndex(facts.literalTokens);
  const out: Segment[] = [];
  let from = 0;
  let i = 0;
  const flush = (to: number) => {
    if (to > from) {
      const chars = alignedChars(text.slice(from, to)).map((c) => ({ ...c, start: c.start + from, end: c.end + from }));
      out.push({ chars: applyNormalizer(chars, facts.normalizer), first: from === 0 });
    }
  };
  while (i < text.length) {
    const hit = index.get(text.charCodeAt(i))?.find((l) => text.startsWith(l, i));
    if (hit) {
      flush(i);
      out.push({ literal: hit, start: i, end: i + hit.length });
      i += hit.length;
      from = i;
    } else i++;
  }
  flush(text.length);
  return out;
}

/** The range the chars cover. A loop, not Math.min(...): a token may span more chars than a call takes arguments (a long [UNK] word). */
export function span(chars: readonly AlignedChar[]): [number, number] {
  let start = Infinity;
  let end = -Infinity;
  for (const c of chars) {
    if (c.start < start) start = c.start;
    if (c.end > end) end = c.end;
  }
  return [start, end];
}
