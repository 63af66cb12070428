/**
 * Hugging Face tokenizer normalizers, applied to text while remembering where every output character
 * came from (its UTF-16 range in the input), the way the Rust library's NormalizedString aligns them:
 * a character that expands (ﬁ → f i, lowercase İ) keeps its source range on every output character, a
 * composition (e + ◌́ → é under NFC/NFKC) maps to its first source character, removed characters vanish,
 * and a Replace maps its content onto the last characters it replaced. Pure: no vscode, no DOM.
 */
import { CharsmapError, precompiled } from './precompiled';

/** One output code point and the UTF-16 range [start, end) of the input it came from. */
export interface AlignedChar {
  readonly ch: string;
  readonly start: number;
  readonly end: number;
}

/** Thrown for a normalizer this module does not implement. */
export class NormalizerError extends Error {}

/** Splits text into code points, each aligned to itself. */
export function alignedChars(text: string): AlignedChar[] {
  const out: AlignedChar[] = [];
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    const n = cp > 0xffff ? 2 : 1;
    out.push({ ch: text.slice(i, i + n), start: i, end: i + n });
    i += n;
  }
  return out;
}

const MARK = /^\p{M}$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;
const OTHER = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}]$/u; // what the Rust library calls "other": its table has no unassigned (Cn) characters
const PUNCT = /^\p{P}$/u;

/** Rust's char::is_whitespace, the White_Space property: JS's \s minus U+FEFF, plus U+0085 (NEL). */
export function isWhitespace(ch: string): boolean {
  return ch === '\u0085' || (ch !== '\ufeff' && /^\s$/u.test(ch));
}

/** BERT's punctuation: ASCII symbols and Unicode P* categories. */
export function isBertPunctuation(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return PUNCT.test(ch);
}

/** BERT's CJK ideograph ranges (handle_chinese_chars). */
export function isChineseChar(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df)
    || (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf)
    || (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/** Maps each character to zero or more code points that keep its range. */
function perChar(chars: readonly AlignedChar[], f: (ch: string) => string): AlignedChar[] {
  const out: AlignedChar[] = [];
  for (const c of chars) for (const o of f(c.ch)) out.push({ ch: o, start: c.start, end: c.end });
  return out;
}

/**
 * NFC/NFKC: normalizes groups of characters that compose or reorder together (a base and its marks, Hangul
 * jamo L V T). Each output character aligns, as in the Rust tokenizers, to the first input its decomposition starts
 * at, counted in decomposed code points: é from e + ◌́ aligns to the e (the mark it absorbed has no character of its
 * own), a ◌̂ that does not compose keeps its own, and ﬁ's f and i both align to the ﬁ.
 */
function composing(chars: readonly AlignedChar[], form: 'NFC' | 'NFKC'): AlignedChar[] {
  const out: AlignedChar[] = [];
  const decompose = form === 'NFC' ? 'NFD' : 'NFKD';
  const width = (s: string) => Math.max(1, Array.from(s.normalize(decompose)).length);
  const emit = (group: readonly AlignedChar[]) => {
    // ends[i]: decomposed code points up to and including input i.
    const ends: number[] = [];
    for (const c of group) ends.push((ends.at(-1) ?? 0) + width(c.ch));
    const inputAt = (p: number) => {
      const i = ends.findIndex((e) => p < e);
      return i < 0 ? group.length - 1 : i;
    };
    let pos = 0;
    for (const ch of Array.from(group.map((c) => c.ch).join('').normalize(form))) {
      const n = width(ch);
      const src = group[inputAt(pos)];
      out.push({ ch, start: src.start, end: src.end });
      pos += n;
    }
  };
  let group: AlignedChar[] = [];
  let joined = '';
  for (const c of chars) {
    // Marks always join (cheap for long runs of them); another character joins only if it changes the group.
    if (group.length && !MARK.test(c.ch) && (joined + c.ch).normalize(form) === joined.normalize(form) + c.ch.normalize(form)) {
      emit(group);
      group = [];
      joined = '';
    }
    group.push(c);
    joined += c.ch;
  }
  if (group.length) emit(group);
  return out;
}

function stripAccents(chars: readonly AlignedChar[]): AlignedChar[] {
  return perChar(chars, (ch) => ch.normalize('NFD')).filter((c) => !NONSPACING_MARK.test(c.ch));
}

function bert(chars: readonly AlignedChar[], spec: Record<string, unknown>): AlignedChar[] {
  let out = [...chars];
  if (spec.clean_text !== false) {
    out = out.filter((c) => !(c.ch === '\0' || c.ch === '\ufffd' || (OTHER.test(c.ch) && !'\t\n\r'.includes(c.ch))))
      .map((c) => (isWhitespace(c.ch) ? { ...c, ch: ' ' } : c));
  }
  if (spec.handle_chinese_chars !== false) {
    out = out.flatMap((c) => (isChineseChar(c.ch) ? [{ ...c, ch: ' ' }, c, { ...c, ch: ' ' }] : [c]));
  }
  const lowercase = spec.lowercase !== false;
  const strip = spec.strip_accents === true || ((spec.strip_accents === null || spec.strip_accents === undefined) && lowercase);
  if (strip) out = stripAccents(out);
  if (lowercase) out = perChar(out, (ch) => ch.toLowerCase());
  return out;
}

/** Replace with a String or Regex pattern: content aligns to the last characters each match replaced. */
function replace(chars: readonly AlignedChar[], spec: Record<string, unknown>): AlignedChar[] {
  const pattern = spec.pattern as { String?: string; Regex?: string } | undefined;
  const content = typeof spec.content === 'string' ? Array.from(spec.content) : [];
  const re = typeof pattern?.Regex === 'string' ? new RegExp(pattern.Regex, 'gu')
    : typeof pattern?.String === 'string' ? new RegExp(pattern.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu') : undefined;
  if (!re) throw new NormalizerError('a Replace normalizer without a String or Regex pattern');
  const text = chars.map((c) => c.ch).join('');
  const unitToChar: number[] = [];
  chars.forEach((c, k) => { for (let u = 0; u < c.ch.length; u++) unitToChar.push(k); });
  unitToChar.push(chars.length);
  const out: AlignedChar[] = [];
  let k = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    const a = unitToChar[m.index];
    const b = unitToChar[m.index + m[0].length];
    while (k < a) out.push(chars[k++]);
    content.forEach((ch, i) => {
      const src = chars[Math.max(a, Math.min(b - 1, b - content.length + i))];
      out.push({ ch, start: src.start, end: src.end });
    });
    k = b;
  }
  while (k < chars.length) out.push(chars[k++]);
  return out;
}

/** Applies a tokenizer.json `normalizer` (null = none) to aligned characters. */
export function applyNormalizer(chars: readonly AlignedChar[], spec: unknown): AlignedChar[] {
  if (spec === null || spec === undefined) return [...chars];
  const s = spec as Record<string, unknown>;
  switch (s.type) {
    case 'Sequence':
      return ((s.normalizers as unknown[]) ?? []).reduce<AlignedChar[]>((acc, n) => applyNormalizer(acc, n), [...chars]);
    case 'BertNormalizer': return bert(chars, s);
    case 'Lowercase': return perChar(chars, (ch) => ch.toLowerCase());
    case 'StripAccents': return chars.filter((c) => !NONSPACING_MARK.test(c.ch));
    case 'NFD': return perChar(chars, (ch) => ch.normalize('NFD'));
    case 'NFKD': return perChar(chars, (ch) => ch.normalize('NFKD'));
    case 'NFC': return composing(chars, 'NFC');
    case 'NFKC': return composing(chars, 'NFKC');
    // SentencePiece's own character map (T5, XLM-R, mT5), applied per grapheme cluster (precompiled.ts).
    case 'Precompiled':
      try {
        return precompiled(chars, s);
      } catch (e) {
        if (e instanceof CharsmapError) throw new NormalizerError(`a Precompiled normalizer whose charsmap cannot be read (${e.message})`);
        throw e;
      }
    case 'Replace': return replace(chars, s);
    case 'Prepend': {
      const p = typeof s.prepend === 'string' ? Array.from(s.prepend) : [];
      if (chars.length === 0) return [];
      return [...p.map((ch) => ({ ch, start: chars[0].start, end: chars[0].end })), ...chars];
    }
    case 'Strip': {
      let a = 0;
      let b = chars.length;
      if (s.strip_left !== false) while (a < b && isWhitespace(chars[a].ch)) a++;
      if (s.strip_right !== false) while (b > a && isWhitespace(chars[b - 1].ch)) b--;
      return chars.slice(a, b);
    }
    default:
      throw new NormalizerError(`the ${String(s.type)} normalizer`);
  }
}
