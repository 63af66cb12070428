/**
 * SentencePiece's `precompiled_charsmap` normalizer (T5, mT5, XLM-R and every tokenizer converted from a
 * SentencePiece model), as the Rust `tokenizers` library applies it: the blob is a little-endian u32 trie size, a
 * darts-clone double-array trie over UTF-8 keys, then the replacement strings, each ended by a NUL byte. The text is
 * cut into extended grapheme clusters; a cluster under 6 UTF-8 bytes whose bytes start with a key is replaced whole by
 * that key's string (the first, shortest key found), otherwise each character is looked up alone. The alignment of
 * every output character to the input follows the library's NormalizedString.transform, with one fix: characters the
 * map removes at the very start of a piece (controls like U+0001) are skipped, where the library shifts every later
 * character's range onto the character before it. Pure.
 */
import type { AlignedChar } from './normalize';
import { graphemeClusters } from './graphemes';

/** A parsed charsmap: the double-array units and the replacement strings' bytes. */
interface Charsmap {
  readonly units: Uint32Array;
  readonly strings: Uint8Array;
  /** Decoded replacement strings by their byte offset. */
  readonly decoded: Map<number, string>;
}

/** Thrown for a charsmap that is not a valid blob; the message says why. */
export class CharsmapError extends Error {}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (padding optional) to bytes; throws CharsmapError on any other character. */
function fromBase64(text: string): Uint8Array {
  const s = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const v = B64.indexOf(s[i]);
    if (v < 0) throw new CharsmapError(`its precompiled_charsmap is not base64 (character ${i})`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

const parsed = new Map<string, Charsmap>();

/** Parses (once per distinct blob) a base64 precompiled_charsmap; throws CharsmapError for a malformed one. */
export function parseCharsmap(base64: unknown): Charsmap {
  if (typeof base64 !== 'string') throw new CharsmapError('it has no precompiled_charsmap string');
  const cached = parsed.get(base64);
  if (cached) return cached;
  const bytes = fromBase64(base64);
  if (bytes.length < 4) throw new CharsmapError('its precompiled_charsmap is shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trieUnits = Math.floor(view.getUint32(0, true) / 4);
  if (trieUnits === 0) throw new CharsmapError('its precompiled_charsmap has an empty trie');
  if (4 + trieUnits * 4 > bytes.length) throw new CharsmapError(`its precompiled_charsmap's trie (${trieUnits} units) runs past its ${bytes.length} bytes`);
  const units = new Uint32Array(trieUnits);
  for (let i = 0; i < trieUnits; i++) units[i] = view.getUint32(4 + 4 * i, true);
  const strings = bytes.slice(4 + trieUnits * 4);
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(strings);
  } catch {
    throw new CharsmapError('its precompiled_charsmap\'s strings are not UTF-8');
  }
  const map = { units, strings, decoded: new Map<number, string>() };
  if (parsed.size > 8) parsed.clear();
  parsed.set(base64, map);
  return map;
}

// darts-clone's unit layout, as the spm_precompiled crate reads it.
const hasLeaf = (u: number) => ((u >>> 8) & 1) === 1;
const value = (u: number) => u & 0x7fffffff;
const label = (u: number) => (u & 0x800000ff) >>> 0;
const offset = (u: number) => (u >>> 10) << ((u & 0x200) >>> 6);

/** The value of the first (shortest) key that the bytes start with, or -1; a NUL byte ends the search. */
function firstPrefixValue(units: Uint32Array, key: Uint8Array): number {
  if (units.length === 0) return -1;
  let node = offset(units[0]);
  for (const c of key) {
    if (c === 0) break;
    node ^= c;
    const unit = units[node];
    if (unit === undefined || label(unit) !== c) return -1;
    node ^= offset(unit);
    if (hasLeaf(unit)) return units[node] === undefined ? -1 : value(units[node]);
  }
  return -1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The charsmap's replacement for `chunk` (Precompiled::transform), or undefined when no key starts it. */
function transform(map: Charsmap, chunk: string): string | undefined {
  const at = firstPrefixValue(map.units, encoder.encode(chunk));
  if (at < 0 || at > map.strings.length) return undefined;
  let s = map.decoded.get(at);
  if (s === undefined) {
    let end = at;
    while (end < map.strings.length && map.strings[end] !== 0) end++;
    s = decoder.decode(map.strings.subarray(at, end));
    map.decoded.set(at, s);
  }
  return s;
}

/**
 * One output character and its change, as the Rust library's transformations list them: 0 replaces the next input
 * character, 1 is inserted (aligned with the input character before), −n replaces the next one and removes n more.
 */
type Change = [string, number];

/**
 * Precompiled's `replace`: the new characters replace the old ones; extra ones are inserted, missing ones removed.
 * Returns how many characters it removed with no change before them to carry the removal (the text so far is gone).
 */
function replace(changes: Change[], oldPart: string, newPart: string): number {
  const diff = Array.from(newPart).length - Array.from(oldPart).length;
  for (const ch of newPart) changes.push([ch, 0]);
  if (diff > 0) for (let i = changes.length - diff; i < changes.length; i++) changes[i][1] = 1;
  // Fewer characters: the last change so far (maybe one from an earlier cluster) removes the rest, as in Rust.
  else if (diff < 0 && changes.length > 0) changes[changes.length - 1][1] += diff;
  else if (diff < 0) return -diff;
  return 0;
}

/** Applies a Precompiled normalizer (its tokenizer.json spec) to aligned characters. */
export function precompiled(chars: readonly AlignedChar[], spec: Record<string, unknown>): AlignedChar[] {
  const map = parseCharsmap(spec.precompiled_charsmap);
  const text = chars.map((c) => c.ch).join('');
  const changes: Change[] = [];
  let modified = false;
  // Characters removed before any output. The Rust library drops this count (it passes 0 as transform's
  // initial_offset), which aligns every later character with the one before it; here they are skipped.
  let removedFirst = 0;
  for (const segment of graphemeClusters(text)) {
    if (encoder.encode(segment).length < 6) {
      const norm = transform(map, segment);
      if (norm !== undefined) {
        modified = true;
        removedFirst += replace(changes, segment, norm);
        continue;
      }
    }
    for (const ch of segment) {
      const norm = transform(map, ch);
      if (norm !== undefined) {
        modified = true;
        removedFirst += replace(changes, ch, norm);
      } else changes.push([ch, 0]);
    }
  }
  if (!modified) return [...chars];
  // NormalizedString::transform: a replacing character takes the alignment of the input character it consumes, an
  // inserted one that of the input character before it.
  const out: AlignedChar[] = [];
  let k = removedFirst;
  for (const [ch, change] of changes) {
    let src: { start: number; end: number };
    if (change > 0) src = k > 0 ? chars[k - 1] : { start: chars[0].start, end: chars[0].start };
    else {
      src = chars[Math.min(k, chars.length - 1)];
      k += 1 - change;
    }
    out.push({ ch, start: src.start, end: src.end });
  }
  return out;
}
