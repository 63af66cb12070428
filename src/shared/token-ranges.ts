/**
 * Exact UTF-16 ranges of every supported tokenizer's tokens: byte-level BPE (GPT-2, Llama 3, Qwen, DeepSeek),
 * WordPiece (BERT: lowercasing, accent stripping, `##` continuation, [UNK] for a whole word) and
 * SentencePiece-style pieces (Unigram or BPE with a Metaspace or Replace `▁`, byte fallback). Each kind
 * matches its tokens in order against the one alignment of the text with its normalized form
 * (token-segments.ts), so any normalizer applies alike. Template tokens ([CLS], [SEP], </s>) map to no range. Pure.
 */
import { byteLevelTokenBytes, OffsetError, type TokenRange } from './offsets';
import { isBertPunctuation, isWhitespace, type AlignedChar } from './normalize';
import { segments, span } from './token-segments';
import type { TokenizerFacts } from './tokenizer-facts';

export { describeTokenizer, specialWrap, UnsupportedTokenizerError } from './tokenizer-facts';
export type { SpecialToken, TokenizerFacts, TokenizerKind } from './tokenizer-facts';

const isTemplate = (tok: string, facts: TokenizerFacts) => facts.prefix.some((s) => s.token === tok) || facts.suffix.some((s) => s.token === tok);

/** The Rust regex crate's \w: Alphabetic, marks, decimal digits, connector punctuation, joiners (so ① and ½ are not word characters). */
const WORD_CHAR = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** Splits words by one pre-tokenizer: BERT (whitespace, each punctuation alone), Whitespace (\w+ | [^\w\s]+), WhitespaceSplit, Punctuation. */
function splitWords(input: readonly AlignedChar[][], type: string): AlignedChar[][] {
  const out: AlignedChar[][] = [];
  for (const word of input) {
    let cur: AlignedChar[] = [];
    let curClass = '';
    const push = () => { if (cur.length) out.push(cur); cur = []; curClass = ''; };
    for (const c of word) {
      if (isWhitespace(c.ch) && type !== 'Punctuation') { push(); continue; }
      if (type === 'BertPreTokenizer' || type === 'Punctuation') {
        if (isBertPunctuation(c.ch)) { push(); out.push([c]); } else cur.push(c);
      } else if (type === 'Whitespace') {
        const cls = WORD_CHAR.test(c.ch) ? 'w' : 'p';
        if (cls !== curClass) push();
        cur.push(c);
        curClass = cls;
      } else cur.push(c); // WhitespaceSplit
    }
    push();
  }
  return out;
}

/** Words as the tokenizer's pre-tokenizers (in order) split them. */
function words(chars: readonly AlignedChar[], preTokenizers: readonly string[]): AlignedChar[][] {
  return preTokenizers.reduce<AlignedChar[][]>((ws, type) => splitWords(ws, type), [[...chars]]).filter((w) => w.length > 0);
}

/** Matches `piece` against chars[pos…]; returns how many chars it spans, or -1. */
function matchPiece(chars: readonly AlignedChar[], pos: number, piece: string): number {
  let s = '';
  let k = pos;
  while (k < chars.length && s.length < piece.length) s += chars[k++].ch;
  return s === piece ? k - pos : -1;
}

/** UTF-16 ranges of WordPiece tokens (with or without template tokens) in `text`. */
export function wordPieceRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  const items: (AlignedChar[] | { literal: string; start: number; end: number })[] = [];
  for (const s of segments(text, facts)) {
    if ('literal' in s) items.push(s);
    else for (const w of words(s.chars, facts.preTokenizers ?? ['BertPreTokenizer'])) items.push(w);
  }
  let w = 0;
  let pos = 0;
  const out: TokenRange[] = [];
  for (const tok of tokens) {
    const item = items[w];
    if (item && !Array.isArray(item)) {
      if (item.literal === tok) { out.push([item.start, item.end]); w++; continue; }
    }
    if (isTemplate(tok, facts) || (facts.literalTokens.has(tok) && tok !== facts.unkToken)) { out.push(null); continue; }
    if (!item || !Array.isArray(item)) throw new OffsetError(`Token ${JSON.stringify(tok)} has no text left to match.`);
    if (tok === facts.unkToken) {
      out.push(span(item.slice(pos)));
      w++; pos = 0;
      continue;
    }
    const piece = pos > 0 && tok.startsWith(facts.continuingPrefix) ? tok.slice(facts.continuingPrefix.length) : tok;
    const n = matchPiece(item, pos, piece);
    if (n <= 0) throw new OffsetError(`Token ${JSON.stringify(tok)} does not spell the normalized text at word ${w}.`);
    out.push(span(item.slice(pos, pos + n)));
    pos += n;
    if (pos >= item.length) { w++; pos = 0; }
  }
  if (w < items.length) throw new OffsetError(`The tokens cover ${w} of ${items.length} words of the text.`);
  return out;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** True when `tok` spells the stream's characters from index `j` on. */
function matchesAt(stream: readonly (AlignedChar | { literal: string })[], j: number, tok: string): boolean {
  let s = '';
  while (j < stream.length && s.length < tok.length) {
    const c = stream[j++];
    s += 'literal' in c ? c.literal : c.ch;
  }
  return s === tok || (BYTE_TOKEN.test(tok));
}

const isWhitespaceSplitter = (p: string) => p === 'Whitespace' || p === 'WhitespaceSplit';

/**
 * The words a SentencePiece-style model sees in one normalized piece of text (`first`: the piece starts the text): cut by
 * Whitespace/WhitespaceSplit pre-tokenizers, if any, then Metaspace's ▁ for spaces, prepended to each word and split at.
 * Without those pre-tokenizers the piece is one word: the pieces of a Metaspace split spell it in order all the same.
 */
export function pieceWords(chars: readonly AlignedChar[], facts: TokenizerFacts, first: boolean): AlignedChar[][] {
  const ms = facts.metaspace;
  const splitters = (facts.preTokenizers ?? []).filter(isWhitespaceSplitter);
  const out: AlignedChar[][] = [];
  for (const word of splitters.length ? words(chars, splitters) : [[...chars]]) {
    if (!ms) { out.push(word); continue; }
    let w = word.map((c) => (c.ch === ' ' ? { ...c, ch: ms.replacement } : c));
    // Metaspace prepends to every piece the pre-tokenizers before it made ('first' is refused with splitters).
    const prepend = ms.prepend === 'always' || (ms.prepend === 'first' && first);
    if (prepend && w.length && w[0].ch !== ms.replacement) w = [{ ...w[0], ch: ms.replacement }, ...w];
    if (!splitters.length || !ms.split) { out.push(w); continue; }
    let cur: AlignedChar[] = [];
    for (const c of w) {
      if (c.ch === ms.replacement && cur.length) { out.push(cur); cur = []; }
      cur.push(c);
    }
    if (cur.length) out.push(cur);
  }
  return out;
}

/** UTF-16 ranges of SentencePiece-style tokens (Metaspace ▁, Unigram or BPE, byte fallback) in `text`. */
export function pieceRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  const stream: (AlignedChar | { literal: string; start: number; end: number })[] = [];
  // Where a word of a Whitespace/WhitespaceSplit pre-tokenizer starts: the model sees each word alone, so a run of
  // unknown characters ends there.
  const wordStarts = new Set<number>();
  for (const s of segments(text, facts)) {
    if ('literal' in s) { stream.push(s); continue; }
    for (const word of pieceWords(s.chars, facts, s.first)) {
      wordStarts.add(stream.length);
      // One by one: a spread of a long selection's characters could overflow the stack.
      for (const c of word) stream.push(c);
    }
  }
  let k = 0;
  let bytesLeft = 0;
  const out: TokenRange[] = [];
  for (let ti = 0; ti < tokens.length; ti++) {
    const tok = tokens[ti];
    const cur = stream[k];
    if (cur && 'literal' in cur && cur.literal === tok) { out.push([cur.start, cur.end]); k++; continue; }
    const byte = BYTE_TOKEN.exec(tok);
    if (byte && cur && !('literal' in cur)) {
      if (bytesLeft === 0) {
        bytesLeft = new TextEncoder().encode(cur.ch).length;
        out.push([cur.start, cur.end]);
      } else out.push([cur.end, cur.end]);
      if (--bytesLeft === 0) k++;
      continue;
    }
    if (tok === facts.unkToken && cur && !('literal' in cur)) {
      // BPE's unk token stands for unknown characters: one, or a run of them with fuse_unk, up to where the
      // next token matches again.
      let j = k + 1;
      const next = tokens[ti + 1];
      while (facts.fuseUnk && j < stream.length && !wordStarts.has(j) && !('literal' in stream[j])
        && !(next !== undefined && matchesAt(stream, j, next))) j++;
      out.push(span(stream.slice(k, j) as AlignedChar[]));
      k = j;
      continue;
    }
    let s = '';
    let j = k;
    while (j < stream.length && s.length < tok.length) {
      const c = stream[j];
      if ('literal' in c) break;
      s += c.ch;
      j++;
    }
    if (s === tok && j > k) {
      out.push(span(stream.slice(k, j) as AlignedChar[]));
      k = j;
      continue;
    }
    // A template token, or an added token the text does not hold here. One that spells the text (Gemma's "▁▁"
    // is an added token and a BPE piece alike) was taken above.
    if (isTemplate(tok, facts) || facts.literalTokens.has(tok)) { out.push(null); continue; }
    throw new OffsetError(`Token ${JSON.stringify(tok)} does not spell the normalized text at ${k}.`);
  }
  if (k < stream.length) throw new OffsetError(`The tokens cover ${k} of ${stream.length} normalized characters.`);
  return out;
}

/** One normalized character or literal token of the byte stream, with its source range. */
interface ByteUnit {
  readonly start: number;
  readonly end: number;
  readonly literal?: string;
}

/**
 * UTF-16 ranges of byte-level BPE tokens: their bytes spell the UTF-8 of the normalized text (with a prefix
 * space per piece under add_prefix_space). A token maps to the source range of the characters whose first byte
 * it holds; one holding only the inner bytes of a character gets an empty range at that character's end.
 */
export function byteLevelPieceRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  const units: ByteUnit[] = [];
  const bytes: number[] = [];
  const unitOf: number[] = [];
  const encoder = new TextEncoder();
  const add = (unit: ByteUnit, s: string) => {
    for (const b of encoder.encode(s)) { bytes.push(b); unitOf.push(units.length); }
    units.push(unit);
  };
  for (const s of segments(text, facts)) {
    if ('literal' in s) { add(s, s.literal); continue; }
    if (facts.prefixSpace && s.chars.length && s.chars[0].ch !== ' ') add(s.chars[0], ' ');
    for (const c of s.chars) add(c, c.ch);
  }
  const out: TokenRange[] = [];
  let pos = 0;
  for (const tok of tokens) {
    if (facts.literalTokens.has(tok) && units[unitOf[pos]]?.literal === tok) {
      const u = units[unitOf[pos]];
      out.push([u.start, u.end]);
      pos += encoder.encode(tok).length;
      continue;
    }
    const tb = byteLevelTokenBytes(tok);
    if (!tb || !tb.every((b, k) => bytes[pos + k] === b)) {
      if (facts.literalTokens.has(tok)) { out.push(null); continue; } // a template token, not in the text here
      throw new OffsetError(`Token ${JSON.stringify(tok)} does not spell the normalized text at byte ${pos}.`);
    }
    let start = Infinity;
    let end = -Infinity;
    for (let k = pos; k < pos + tb.length; k++) {
      if (k > 0 && unitOf[k - 1] === unitOf[k]) continue; // inside a character another token started
      const u = units[unitOf[k]];
      start = Math.min(start, u.start);
      end = Math.max(end, u.end);
    }
    if (start === Infinity) start = end = units[unitOf[pos]].end;
    out.push([start, end]);
    pos += tb.length;
  }
  if (pos !== bytes.length) throw new OffsetError(`Tokens cover ${pos} of ${bytes.length} bytes of the normalized text.`);
  return out;
}

/** UTF-16 ranges of any supported tokenizer's tokens in `text`; template tokens get null. */
export function tokenRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  if (facts.kind === 'byte-level') return byteLevelPieceRanges(text, tokens, facts);
  if (facts.kind === 'wordpiece') return wordPieceRanges(text, tokens, facts);
  return pieceRanges(text, tokens, facts);
}
