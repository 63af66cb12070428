/**
 * Host-side helpers around the attention type (shared/attention.ts): head references from untrusted input,
 * weight buckets for editor decorations, and the stacked matrices the compare view draws.
 * Imports neither `vscode` nor the DOM.
 */
import { headMatrix, type Attention } from '../shared/attention';
import type { HeadRef } from '../shared/protocol';

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

/**
 * The stack a head reference names among a run's stacks: 'self' is the run's own attention (or the encoder's
 * for encoder–decoder runs), 'decoder' and 'cross' their stacks. Undefined when the run has no such stack.
 */
export function stackFor(stacks: readonly Attention[], ref: HeadRef): Attention | undefined {
  return ref.stack === 'self' || ref.stack === 'encoder'
    ? stacks.find((s) => s.kind === 'self' || s.kind === 'encoder')
    : stacks.find((s) => s.kind === ref.stack);
}

/** The matrix a pinned head names, from its own stack (rollout has no cross-attention form: the mean stands in). */
export function pinnedMatrix(stacks: readonly Attention[], ref: HeadRef): Float32Array | undefined {
  const s = stackFor(stacks, ref);
  if (!s || !isValidHead(ref, s.layers, s.heads)) return undefined;
  return headMatrix(s, ref.layer, ref.head === 'rollout' && (s.kind === 'cross' || s.queries !== s.keys) ? 'mean' : ref.head);
}

/** Float32 [pinned.length, T, T]: the matrix of each pinned head, each from its own stack, as the compare view expects. */
export function compareMatrices(stacks: readonly Attention[], pinned: readonly HeadRef[]): Float32Array {
  const mats = pinned.map((ref) => pinnedMatrix(stacks, ref));
  const size = mats[0]?.length ?? 0;
  if (mats.some((m) => !m || m.length !== size)) throw new RangeError('pinned heads must name matrices of one shape');
  const out = new Float32Array(pinned.length * size);
  mats.forEach((m, i) => out.set(m!, i * size));
  return out;
}
