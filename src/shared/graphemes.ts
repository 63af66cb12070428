/**
 * Grapheme clusters of long texts in linear time: V8's Intl.Segmenter slows down more than linearly on long
 * strings, so texts are segmented a window at a time. Used by the editor's whole-character highlights
 * (grapheme-paint.ts) and the Precompiled normalizer (precompiled.ts). Pure: no DOM, no vscode.
 */

/** Characters segmented at a time: V8's Intl.Segmenter slows down more than linearly on long strings (65,536 mixed characters: 5 s). */
export const SEGMENT_WINDOW = 1024;

/**
 * The grapheme boundaries of `text`: 0, each cluster's end, ..., text.length (a single 0 for ''). Segmented a window at
 * a time, never splitting a surrogate pair: a boundary depends only on the text before it and the code point after
 * it, so every boundary inside a window that starts at a boundary is one of the whole text's; the window's last
 * cluster may be cut, so the next window starts there. A cluster longer than the window doubles it.
 */
export function graphemeBounds(text: string, window = SEGMENT_WINDOW): Int32Array {
  const segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });
  const out = [0];
  let from = 0;
  let size = window;
  while (from < text.length) {
    let end = Math.min(text.length, from + size);
    const c = text.charCodeAt(end - 1);
    if (end < text.length && c >= 0xd800 && c <= 0xdbff) end--;
    const starts: number[] = [];
    for (const s of segmenter.segment(text.slice(from, end))) starts.push(from + s.index);
    if (end === text.length) {
      out.push(...starts.slice(1));
      break;
    }
    if (starts.length < 2) {
      size *= 2;
      continue;
    }
    out.push(...starts.slice(1)); // the window's first start is `from`, already in
    from = starts[starts.length - 1];
    size = window;
  }
  if (text.length > 0) out.push(text.length);
  return Int32Array.from(out);
}

/** The text's extended grapheme clusters, in order (graphemeBounds' slices). */
export function* graphemeClusters(text: string): Generator<string> {
  const bounds = graphemeBounds(text);
  for (let k = 0; k + 1 < bounds.length; k++) yield text.slice(bounds[k], bounds[k + 1]);
}
