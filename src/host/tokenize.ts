/**
 * Host-side tokenization: a byte-level BPE tokenizer from `@huggingface/tokenizers`, each token's exact
 * UTF-16 range from `byteLevelRanges`, and truncation to the model's context without tokenizing a huge
 * selection whole. Node only (no `vscode`), so unit tests run it against the bundled tokenizer.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { byteLevelRanges, byteLevelTokenBytes, OffsetError, utf8ToUtf16Table } from '../shared/offsets';
import type { TokenInfo } from '../shared/protocol';

/** A loaded tokenizer plus the literal (added/special) tokens that have no byte-level spelling. */
export interface HostTokenizer {
  /** Token ids and token strings of `text`, without special tokens added. */
  encode(text: string): { ids: number[]; tokens: string[] };
  /** Contents of the tokenizer's added tokens; they match the text literally. */
  readonly literalTokens: ReadonlySet<string>;
}

/** Builds a HostTokenizer from parsed tokenizer.json (and tokenizer_config.json, or {}). */
export function createTokenizer(tokenizerJson: object, tokenizerConfig: object = {}): HostTokenizer {
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const added = (tokenizerJson as { added_tokens?: { content?: unknown }[] }).added_tokens ?? [];
  const literalTokens = new Set(added.map((t) => t.content).filter((c): c is string => typeof c === 'string'));
  return {
    encode: (text) => {
      const enc = tokenizer.encode(text, { add_special_tokens: false });
      return { ids: enc.ids.map(Number), tokens: enc.tokens };
    },
    literalTokens,
  };
}

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

/** UTF-8 byte length of one token string (byte-level spelling, or its literal text for added tokens). */
function tokenBytes(token: string, literal: ReadonlySet<string>): number[] {
  const bytes = literal.has(token) ? null : byteLevelTokenBytes(token);
  return bytes ?? Array.from(new TextEncoder().encode(token));
}

/** Tokenizes `text`; if it holds more than `maxTokens` tokens, keeps the first `maxTokens` and cuts the text there. */
export function tokenizeWithLimit(tok: HostTokenizer, text: string, maxTokens: number): TokenizedText {
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
 * Where to cut: keep at most `maxTokens` tokens, fewer if token `maxTokens` starts inside a multi-byte
 * character (its bytes are split across tokens), so the kept tokens spell whole characters.
 */
function cutPoint(tok: HostTokenizer, prefix: string, tokens: readonly string[], maxTokens: number): { tokens: number; chars: number } {
  const table = utf8ToUtf16Table(prefix);
  const starts: number[] = [];
  let byte = 0;
  for (let i = 0; i <= maxTokens && i < tokens.length; i++) {
    starts.push(byte);
    byte += tokenBytes(tokens[i], tok.literalTokens).length;
  }
  for (let k = maxTokens; k > 0; k--) {
    const b = starts[k];
    if (b < table.length && table[b] !== -1) return { tokens: k, chars: table[b] };
  }
  throw new TokenizeError(`The first character needs more than ${maxTokens} token(s), so no whole character fits the ` +
    'token limit. Raise "attentionLens.maxTokens" (0 means the model\'s context).');
}

function toTokenInfos(tok: HostTokenizer, text: string, enc: { ids: number[]; tokens: string[] }): TokenInfo[] {
  let ranges;
  try {
    ranges = byteLevelRanges(text, enc.tokens, tok.literalTokens);
  } catch (e) {
    if (e instanceof OffsetError) {
      throw new TokenizeError('The tokenizer changed the text while tokenizing it (it normalizes text), so its tokens ' +
        'cannot be mapped back to the editor. Tokenizers that normalize text are not supported yet.');
    }
    throw e;
  }
  return enc.ids.map((id, i) => {
    const r = ranges[i];
    const token = enc.tokens[i];
    const bytes = tok.literalTokens.has(token) ? null : byteLevelTokenBytes(token);
    const decoded = bytes ? utf8Decoder.decode(Uint8Array.from(bytes)) : token;
    return { id, text: decoded, start: r ? r[0] : -1, end: r ? r[1] : -1 };
  });
}
