/**
 * Host-side tokenization: any tokenizer.json `@huggingface/tokenizers` loads whose tokens can be mapped
 * back to exact UTF-16 ranges (byte-level BPE, WordPiece, SentencePiece-style Unigram/BPE; see
 * shared/token-ranges.ts), the post-processor's special tokens ([CLS] … [SEP], … </s>) added around the
 * text with no range, and truncation to the model's context without tokenizing a huge selection whole.
 * Node only (no `vscode`), so unit tests run it against real tokenizers.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { byteLevelTokenBytes, OffsetError, type TokenRange } from '../shared/offsets';
import { alignedChars, applyNormalizer } from '../shared/normalize';
import type { TokenInfo } from '../shared/protocol';
import { describeTokenizer, pieceWords, tokenRanges, type TokenizerFacts } from '../shared/token-ranges';

/** A loaded tokenizer plus the literal (added/special) tokens that have no byte-level spelling. */
export interface HostTokenizer {
  /** Token ids and token strings of `text`, without special tokens added. */
  encode(text: string): { ids: number[]; tokens: string[] };
  /** The text `ids` spell, through the tokenizer's decoder (special tokens kept). */
  decode(ids: readonly number[]): string;
  /** Contents of the tokenizer's added tokens; they match the text literally. */
  readonly literalTokens: ReadonlySet<string>;
  /** The kind of tokenizer and its template tokens; byte-level BPE when absent. */
  readonly facts?: TokenizerFacts;
}

/** Builds a HostTokenizer from parsed tokenizer.json (and tokenizer_config.json, or {}); throws UnsupportedTokenizerError. */
export function createTokenizer(tokenizerJson: object, tokenizerConfig: object = {}): HostTokenizer {
  const facts = describeTokenizer(tokenizerJson);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  // The library's own normalizers deviate from the Rust library's (its BertNormalizer misses CJK outside the BMP
  // and unassigned characters), so the model would get other ids. Ours is the one the ranges are aligned with.
  const inner = tokenizer as unknown as { normalizer: unknown; pre_tokenizer: unknown; model: { _call(words: string[]): string[] } };
  if (facts.normalizer && typeof inner.normalizer === 'function') {
    inner.normalizer = (text: string) => applyNormalizer(alignedChars(text), facts.normalizer).map((c) => c.ch).join('');
  }
  // Its Whitespace pre-tokenizer knows only ASCII word characters, and its WhitespaceSplit + Metaspace differ from the
  // Rust library's: the words the ranges are mapped through are the words the model gets. Its model fuses unknown
  // characters across the words it is given at once; the Rust library's model sees one word at a time.
  if (facts.kind === 'sentencepiece' && facts.preTokenizers?.some((p) => p === 'Whitespace' || p === 'WhitespaceSplit')) {
    inner.pre_tokenizer = (text: string) => pieceWords(alignedChars(text), facts, true).map((w) => w.map((c) => c.ch).join(''));
    const model = inner.model;
    const perWord = model._call.bind(model);
    model._call = (words: string[]) => words.flatMap((w) => perWord([w]));
  }
  return {
    encode: (text) => {
      const enc = tokenizer.encode(text, { add_special_tokens: false });
      return { ids: enc.ids.map(Number), tokens: enc.tokens };
    },
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: false }),
    literalTokens: facts.literalTokens,
    facts,
  };
}

const isByteLevel = (tok: HostTokenizer) => !tok.facts || tok.facts.kind === 'byte-level';

/** The result of tokenizing a selection, possibly cut to `maxTokens`. */
export interface TokenizedText {
  /** The text the tokens spell: the whole input, or its prefix when truncated. */
  readonly text: string;
  /** Tokens with UTF-16 ranges relative to `text`. */
  readonly tokens: readonly TokenInfo[];
  /** True when `text` is shorter than the input. */
  readonly truncated: boolean;
  /** Length of the input in UTF-16 units. */
  readonly totalChars: number;
}

/** Thrown when tokens cannot be mapped back to the text (a normalizing tokenizer) or nothing fits. */
export class TokenizeError extends Error {}

/** Characters per token of the first prefix tried when a selection may exceed the context. */
export const PREFIX_CHARS_PER_TOKEN = 32;
/** Tokens ending this close to a prefix's cut may differ from the full text's tokens, so are not trusted. */
const PREFIX_SAFETY_CHARS = 256;

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Tokenizes `text`; if it holds more than `maxTokens` tokens, keeps the first `maxTokens` and cuts the text there. */
export function tokenizeWithLimit(tok: HostTokenizer, text: string, maxTokens: number): TokenizedText {
  const prefix = tok.facts?.prefix ?? [];
  const suffix = tok.facts?.suffix ?? [];
  const specials = prefix.length + suffix.length;
  if (specials === 0) return tokenizeContent(tok, text, maxTokens);
  if (maxTokens <= specials) {
    throw new TokenizeError(`The token limit (${maxTokens}) leaves no room for text next to the model's ${specials} special ` +
      'tokens. Raise "attentionLens.maxTokens" (0 means the model\'s context).');
  }
  const out = tokenizeContent(tok, text, maxTokens - specials);
  const special = (s: { id: number; token: string }): TokenInfo => ({ id: s.id, text: s.token, start: -1, end: -1 });
  return { ...out, tokens: [...prefix.map(special), ...out.tokens, ...suffix.map(special)] };
}

function tokenizeContent(tok: HostTokenizer, text: string, maxTokens: number): TokenizedText {
  if (maxTokens < 1) throw new TokenizeError(`The token limit must be at least 1 (got ${maxTokens}).`);
  let prefixLen = Math.min(text.length, Math.max(maxTokens * PREFIX_CHARS_PER_TOKEN, 4 * PREFIX_SAFETY_CHARS));
  for (;;) {
    let end = prefixLen;
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end--; // never split a surrogate pair
    const prefix = text.slice(0, end);
    const partial = end < text.length;
    const enc = tok.encode(prefix);
    if (!partial && enc.ids.length <= maxTokens) {
      return { text, tokens: toTokenInfos(tok, prefix, enc), truncated: false, totalChars: text.length };
    }
    if (enc.ids.length > maxTokens) {
      const cut = cutPoint(tok, prefix, enc.tokens, maxTokens);
      if (!partial || cut.chars <= end - PREFIX_SAFETY_CHARS) {
        const kept = prefix.slice(0, cut.chars);
        const keptEnc = { ids: enc.ids.slice(0, cut.tokens), tokens: enc.tokens.slice(0, cut.tokens) };
        return { text: kept, tokens: toTokenInfos(tok, kept, keptEnc), truncated: true, totalChars: text.length };
      }
    }
    prefixLen = Math.min(text.length, prefixLen * 2);
  }
}

/**
 * Where to cut: keep k ≤ maxTokens tokens where token k starts a character (a non-empty range, not the inner
 * bytes of a character another token started) at or after the end of every kept token, so the kept text holds
 * exactly the kept tokens.
 */
function cutPoint(tok: HostTokenizer, prefix: string, tokens: readonly string[], maxTokens: number): { tokens: number; chars: number } {
  const ranges = rangesOf(tok, prefix, tokens);
  const keptEnd: number[] = [];
  let end = 0;
  for (let i = 0; i < Math.min(maxTokens, ranges.length); i++) keptEnd.push(end = Math.max(end, ranges[i]?.[1] ?? 0));
  for (let k = Math.min(maxTokens, ranges.length - 1); k > 0; k--) {
    const r = ranges[k];
    if (r && r[1] > r[0] && r[0] >= keptEnd[k - 1] && keptEnd[k - 1] > 0) return { tokens: k, chars: r[0] };
  }
  throw new TokenizeError(`The first character or word needs more than ${maxTokens} token(s), so no whole one fits the ` +
    'token limit. Raise "attentionLens.maxTokens" (0 means the model\'s context).');
}

function rangesOf(tok: HostTokenizer, text: string, tokens: readonly string[]): TokenRange[] {
  try {
    return tok.facts ? tokenRanges(text, tokens, tok.facts) : tokenRanges(text, tokens, BYTE_LEVEL(tok));
  } catch (e) {
    if (e instanceof OffsetError) {
      throw new TokenizeError(`The tokens do not spell the text after normalization (${e.message}), so they cannot be ` +
        'mapped back to the editor. This tokenizer\'s normalizer is not supported.');
    }
    throw e;
  }
}

const BYTE_LEVEL = (tok: HostTokenizer): TokenizerFacts => ({
  kind: 'byte-level', modelType: 'BPE', normalizer: null, maxId: -1, literalTokens: tok.literalTokens, prefix: [], suffix: [], continuingPrefix: '',
});

function toTokenInfos(tok: HostTokenizer, text: string, enc: { ids: number[]; tokens: string[] }): TokenInfo[] {
  const ranges = rangesOf(tok, text, enc.tokens);
  if (!isByteLevel(tok)) {
    return enc.ids.map((id, i) => {
      const r = ranges[i];
      return { id, text: r ? text.slice(r[0], r[1]) : enc.tokens[i], start: r ? r[0] : -1, end: r ? r[1] : -1 };
    });
  }
  return enc.ids.map((id, i) => {
    const r = ranges[i];
    const token = enc.tokens[i];
    const bytes = tok.literalTokens.has(token) ? null : byteLevelTokenBytes(token);
    const decoded = bytes ? utf8Decoder.decode(Uint8Array.from(bytes)) : token;
    return { id, text: decoded, start: r ? r[0] : -1, end: r ? r[1] : -1 };
  });
}

/** Throws a TokenizeError naming the first token whose id is beyond the model's embedding (config.json vocab_size). */
export function checkIdsInVocab(tokens: readonly TokenInfo[], vocabSize: number | undefined): void {
  if (vocabSize === undefined) return;
  const i = tokens.findIndex((t) => t.id >= vocabSize || t.id < 0);
  if (i < 0) return;
  throw new TokenizeError(`token ${i + 1} (${JSON.stringify(tokens[i].text)}) has id ${tokens[i].id}, beyond the model's ${vocabSize} ` +
    'embeddings (vocab_size in config.json): the tokenizer does not belong to this model, or is newer than it. Pick the tokenizer.json ' +
    'published with the model.');
}

/**
 * The text that `continuation` adds after `prefix` (both token ids): decode(prefix + continuation) less decode(prefix),
 * since decoders that strip a leading space (SentencePiece's ▁) or join word pieces (WordPiece's ##) spell a token
 * differently at the start of a text; decode(continuation) alone where the longer text does not extend the shorter.
 */
export function decodeContinuation(tok: Pick<HostTokenizer, 'decode'>, prefix: readonly number[], continuation: readonly number[]): string {
  const head = tok.decode(prefix);
  const all = tok.decode([...prefix, ...continuation]);
  return all.startsWith(head) ? all.slice(head.length) : tok.decode(continuation);
}
