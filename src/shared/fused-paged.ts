/**
 * Fused attention layers paged like unfused ones (issue 16): where a fused node's form is plain (a scale, a causal
 * mask, within a local window or not, or none; no past keys, padding, additive bias or softcap), its Q (after rotary, as the operator
 * applies it) and Kᵀ are kept and rows are recomputed on demand; other fused layers are recomputed whole, as before.
 * The form is checked once on a short run: collectFused checks P·V against each node's output, and the paged rows
 * must then equal those probabilities within 1e-5. Pure: no onnxruntime, no vscode, no DOM.
 */
import type { Attention } from './attention';
import { RECOMPUTE_TOLERANCE, type IdentifiedPaths, type LayerPath } from './attention-paths';
import { collectFused } from './fused-collect';
import { layerParts, recomputeLayer, type Fetched, type LayerParts } from './fused-layouts';
import type { FusedSource } from './fused-plan';
import { pagedAttention, type LayerSource } from './paged-attention';
import { maxRowDifference, type LayerQK } from './qk-attention';

type Get = (name: string) => Fetched | undefined;

/**
 * True when a node's additive bias (an all-ones attention mask, as every run feeds) is 0 for every head and key on
 * the first, middle and last rows: O(H·T) calls, where checking every cell would cost as much as the attention.
 */
function zeroBias(bias: (h: number, i: number, j: number) => number, heads: number, T: number): boolean {
  for (const i of new Set([0, T >> 1, T - 1])) for (let h = 0; h < heads; h++) for (let j = 0; j < T; j++) if (bias(h, i, j) !== 0) return false;
  return true;
}

/** A fused node's layer as Q and Kᵀ with its form, or why its form is not plain enough to recompute row by row. */
export function fusedLayerQK(parts: LayerParts): LayerQK | string {
  const p = parts.problem;
  const T = p.k.rows;
  if (p.past) return 'it attends to past keys';
  if (p.softcap) return 'it softcaps its scores';
  if (p.bias && !zeroBias(p.bias, p.q.heads, T)) return 'it adds a bias or mask to its scores';
  // A causal local window is a sliding window (qk-attention.ts ScoreForm.window: the same w keys i − w < j ≤ i).
  const window = p.window !== undefined && p.window > 0 ? p.window : undefined;
  if (window !== undefined && window < T && !p.causal) return 'it attends within a local window without a causal mask';
  if (p.validKeys !== undefined && p.validKeys < T) return 'some keys are padding';
  // A fill of −10 000 (mask_filter_value) weighs exp(−10 000) = 0 exactly, as exclusion does; the check run confirms it.
  if (p.causalFill !== undefined && !(p.causalFill <= -1e4)) return 'it fills masked keys with a finite value';
  if (p.q.rows !== T) return 'its queries and keys differ in number';
  const { heads: kvHeads, size: d } = p.k;
  const kT = new Float32Array(kvHeads * d * T);
  for (let h = 0; h < kvHeads; h++) for (let j = 0; j < T; j++) for (let c = 0; c < d; c++) kT[(h * d + c) * T + j] = p.k.data[(h * T + j) * d + c];
  return { heads: p.q.heads, kvHeads, tokens: T, d, q: p.q.data, kT, form: { scale: p.scale, causal: p.causal, ...(window && p.causal ? { window } : {}) } };
}

/**
 * Identifies each fused self-attention layer's path from a short run of `tokens` tokens that fetched its nodes'
 * inputs and outputs; a string when the nodes cannot be recomputed at all (collectFused's reason).
 */
export function identifyFusedPaths(sources: readonly FusedSource[], get: Get, tokens: number): IdentifiedPaths | string {
  let whole;
  try {
    whole = collectFused(sources, get, tokens);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const n = whole.heads * tokens * tokens;
  const layers = sources.map((src, l): LayerPath => {
    const qk = fusedLayerQK(layerParts(src, get));
    if (typeof qk === 'string') return { name: src.output, path: 'softmax', reason: qk };
    const maxDifference = maxRowDifference(qk, whole.data.subarray(l * n, (l + 1) * n));
    if (!(maxDifference <= RECOMPUTE_TOLERANCE)) {
      return { name: src.output, path: 'softmax', reason: `rows recomputed from Q and K differ by up to ${maxDifference.toExponential(1)}` };
    }
    return { name: src.output, path: 'qk', form: qk.form, maxDifference };
  });
  return { heads: whole.heads, layers };
}

/** The paged stack of a fused run: Q and Kᵀ for layers identified 'qk', the others recomputed whole. */
export function pagedFused(sources: readonly FusedSource[], paths: readonly LayerPath[], get: Get, tokens: number, blockBytes?: number): Attention {
  let heads = 0;
  const layers = sources.map((src, l): LayerSource => {
    const path = paths[l];
    if (path?.path === 'qk') {
      const qk = fusedLayerQK(layerParts(src, get));
      if (typeof qk === 'string') throw new Error(`${src.node}: ${qk}, which it did not on the check run.`);
      heads = qk.heads;
      return { path: 'qk', qk };
    }
    const r = recomputeLayer(src, get);
    heads = r.heads;
    return { path: 'softmax', data: r.probs };
  });
  return pagedAttention(layers, heads, tokens, blockBytes);
}
