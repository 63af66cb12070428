/**
 * Finding fused attention nodes in a scanned graph (com.microsoft Attention, MultiHeadAttention,
 * GroupQueryAttention, and ONNX's own Attention from opset 23) and what to tap for each: every input the
 * node reads and its output, so the worker can recompute the probabilities (fused-layouts.ts) and check
 * them against that output. Pure: no vscode, no DOM.
 */
import type { OnnxNode, OnnxSummary } from './onnx-tap';

/** The fused operators whose probabilities can be recomputed. */
export type FusedOp = 'com.microsoft.Attention' | 'MultiHeadAttention' | 'GroupQueryAttention' | 'Attention';

/** One fused attention node, as the recomputation needs it. */
export interface FusedSource {
  readonly op: FusedOp;
  /** The node's name, for messages. */
  readonly node: string;
  /** Its inputs as written ('' where an optional input is left out). */
  readonly inputs: readonly string[];
  /** Its first output (the attention output before the projection), fetched to check the recomputation. */
  readonly output: string;
  readonly attributes: Readonly<Record<string, number | readonly number[]>>;
}

const MS = 'com.microsoft';

/** Which recomputable operator a node is, or undefined. */
export function fusedOpOf(n: Pick<OnnxNode, 'opType' | 'domain'>): FusedOp | undefined {
  if (n.domain === MS) {
    if (n.opType === 'Attention') return 'com.microsoft.Attention';
    if (n.opType === 'MultiHeadAttention' || n.opType === 'GroupQueryAttention') return n.opType;
    return undefined;
  }
  return (n.domain === '' || n.domain === 'ai.onnx') && n.opType === 'Attention' ? 'Attention' : undefined;
}

/** The fused attention nodes of the main graph, in graph order, keyed by their first output. */
export function findFusedAttention(summary: OnnxSummary): FusedSource[] {
  const out: FusedSource[] = [];
  for (const n of summary.nodes) {
    const op = fusedOpOf(n);
    if (!op || !n.outputs[0]) continue;
    out.push({ op, node: n.name || `${op} #${out.length}`, inputs: n.inputs, output: n.outputs[0], attributes: n.attributes ?? {} });
  }
  return out;
}

/** Every tensor the recomputation reads for these nodes (their inputs and outputs), without duplicates. */
export function fusedTapNames(sources: readonly FusedSource[]): string[] {
  const names = new Set<string>();
  for (const s of sources) for (const n of [...s.inputs, s.output]) if (n) names.add(n);
  return [...names];
}

/** How the panel names a fused operator: "com.microsoft GroupQueryAttention", "ONNX Attention". */
export function fusedOpLabel(op: FusedOp): string {
  return op === 'Attention' ? 'ONNX Attention' : op === 'com.microsoft.Attention' ? 'com.microsoft Attention' : `com.microsoft ${op}`;
}
