/**
 * Token highlights widened to whole user-perceived characters (grapheme clusters). A byte-fragment token (a piece
 * of an emoji or of an accented letter) has a range that covers part of a character, or an empty range at that
 * character's end (token-ranges.ts); painted as is, it shows a 2 px sliver or nothing. Here every token paints each
 * grapheme it touches, and a grapheme several tokens touch is painted once, by the one with the strongest weight.
 * Offsets are UTF-16, relative to the analysed text. Pure: no `vscode`, no DOM.
 */
import { graphemeBounds } from './graphemes';

/** One painted stretch: whole graphemes [start, end) of the analysed text, painted for token `token`. */
export interface GraphemePaint {
  readonly token: number;
  readonly start: number;
  readonly end: number;
}

/** The index of the grapheme holding UTF-16 offset `at` (0 <= at < text length): the last bound <= at. */
function graphemeAt(bounds: Int32Array, at: number): number {
  let lo = 0;
  let hi = bounds.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (bounds[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The graphemes [first, last] a token range touches, or undefined for none: a non-empty range touches every
 * grapheme it overlaps; an empty one (the inner bytes of a character) the grapheme of the character it ends.
 */
export function touchedGraphemes(bounds: Int32Array, start: number, end: number): [number, number] | undefined {
  const length = bounds[bounds.length - 1];
  if (!(start >= 0) || end < start || length === 0 || start > length) return undefined;
  if (end === start) {
    const g = graphemeAt(bounds, Math.max(0, start - 1));
    return [g, g];
  }
  return [graphemeAt(bounds, start), graphemeAt(bounds, Math.min(end, length) - 1)];
}

/** A token range widened to the whole graphemes it touches (UTF-16 [start, end)), or undefined when it touches none. */
export function widenToGraphemes(bounds: Int32Array, start: number, end: number): [number, number] | undefined {
  const g = touchedGraphemes(bounds, start, end);
  return g && [bounds[g[0]], bounds[g[1] + 1]];
}

/**
 * Which token paints each grapheme, as stretches in text order: of the tokens in `paint` (indices into `ranges`;
 * null ranges, specials, paint nothing), the one with the greatest `weights` value among those touching a grapheme
 * paints it (the first such token on a tie). Adjacent graphemes of one token form one stretch.
 */
export function graphemePaint(bounds: Int32Array, ranges: readonly (readonly [number, number] | null)[],
  weights: ArrayLike<number>, paint: readonly number[]): GraphemePaint[] {
  const count = bounds.length - 1;
  const owner = new Int32Array(count).fill(-1);
  for (const t of paint) {
    const r = ranges[t];
    const g = r ? touchedGraphemes(bounds, r[0], r[1]) : undefined;
    if (!g) continue;
    for (let k = g[0]; k <= g[1]; k++) {
      if (owner[k] < 0 || weights[t] > weights[owner[k]]) owner[k] = t;
    }
  }
  const out: GraphemePaint[] = [];
  for (let k = 0; k < count; k++) {
    if (owner[k] < 0) continue;
    const last = out[out.length - 1];
    if (last && last.token === owner[k] && last.end === bounds[k]) out[out.length - 1] = { ...last, end: bounds[k + 1] };
    else out.push({ token: owner[k], start: bounds[k], end: bounds[k + 1] });
  }
  return out;
}

/** The first grapheme boundary of `text` at or after `at` (text.length past its end): where a cut inside a character ends it. */
export function graphemeEndAt(text: string, at: number): number {
  if (at <= 0) return 0;
  const bounds = graphemeBounds(text);
  for (const b of bounds) if (b >= at) return b;
  return text.length;
}
