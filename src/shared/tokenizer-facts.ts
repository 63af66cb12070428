/**
 * What a tokenizer.json describes, as far as mapping its tokens back to text needs: the model kind, the
 * normalizer, how its pre-tokenizers split (or alter) the text, its added tokens and the special tokens its
 * post-processor adds. Anything whose tokens could not be mapped to exact ranges is refused here, with the
 * reason. Pure: no vscode, no DOM.
 */
import { applyNormalizer, alignedChars, NormalizerError } from './normalize';

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
  readonly metaspace?: { readonly replacement: string; readonly prepend: 'always' | 'first' | 'never'; readonly split: boolean };
  /** Pre-tokenizer types in order (WordPiece: how words are split). */
  readonly preTokenizers?: readonly string[];
  /** BPE/Unigram: consecutive unknown characters become one unk token. */
  readonly fuseUnk?: boolean;
  /** The largest token id the tokenizer can produce (its vocabulary and added tokens), -1 for none. */
  readonly maxId: number;
  /** Byte-level: the ByteLevel pre-tokenizer's add_prefix_space (a space before each piece of text not starting with one). */
  readonly prefixSpace?: boolean;
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

/** The first pre-tokenizer of `type`, looking inside Sequences. */
function findPre(pre: unknown, type: string): Record<string, unknown> | undefined {
  const p = pre as { type?: unknown; pretokenizers?: unknown[] } | null | undefined;
  if (!p) return undefined;
  if (p.type === type) return p;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.map((q) => findPre(q, type)).find(Boolean);
  return undefined;
}

/** Pre-tokenizers that only split the text into words, so the tokens still spell every character of it. */
const SPLITTING = new Set(['Split', 'Digits', 'Punctuation', 'UnicodeScripts']);
/** A pre-tokenizer as an error message names it. */
const said = (p: string) => (p === 'ByteLevel' || p === 'Metaspace' ? `a ${p} pre-tokenizer` : p);

/**
 * What each pre-tokenizer does beyond splitting, in words ("a Whitespace pre-tokenizer", "a Split pre-tokenizer
 * that removes what it matches"), or its bare type for ByteLevel and Metaspace, whose changes the range mapping
 * reproduces.
 */
function textAlteringPreTokenizer(pre: unknown): string[] {
  const p = pre as { type?: unknown; pretokenizers?: unknown[]; behavior?: unknown } | null | undefined;
  if (!p) return [];
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return p.pretokenizers.flatMap(textAlteringPreTokenizer);
  if (p.type === 'ByteLevel' || p.type === 'Metaspace') return [p.type];
  if (SPLITTING.has(String(p.type))) return p.behavior === 'Removed' ? [`a ${String(p.type)} pre-tokenizer that removes what it matches`] : [];
  return [`a ${String(p.type)} pre-tokenizer`];
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
  readonly added_tokens?: readonly { readonly content?: unknown; readonly id?: unknown }[];
  readonly normalizer?: unknown;
  readonly pre_tokenizer?: unknown;
  readonly post_processor?: unknown;
}

/** The largest id in the model's vocabulary (token → id, or Unigram's [piece, score] list) and the added tokens. */
function largestId(t: TokenizerJson): number {
  let max = -1;
  const vocab = t.model?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  for (const a of t.added_tokens ?? []) if (typeof a.id === 'number' && a.id > max) max = a.id;
  return max;
}

/** Reads a parsed tokenizer.json; throws UnsupportedTokenizerError naming what is not supported. */
export function describeTokenizer(json: unknown): TokenizerFacts {
  if (typeof json !== 'object' || json === null) throw new UnsupportedTokenizerError('tokenizer.json does not hold a JSON object');
  const t = json as TokenizerJson;
  const modelType: string = typeof t.model?.type === 'string' ? t.model.type : t.model?.merges ? 'BPE' : t.model?.vocab ? 'WordPiece' : 'unknown';
  const literalTokens = new Set((t.added_tokens ?? []).map((a) => a.content).filter((c) => typeof c === 'string'));
  const { prefix, suffix } = specialWrap(t.post_processor);
  const base = { modelType, maxId: largestId(t), normalizer: t.normalizer ?? null, literalTokens, prefix, suffix,
    unkToken: typeof t.model?.unk_token === 'string' ? t.model.unk_token : undefined,
    continuingPrefix: typeof t.model?.continuing_subword_prefix === 'string' ? t.model.continuing_subword_prefix : '##' };
  try {
    applyNormalizer(alignedChars('Aé 1'), base.normalizer);
  } catch (e) {
    if (e instanceof NormalizerError) throw new UnsupportedTokenizerError(`${modelType} with ${e.message}, which Attention Lens cannot align`);
    throw e;
  }
  const pre = preTypes(t.pre_tokenizer);
  const altering = textAlteringPreTokenizer(t.pre_tokenizer);
  if (modelType === 'BPE' && isByteLevel(t.pre_tokenizer)) {
    const bad = altering.find((p) => p !== 'ByteLevel');
    if (bad) throw new UnsupportedTokenizerError(`byte-level BPE with ${said(bad)}`);
    const prefixSpace = findPre(t.pre_tokenizer, 'ByteLevel')?.add_prefix_space === true;
    if (prefixSpace && pre.length > 1) {
      throw new UnsupportedTokenizerError(`byte-level BPE with add_prefix_space after a ${pre.filter((p) => p !== 'ByteLevel').join(' + ')} pre-tokenizer`);
    }
    return { ...base, kind: 'byte-level', prefixSpace };
  }
  if (modelType === 'WordPiece') {
    const bad = pre.find((p) => !['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit', 'Punctuation'].includes(p));
    if (bad) throw new UnsupportedTokenizerError(`WordPiece with a ${bad} pre-tokenizer`);
    return { ...base, kind: 'wordpiece', preTokenizers: pre.length ? pre : ['BertPreTokenizer'] };
  }
  if (modelType === 'Unigram' || modelType === 'BPE') {
    // Split, Digits, Punctuation and UnicodeScripts only cut the text into words; the pieces still spell it. Whitespace and
    // WhitespaceSplit drop the whitespace between words (T5's converted tokenizer.json: WhitespaceSplit, then Metaspace).
    const bad = altering.find((p) => p !== 'Metaspace' && p !== 'a Whitespace pre-tokenizer' && p !== 'a WhitespaceSplit pre-tokenizer');
    if (bad) throw new UnsupportedTokenizerError(`${modelType} with ${said(bad)}`);
    const firstMetaspace = pre.indexOf('Metaspace');
    if (firstMetaspace >= 0 && pre.slice(firstMetaspace).some((p) => p === 'Whitespace' || p === 'WhitespaceSplit')) {
      throw new UnsupportedTokenizerError(`${modelType} with a ${pre.join(' + ')} pre-tokenizer (whitespace split after the Metaspace)`);
    }
    const m = findPre(t.pre_tokenizer, 'Metaspace');
    const scheme = m?.prepend_scheme === 'first' || m?.prepend_scheme === 'never' ? m.prepend_scheme
      : m && (m.prepend_scheme === 'always' || m.add_prefix_space !== false) ? 'always' : 'never';
    const metaspace = m ? { replacement: typeof m.replacement === 'string' ? m.replacement : '\u2581', prepend: scheme, split: m.split !== false } as const
      : undefined;
    if (metaspace?.prepend === 'first' && pre.some((p) => p === 'Whitespace' || p === 'WhitespaceSplit')) {
      throw new UnsupportedTokenizerError(`${modelType} with a ${pre.join(' + ')} pre-tokenizer whose Metaspace prepends ▁ to the first word only`);
    }
    const unk = modelType === 'Unigram' && typeof t.model?.unk_id === 'number'
      ? (t.model.vocab as readonly [string, number][] | undefined)?.[t.model.unk_id]?.[0] : base.unkToken;
    return { ...base, kind: 'sentencepiece', metaspace, unkToken: unk, fuseUnk: modelType === 'Unigram' || t.model?.fuse_unk === true, preTokenizers: pre };
  }
  throw new UnsupportedTokenizerError(`${modelType}${pre.length ? ` with a ${pre.join(' + ')} pre-tokenizer` : ''}`);
}
