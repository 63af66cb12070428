/**
 * Exact UTF-16 ranges of tokens from tokenizers that are not byte-level BPE: WordPiece (BERT: lowercasing,
 * accent stripping, `##` continuation, [UNK] for a whole word) and SentencePiece-style pieces (Unigram or
 * BPE with a Metaspace `▁`, byte fallback). The text is normalized with alignment (normalize.ts) and the
 * tokens are matched against it in order. Template tokens ([CLS], [SEP], </s>) map to no range. Also reads
 * which tokenizer a tokenizer.json describes, and the special tokens its post-processor adds. Pure.
 */
import { byteLevelRanges, OffsetError, type TokenRange } from './offsets';
import { applyNormalizer, alignedChars, isBertPunctuation, isWhitespace, NormalizerError, type AlignedChar } from './normalize';

/** How a tokenizer's tokens map back to text. */
export type TokenizerKind = 'byte-level' | 'wordpiece' | 'sentencepiece';

/** A special token the post-processor adds around the text. */
export interface SpecialToken {
  readonly id: number;
  readonly token: string;
}

/** What the range mapping needs to know about a tokenizer.json. */
export interface TokenizerFacts {
  readonly kind: TokenizerKind;
  /** model.type, e.g. "WordPiece", "Unigram", "BPE". */
  readonly modelType: string;
  readonly normalizer: unknown;
  /** Added tokens; they match the raw text literally, before normalization. */
  readonly literalTokens: ReadonlySet<string>;
  /** Tokens the post-processor puts before and after the text (e.g. [CLS] … [SEP], … </s>). */
  readonly prefix: readonly SpecialToken[];
  readonly suffix: readonly SpecialToken[];
  readonly unkToken?: string;
  readonly continuingPrefix: string;
  /** Metaspace pre-tokenizer settings, when there is one. */
  readonly metaspace?: { readonly replacement: string; readonly prepend: 'always' | 'first' | 'never' };
  /** Pre-tokenizer types in order (WordPiece: how words are split). */
  readonly preTokenizers?: readonly string[];
  /** BPE/Unigram: consecutive unknown characters become one unk token. */
  readonly fuseUnk?: boolean;
}

/** Thrown for a tokenizer.json whose tokenizer cannot be mapped to exact ranges; the message says which. */
export class UnsupportedTokenizerError extends Error {}

function isByteLevel(pre: unknown): boolean {
  const p = pre as { type?: unknown; pretokenizers?: unknown[] } | null | undefined;
  if (!p) return false;
  return p.type === 'ByteLevel' || (p.type === 'Sequence' && Array.isArray(p.pretokenizers) && p.pretokenizers.some(isByteLevel));
}

function preTypes(pre: unknown): string[] {
  const p = pre as { type?: unknown; pretokenizers?: unknown[] } | null | undefined;
  if (!p) return [];
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.flatMap(preTypes);
  return [String(p.type)];
}

function findMetaspace(pre: unknown): Record<string, unknown> | undefined {
  const p = pre as { type?: unknown; pretokenizers?: unknown[] } | null | undefined;
  if (!p) return undefined;
  if (p.type === 'Metaspace') return p;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.map(findMetaspace).find(Boolean);
  return undefined;
}

/** The parts of a tokenizer.json post_processor that specialWrap reads, as the tokenizers library writes them. */
interface PostProcessorJson {
  readonly type?: unknown;
  readonly processors?: unknown;
  /** BertProcessing / RobertaProcessing: [token, id]. */
  readonly cls?: unknown;
  readonly sep?: unknown;
  /** TemplateProcessing: the single-sequence template and the special tokens it names. */
  readonly single?: unknown;
  readonly special_tokens?: Readonly<Record<string, { readonly tokens: readonly string[]; readonly ids: readonly number[] } | undefined>>;
}

/** One item of a TemplateProcessing template: the sequence itself, or a special token by name. */
interface TemplateItem {
  readonly Sequence?: unknown;
  readonly SpecialToken?: { readonly id?: string };
}

/** The special tokens a post_processor adds before and after a single sequence. */
export function specialWrap(post: unknown): { prefix: SpecialToken[]; suffix: SpecialToken[] } {
  const p = post as PostProcessorJson | null | undefined;
  if (!p) return { prefix: [], suffix: [] };
  if (p.type === 'Sequence' && Array.isArray(p.processors)) {
    for (const q of p.processors as unknown[]) {
      const w = specialWrap(q);
      if (w.prefix.length || w.suffix.length) return w;
    }
    return { prefix: [], suffix: [] };
  }
  if ((p.type === 'BertProcessing' || p.type === 'RobertaProcessing') && Array.isArray(p.cls) && Array.isArray(p.sep)) {
    const [cls, sep] = [p.cls as [string, number], p.sep as [string, number]];
    return { prefix: [{ token: cls[0], id: cls[1] }], suffix: [{ token: sep[0], id: sep[1] }] };
  }
  if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) {
    const prefix: SpecialToken[] = [];
    const suffix: SpecialToken[] = [];
    let seen = false;
    for (const item of p.single as TemplateItem[]) {
      if (item.Sequence) { seen = true; continue; }
      const name = item.SpecialToken?.id;
      const spec = name === undefined ? undefined : p.special_tokens?.[name];
      const tokens: SpecialToken[] = spec ? spec.tokens.map((t, i) => ({ token: t, id: spec.ids[i] })) : [];
      // One by one: a spread of an untrusted tokenizer.json's list could overflow the stack (as the fuzzer found elsewhere).
      for (const t of tokens) (seen ? suffix : prefix).push(t);
    }
    return { prefix, suffix };
  }
  return { prefix: [], suffix: [] };
}

/** The parts of a tokenizer.json that describeTokenizer reads; each is checked before it is used. */
interface TokenizerJson {
  readonly model?: {
    readonly type?: unknown;
    readonly merges?: unknown;
    /** WordPiece/BPE: token → id; Unigram: [piece, score][]. */
    readonly vocab?: unknown;
    readonly unk_token?: unknown;
    readonly unk_id?: unknown;
    readonly continuing_subword_prefix?: unknown;
    readonly fuse_unk?: unknown;
  };
  readonly added_tokens?: readonly { readonly content?: unknown }[];
  readonly normalizer?: unknown;
  readonly pre_tokenizer?: unknown;
  readonly post_processor?: unknown;
}

/** Reads a parsed tokenizer.json; throws UnsupportedTokenizerError naming what is not supported. */
export function describeTokenizer(json: unknown): TokenizerFacts {
  if (typeof json !== 'object' || json === null) throw new UnsupportedTokenizerError('tokenizer.json does not hold a JSON object');
  const t = json as TokenizerJson;
  const modelType: string = typeof t.model?.type === 'string' ? t.model.type : t.model?.merges ? 'BPE' : t.model?.vocab ? 'WordPiece' : 'unknown';
  const literalTokens = new Set((t.added_tokens ?? []).map((a) => a.content).filter((c) => typeof c === 'string'));
  const { prefix, suffix } = specialWrap(t.post_processor);
  const base = { modelType, normalizer: t.normalizer ?? null, literalTokens, prefix, suffix,
    unkToken: typeof t.model?.unk_token === 'string' ? t.model.unk_token : undefined,
    continuingPrefix: typeof t.model?.continuing_subword_prefix === 'string' ? t.model.continuing_subword_prefix : '##' };
  try {
    applyNormalizer(alignedChars('Aé 1'), base.normalizer);
  } catch (e) {
    if (e instanceof NormalizerError) throw new UnsupportedTokenizerError(`${modelType} with ${e.message}, which Attention Lens cannot align`);
    throw e;
  }
  const pre = preTypes(t.pre_tokenizer);
  if (modelType === 'BPE' && isByteLevel(t.pre_tokenizer)) return { ...base, kind: 'byte-level' };
  if (modelType === 'WordPiece') {
    const bad = pre.find((p) => !['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit', 'Punctuation'].includes(p));
    if (bad) throw new UnsupportedTokenizerError(`WordPiece with a ${bad} pre-tokenizer`);
    return { ...base, kind: 'wordpiece', preTokenizers: pre.length ? pre : ['BertPreTokenizer'] };
  }
  if (modelType === 'Unigram' || modelType === 'BPE') {
    const bad = pre.find((p) => p !== 'Metaspace');
    if (bad) throw new UnsupportedTokenizerError(`${modelType} with a ${bad} pre-tokenizer`);
    const m = findMetaspace(t.pre_tokenizer);
    const scheme = m?.prepend_scheme === 'first' || m?.prepend_scheme === 'never' ? m.prepend_scheme
      : m && (m.prepend_scheme === 'always' || m.add_prefix_space !== false) ? 'always' : 'never';
    const metaspace = m ? { replacement: typeof m.replacement === 'string' ? m.replacement : '\u2581', prepend: scheme } as const : undefined;
    const unk = modelType === 'Unigram' && typeof t.model?.unk_id === 'number'
      ? (t.model.vocab as readonly [string, number][] | undefined)?.[t.model.unk_id]?.[0] : base.unkToken;
    return { ...base, kind: 'sentencepiece', metaspace, unkToken: unk, fuseUnk: modelType === 'Unigram' || t.model?.fuse_unk === true };
  }
  throw new UnsupportedTokenizerError(`${modelType}${pre.length ? ` with a ${pre.join(' + ')} pre-tokenizer` : ''}`);
}

/** A piece of the input: normalized characters, or an added token that occurs literally. */
type Segment = { literal: string; start: number; end: number } | { chars: AlignedChar[]; first: boolean };

/** Splits text at literal added tokens (longest first), normalizing the text between them. */
function segments(text: string, facts: TokenizerFacts): Segment[] {
  const literals = [...facts.literalTokens].filter((l) => l.length > 0).sort((a, b) => b.length - a.length);
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
    const hit = literals.find((l) => text.startsWith(l, i));
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

const isTemplate = (tok: string, facts: TokenizerFacts) => facts.prefix.some((s) => s.token === tok) || facts.suffix.some((s) => s.token === tok);
/** The range the chars cover. A loop, not Math.min(...): a token may span more chars than a call takes arguments (a long [UNK] word). */
function span(chars: readonly AlignedChar[]): [number, number] {
  let start = Infinity;
  let end = -Infinity;
  for (const c of chars) {
    if (c.start < start) start = c.start;
    if (c.end > end) end = c.end;
  }
  return [start, end];
}

const WORD_CHAR = /^[\p{L}\p{N}\p{M}_]$/u;

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
    else items.push(...words(s.chars, facts.preTokenizers ?? ['BertPreTokenizer']));
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

/** UTF-16 ranges of SentencePiece-style tokens (Metaspace ▁, Unigram or BPE, byte fallback) in `text`. */
export function pieceRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  const stream: (AlignedChar | { literal: string; start: number; end: number })[] = [];
  const ms = facts.metaspace;
  for (const s of segments(text, facts)) {
    if ('literal' in s) { stream.push(s); continue; }
    let chars = s.chars;
    if (ms) {
      chars = chars.map((c) => (c.ch === ' ' ? { ...c, ch: ms.replacement } : c));
      const prepend = ms.prepend === 'always' || (ms.prepend === 'first' && s.first);
      if (prepend && chars.length && chars[0].ch !== ms.replacement) chars = [{ ...chars[0], ch: ms.replacement }, ...chars];
    }
    stream.push(...chars);
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
      while (facts.fuseUnk && j < stream.length && !('literal' in stream[j]) && !(next !== undefined && matchesAt(stream, j, next))) j++;
      out.push(span(stream.slice(k, j) as AlignedChar[]));
      k = j;
      continue;
    }
    if (isTemplate(tok, facts) || facts.literalTokens.has(tok)) { out.push(null); continue; }
    let s = '';
    let j = k;
    while (j < stream.length && s.length < tok.length) {
      const c = stream[j];
      if ('literal' in c) break;
      s += c.ch;
      j++;
    }
    if (s !== tok || j === k) throw new OffsetError(`Token ${JSON.stringify(tok)} does not spell the normalized text at ${k}.`);
    out.push(span(stream.slice(k, j) as AlignedChar[]));
    k = j;
  }
  if (k < stream.length) throw new OffsetError(`The tokens cover ${k} of ${stream.length} normalized characters.`);
  return out;
}

/** UTF-16 ranges of any supported tokenizer's tokens in `text`; template tokens get null. */
export function tokenRanges(text: string, tokens: readonly string[], facts: TokenizerFacts): TokenRange[] {
  if (facts.kind === 'byte-level') return byteLevelRanges(text, tokens, facts.literalTokens);
  if (facts.kind === 'wordpiece') return wordPieceRanges(text, tokens, facts);
  return pieceRanges(text, tokens, facts);
}
