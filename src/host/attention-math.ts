/**
 * Pure arithmetic on an attention tensor Float32 [layers, heads, T, T] (row = query): one head's (or the
 * layer mean's) matrix and rows, top-k attended tokens, weight buckets for editor decorations, and the
 * stacked matrices the compare view draws. Imports neither `vscode` nor the DOM.
 */
import { aggregateMatrix } from '../shared/aggregate';
import type { HeadRef } from '../shared/protocol';

/** The attention tensor as the host keeps it. */
export interface AttentionData {
  readonly layers: number;
  readonly heads: number;
  readonly tokens: number;
  /** Float32 [layers, heads, T, T]. */
  readonly data: Float32Array;
}

/** Number of decoration intensity levels (theme colours attentionLens.weight1..weight5). */
export const WEIGHT_LEVELS = 5;

/** True when `ref` names a head (or the mean) that exists in a tensor of this shape. */
export function isValidHead(ref: HeadRef, layers: number, heads: number): boolean {
  const layerOk = Number.isInteger(ref.layer) && ref.layer >= 0 && ref.layer < layers;
  const headOk = ref.head === 'mean' || ref.head === 'max' || ref.head === 'rollout' || (Number.isInteger(ref.head) && ref.head >= 0 && ref.head < heads);
  return layerOk && headOk;
}

/** Reads a HeadRef from an untrusted value (command argument, stored state), or undefined if it is not one. */
export function parseHeadRef(value: unknown): HeadRef | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as { stack?: unknown; layer?: unknown; head?: unknown };
  const stack = v.stack === undefined ? 'self' : v.stack;
  if (stack !== 'self' && stack !== 'encoder' && stack !== 'decoder' && stack !== 'cross') return undefined;
  if (typeof v.layer !== 'number' || !Number.isInteger(v.layer) || v.layer < 0) return undefined;
  const head = v.head;
  if (head !== 'mean' && head !== 'max' && head !== 'rollout' && (typeof head !== 'number' || !Number.isInteger(head) || head < 0)) return undefined;
  return { stack, layer: v.layer, head };
}

/** True when two head references name the same head. */
export function sameHead(a: HeadRef, b: HeadRef): boolean {
  return a.stack === b.stack && a.layer === b.layer && a.head === b.head;
}

/** The T×T matrix of one head, or of an aggregate ('mean', 'max', 'rollout': see aggregate.ts). */
export function headMatrix(att: AttentionData, ref: HeadRef): Float32Array {
  const t = att.tokens;
  if (ref.head === 'max' || ref.head === 'rollout') return aggregateMatrix(att.data, att.heads, t, ref.layer, ref.head);
  const size = t * t;
  const layerBase = ref.layer * att.heads * size;
  if (ref.head !== 'mean') {
    const base = layerBase + ref.head * size;
    return att.data.slice(base, base + size);
  }
  const out = new Float32Array(size);
  for (let h = 0; h < att.heads; h++) {
    const base = layerBase + h * size;
    for (let i = 0; i < size; i++) out[i] += att.data[base + i];
  }
  for (let i = 0; i < size; i++) out[i] /= att.heads;
  return out;
}

/** Row `query` of one head (or the layer mean): how much the query token attends to each token. */
export function attentionRow(att: AttentionData, ref: HeadRef, query: number): Float32Array {
  const t = att.tokens;
  if (ref.head === 'max' || ref.head === 'rollout') return headMatrix(att, ref).slice(query * t, (query + 1) * t);
  const size = t * t;
  const layerBase = ref.layer * att.heads * size;
  if (ref.head !== 'mean') {
    const base = layerBase + ref.head * size + query * t;
    return att.data.slice(base, base + t);
  }
  const out = new Float32Array(t);
  for (let h = 0; h < att.heads; h++) {
    const base = layerBase + h * size + query * t;
    for (let j = 0; j < t; j++) out[j] += att.data[base + j];
  }
  for (let j = 0; j < t; j++) out[j] /= att.heads;
  return out;
}

/** Indices of the `k` largest weights with weight > 0, largest first (ties: earlier token first). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) if (row[i] > 0) idx.push(i);
  idx.sort((a, b) => row[b] - row[a] || a - b);
  return idx.slice(0, Math.max(0, k));
}

/**
 * Decoration level per token: 0 = not painted, 1..levels = intensity proportional to weight / row max.
 * Tokens below `minRatio` of the row's largest weight are not painted, so faint attention stays quiet.
 */
export function weightBuckets(row: ArrayLike<number>, levels = WEIGHT_LEVELS, minRatio = 0.1): number[] {
  let max = 0;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  const out = new Array<number>(row.length).fill(0);
  if (!(max > 0)) return out;
  for (let i = 0; i < row.length; i++) {
    const ratio = row[i] / max;
    if (ratio >= minRatio) out[i] = Math.min(levels, Math.max(1, Math.ceil(ratio * levels)));
  }
  return out;
}

/** Float32 [pinned.length, T, T]: the matrix of each pinned head, stacked, as the compare view expects. */
export function compareMatrices(att: AttentionData, pinned: readonly HeadRef[]): Float32Array {
  const size = att.tokens * att.tokens;
  const out = new Float32Array(pinned.length * size);
  pinned.forEach((ref, i) => out.set(headMatrix(att, ref), i * size));
  return out;
}

/** "0.42" style weight for hover cards: two decimals, or "<0.01". */
export function formatWeight(w: number): string {
  if (w > 0 && w < 0.005) return '<0.01';
  return w.toFixed(2);
}

/**
 * The Float32 view of attention data that arrived from a webview: an ArrayBuffer (the normal case), a
 * Float32Array, another view over the raw Float32 bytes, or a plain number array. Returns undefined when it is none of these or has the wrong length.
 */
export function toFloat32(data: unknown, expectedLength: number): Float32Array | undefined {
  let out: Float32Array | undefined;
  if (Object.prototype.toString.call(data) === '[object ArrayBuffer]') { // instanceof fails across realms
    const buf = data as ArrayBuffer;
    if (buf.byteLength % 4 === 0) out = new Float32Array(buf);
  } else if (data instanceof Float32Array) {
    out = data.slice();
  } else if (ArrayBuffer.isView(data) && data.byteLength % 4 === 0) {
    // Some transports hand over the raw bytes as another view: reinterpret them as Float32.
    out = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
  } else if (Array.isArray(data) && data.every((x) => typeof x === 'number')) {
    out = Float32Array.from(data);
  }
  return out && out.length === expectedLength ? out : undefined;
}
