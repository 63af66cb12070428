/**
 * Graph facts the tap derives from a scanned ONNX graph without running it: the element type each value
 * probably carries (for reporting what a Softmax yields: float16 in fp16 graphs), and which Softmax nodes
 * are cross-attention (their input depends on the encoder's hidden states) in seq2seq decoders.
 * Both walk the nodes in dependency order (topologicalOrder), which need not be the order they are listed in.
 * Pure; imports only types from onnx-tap.
 */
import { topologicalOrder } from './layer-order';
import type { AttentionKind, OnnxSummary } from './onnx-tap';

const FLOATS = new Set([1, 10, 11, 16]); // FLOAT, FLOAT16, DOUBLE, BFLOAT16
const INT64 = 7;
const BOOL = 9;
const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

/** Graph inputs whose values come from an encoder, in a seq2seq decoder. */
export const ENCODER_OUTPUT_INPUTS = new Set(['encoder_hidden_states', 'encoder_outputs', 'encoder_last_hidden_state']);

/**
 * Best-effort element types of every value, in dependency order: graph inputs and initializers as declared,
 * Cast by its `to`, comparisons BOOL, shape ops INT64, and any other op the first floating-point type
 * among its inputs (else its first known input type). Good enough for Softmax outputs.
 */
export function inferElemTypes(summary: OnnxSummary): Map<string, number> {
  const types = new Map<string, number>();
  for (const i of summary.inputs) if (i.elemType) types.set(i.name, i.elemType);
  for (const [name, t] of summary.initializerTypes ?? []) types.set(name, t);
  for (const n of topologicalOrder(summary.nodes).map((i) => summary.nodes[i])) {
    let t: number | undefined;
    if (n.opType === 'Cast') t = n.castTo;
    else if (INT64_OPS.has(n.opType)) t = INT64;
    else if (BOOL_OPS.has(n.opType)) t = BOOL;
    else {
      const known = n.inputs.map((i) => types.get(i)).filter((x): x is number => x !== undefined);
      t = known.find((x) => FLOATS.has(x)) ?? known[0];
    }
    if (t !== undefined) for (const o of n.outputs) types.set(o, t);
  }
  return types;
}

/**
 * For each named Softmax output: 'cross' when its scores depend on an encoder-output graph input, else
 * 'self'. Dependence is traced forward from the encoder inputs but not through a node that consumes a
 * Softmax output (P·V): otherwise every layer after the first cross-attention would look like cross.
 */
export function attentionKinds(summary: OnnxSummary, softmaxOutputs: readonly string[]): AttentionKind[] {
  const sources = summary.inputs.filter((i) => ENCODER_OUTPUT_INPUTS.has(i.name)).map((i) => i.name);
  if (sources.length === 0) return softmaxOutputs.map(() => 'self');
  const probs = new Set(summary.nodes.filter((n) => n.opType === 'Softmax').flatMap((n) => n.outputs));
  const tainted = new Set(sources);
  for (const n of topologicalOrder(summary.nodes).map((i) => summary.nodes[i])) {
    if (n.inputs.some((i) => probs.has(i))) continue;
    if (n.inputs.some((i) => tainted.has(i))) for (const o of n.outputs) tainted.add(o);
  }
  return softmaxOutputs.map((o) => (tainted.has(o) ? 'cross' : 'self'));
}
