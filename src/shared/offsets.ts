/**
 * Token ↔ range mapping. Tokenizers report tokens, not where they came from; here we recover each
 * token's exact UTF-16 range in the text (what JS strings and VS Code offsets count), correct for CRLF,
 * tabs, emoji, ZWJ sequences, combining marks and RTL text. Pure: imports neither `vscode` nor the DOM.
 *
 * Byte-level BPE (GPT-2 style): every token string spells raw bytes through a fixed byte→character
 * table, so the concatenated token bytes are exactly the UTF-8 of the input. A token that begins in the
 * middle of a multi-byte character gets an empty range; the character belongs to the token that
 * started it.
 */

/** A token's half-open UTF-16 range [start, end) in the tokenized text, or null for special tokens. */
export type TokenRange = readonly [number, number] | null;

let byteDecoder: Map<string, number> | undefined;

/** GPT-2's bytes_to_unicode table, inverted: byte-level character → byte value. */
export function byteLevelDecoder(): Map<string, number> {
  if (byteDecoder) return byteDecoder;
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + extra++), b);
  }
  byteDecoder = map;
  return map;
}

/** The raw bytes a byte-level token spells, or null if it is not a byte-level token. */
export function byteLevelTokenBytes(token: string): number[] | null {
  const table = byteLevelDecoder();
  const out: number[] = [];
  for (const ch of token) {
    const b = table.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return out;
}

/** Number of UTF-8 bytes of the code point starting at UTF-16 index i, and its UTF-16 length. */
function codePointAt(text: string, i: number): { bytes: number; units: number } {
  const cp = text.codePointAt(i)!;
  const units = cp > 0xffff ? 2 : 1;
  const bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  return { bytes, units };
}

/**
 * For each UTF-8 byte offset 0..len, the UTF-16 offset of the character that starts there, or -1 when
 * the byte is inside a character. Index len maps to text.length.
 */
export function utf8ToUtf16Table(text: string): Int32Array {
  let total = 0;
  for (let i = 0; i < text.length;) {
    const c = codePointAt(text, i);
    total += c.bytes;
    i += c.units;
  }
  const table = new Int32Array(total + 1).fill(-1);
  let b = 0;
  for (let i = 0; i < text.length;) {
    const c = codePointAt(text, i);
    table[b] = i;
    b += c.bytes;
    i += c.units;
  }
  table[total] = text.length;
  return table;
}

/** Maps byte spans [b0, b1) of the text's UTF-8 to UTF-16 ranges, by the rule in the module comment. */
export function byteSpansToUtf16(text: string, spans: readonly (readonly [number, number] | null)[]): TokenRange[] {
  const table = utf8ToUtf16Table(text);
  const nextStart = (b: number): number => {
    while (b < table.length && table[b] === -1) b++;
    return table[Math.min(b, table.length - 1)];
  };
  return spans.map((s) => {
    if (!s) return null;
    const start = nextStart(s[0]);
    const end = Math.max(start, nextStart(s[1]));
    return [start, end] as const;
  });
}

/** Thrown when the tokens do not spell the text (a normalizing tokenizer, or a bug). */
export class OffsetError extends Error {}

/**
 * UTF-16 ranges of byte-level BPE tokens in `text`. `special` names tokens (added/special) that map to
 * no range unless they literally occur in the text at that point.
 */
export function byteLevelRanges(text: string, tokens: readonly string[], special: ReadonlySet<string>): TokenRange[] {
  const utf8 = new TextEncoder().encode(text);
  const spans: ([number, number] | null)[] = [];
  let pos = 0;
  for (const tok of tokens) {
    let bytes: ArrayLike<number> | null = null;
    if (special.has(tok)) {
      const lit = new TextEncoder().encode(tok);
      if (matchesAt(utf8, pos, lit)) bytes = lit;
      else { spans.push(null); continue; }
    } else {
      bytes = byteLevelTokenBytes(tok);
      if (!bytes || !matchesAt(utf8, pos, bytes)) {
        throw new OffsetError(`Token ${JSON.stringify(tok)} does not spell the text at byte ${pos}.`);
      }
    }
    spans.push([pos, pos + bytes.length]);
    pos += bytes.length;
  }
  if (pos !== utf8.length) throw new OffsetError(`Tokens cover ${pos} of ${utf8.length} bytes of the text.`);
  return byteSpansToUtf16(text, spans);
}

function matchesAt(hay: Uint8Array, pos: number, needle: ArrayLike<number>): boolean {
  if (pos + needle.length > hay.length) return false;
  for (let i = 0; i < needle.length; i++) if (hay[pos + i] !== needle[i]) return false;
  return true;
}

/** Converts code-point offsets (as the native HF tokenizers report) to UTF-16 offsets in `text`. */
export function codePointToUtf16(text: string, cpOffset: number): number {
  let cp = 0;
  let i = 0;
  while (i < text.length && cp < cpOffset) {
    i += text.codePointAt(i)! > 0xffff ? 2 : 1;
    cp++;
  }
  return i;
}

/** Index of the token whose non-empty range contains UTF-16 offset `off`, or -1. */
export function tokenAtOffset(ranges: readonly TokenRange[], off: number): number {
  return ranges.findIndex((r) => r !== null && r[0] <= off && off < r[1]);
}
