/**
 * Host-side helpers around head references: reading them from untrusted input, comparing them, and the
 * weight buckets of editor decorations. Imports neither `vscode` nor the DOM.
 */
import type { HeadRef } from '../shared/protocol';

export { isValidHead, stackFor } from '../shared/attention-query';

/** Number of decoration intensity levels (theme colours attentionLens.weight1..weight5). */
export const WEIGHT_LEVELS = 5;

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
