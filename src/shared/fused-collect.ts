/**
 * After a run of a model whose attention is fused: recompute every layer's probabilities from the fetched
 * inputs of its fused node (fused-layouts.ts), check each against the node's own output (P·V must give it
 * back), and stack them exactly as the Softmax tap does (collectAttention: [layers, heads, T, K], rows
 * summing to 1, causal from exact zeros). Pure: no onnxruntime, no vscode, no DOM.
 */
import { fusedOpLabel, type FusedOp, type FusedSource } from './fused-plan';
import { FusedAttentionError, recomputeLayer, type Fetched } from './fused-layouts';
import { collectAttention, float16ToFloat32, type CollectedAttention, type FetchedTensor } from './tap-collect';
import { TapError } from './tap-error';

/** Which layers were recomputed from a fused operator's inputs, and how closely P·V reproduced its output. */
export interface RecomputedAttention {
  /** Layer indices (in the stack) that were recomputed: all of them when the graph's attention is fused. */
  readonly layers: readonly number[];
  /** The fused operators met, without duplicates. */
  readonly ops: readonly FusedOp[];
  /** Largest |P·V − the operator's output| over the layers. */
  readonly maxOutputError: number;
}

/** Attention recomputed from fused nodes, with what was recomputed. */
export interface RecomputedCollected extends CollectedAttention {
  readonly recomputed: RecomputedAttention;
}

/** An onnxruntime tensor (web or node) as a Fetched: float16 widened (its type kept), int64 as numbers, bool as 0/1. */
export function fetchedOf(t: { readonly type: string; readonly dims: readonly number[]; readonly data: unknown }): Fetched {
  const dims = t.dims.map(Number);
  const d = t.data;
  if (t.type === 'float16') return { dims, type: 'float16', data: d instanceof Uint16Array ? float16ToFloat32(d) : Float32Array.from(d as ArrayLike<number>) };
  if (t.type === 'int64' || t.type === 'uint64') return { dims, type: t.type, data: Float64Array.from(d as ArrayLike<bigint>, Number) };
  if (t.type === 'bool') return { dims, type: 'bool', data: Uint8Array.from(d as ArrayLike<number | boolean>, (x) => (x ? 1 : 0)) };
  return { dims, type: t.type, data: d as ArrayLike<number> };
}

/**
 * Recomputes the fused nodes of one kind (in layer order) for `tokens` queries over `keys` keys and stacks
 * them; throws a TapError naming the node when one cannot be read or P·V misses its output by more than
 * `outputTolerance` × max(1, max |output|).
 */
export function collectFused(sources: readonly FusedSource[], get: (name: string) => Fetched | undefined, tokens: number,
  opts: { tolerance?: number; keys?: number; kind?: 'self' | 'cross'; outputTolerance?: number } = {}): RecomputedCollected {
  const fetched: FetchedTensor[] = [];
  let maxOutputError = 0;
  for (const src of sources) {
    let layer;
    try {
      layer = recomputeLayer(src, get);
    } catch (e) {
      if (e instanceof FusedAttentionError || e instanceof RangeError) {
        throw new TapError(`Attention Lens could not recompute attention from ${fusedOpLabel(src.op)} "${src.node}": ${e.message}.`, 'fused-attention');
      }
      throw e;
    }
    const allowed = (opts.outputTolerance ?? (get(src.output)?.type === 'float16' ? 2e-2 : 1e-3)) * Math.max(1, layer.outputScale);
    if (!(layer.outputError <= allowed)) {
      throw new TapError(`The attention recomputed from the inputs of ${fusedOpLabel(src.op)} "${src.node}" does not give back its output ` +
        `(max |P·V − output| = ${layer.outputError.toPrecision(3)}), so this node uses a variant Attention Lens does not read correctly; ` +
        'its probabilities are not shown.', 'fused-attention');
    }
    maxOutputError = Math.max(maxOutputError, layer.outputError);
    fetched.push({ name: src.output, dims: [1, layer.heads, layer.queries, layer.keys], data: layer.probs });
  }
  const a = collectAttention(fetched, tokens, opts.tolerance ?? 1e-3, opts.keys ?? tokens, opts.kind ?? 'self');
  return { ...a, recomputed: { layers: Array.from({ length: a.layers }, (_, i) => i), ops: [...new Set(sources.map((s) => s.op))], maxOutputError } };
}

/** What the panel header says when the attention shown was recomputed. */
export const RECOMPUTED_LABEL = 'attention recomputed from the fused operator\'s inputs';

/** The header badge's tooltip: which operators, which layers, and how closely P·V gave back their output. */
export function recomputedTitle(r: RecomputedAttention): string {
  const layers = r.layers.length === 1 ? `layer ${r.layers[0]}` : `layers ${r.layers[0]}–${r.layers[r.layers.length - 1]}`;
  return `This graph fuses attention into ${r.ops.map(fusedOpLabel).join(', ')}, which has no Softmax to tap: the probabilities of ` +
    `${layers} were recomputed from the operator's own inputs (softmax(QKᵀ·scale + mask) per head) and checked against its output ` +
    `(max |P·V − output| = ${r.maxOutputError.toExponential(1)}).`;
}
