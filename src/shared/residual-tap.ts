/**
 * Where each attention layer writes into the residual stream (issue 13, Residual view). From a layer's Softmax the
 * walk finds the MatMul(P, V), follows its output (every head's P·V) through the head-merge Transpose/Reshape to the
 * output projection MatMul(x, W_O) (W_O an fp32 or fp16 initializer, or a Transpose of one), past an optional bias Add,
 * to the residual Add whose other input is the residual stream. Where the walk stops, `missing` says at what, in
 * plain words. `residualTapNames` lists the tensors the worker declares as outputs for one on-demand run. Pure.
 */
import { ElemType, type OnnxNode, type OnnxSummary } from './onnx-tap';

/** The tensors that show one layer's write into the residual stream. */
export interface ResidualSource {
  /** The layer's Softmax output (the attention tap's name for it). */
  readonly softmax: string;
  /** The MatMul(P, V) output: every head's weighted values, [.., heads, T, d_head]. */
  readonly pv: string;
  /** W_O as the projection MatMul reads it, [heads·d_head, d_model] (an initializer, or its Transpose). */
  readonly weight: string;
  /** The projection MatMul's output x·W_O, [.., T, d_model], before any bias. */
  readonly projection: string;
  /** The bias initializer added after the projection, if any. */
  readonly bias?: string;
  /** The residual stream the block's output is added to: the residual Add's other input, [.., T, d_model]. */
  readonly residual: string;
}

/** A layer whose write into the residual stream was not found, and why (a sentence for the panel). */
export interface ResidualMissing {
  readonly softmax: string;
  readonly missing: string;
}

/** One layer's plan: its residual sources, or why there are none. */
export type ResidualPlan = ResidualSource | ResidualMissing;

/** True when a plan entry found every tensor. */
export const isResidualSource = (p: ResidualPlan): p is ResidualSource => !('missing' in p);

/** How a node is named in a message: its op and name. */
const describe = (n: OnnxNode): string => `${n.opType}${n.name ? ` "${n.name}"` : ''}`;

/** Ops between the P·V MatMul and the output projection that merge the heads without changing values. */
const MERGE = new Set(['Transpose', 'Reshape']);
/** Ops between the Softmax and the P·V MatMul (casts, dropout, BLOOM's reshape). */
const TO_PV = new Set(['Cast', 'Dropout', 'Reshape']);

/** Graph lookups the walk uses: each value's producer and the nodes reading it (any input). */
interface Graph {
  readonly producer: ReadonlyMap<string, OnnxNode>;
  readonly readers: ReadonlyMap<string, readonly OnnxNode[]>;
  readonly summary: OnnxSummary;
}

function graphOf(summary: OnnxSummary): Graph {
  const producer = new Map<string, OnnxNode>();
  const readers = new Map<string, OnnxNode[]>();
  for (const n of summary.nodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      const list = readers.get(i);
      if (list) list.push(n);
      else readers.set(i, [n]);
    }
  }
  return { producer, readers, summary };
}

/** The single node reading `value`, or why there is not exactly one. */
function onlyReader(g: Graph, value: string, what: string): OnnxNode | string {
  const rs = g.readers.get(value) ?? [];
  if (rs.length === 1) return rs[0];
  return rs.length === 0 ? `nothing reads ${what}` : `${what} go to ${rs.length} nodes (${rs.slice(0, 3).map(describe).join(', ')}), not to one output projection`;
}

/** The MatMul(P, V) reached from the Softmax output `p` through casts, dropout and reshapes, or why not. */
function pvMatMul(g: Graph, p: string, depth = 3): OnnxNode | string {
  let why: string | undefined;
  for (const n of g.readers.get(p) ?? []) {
    if (n.opType === 'MatMul' && n.inputs[0] === p) return n;
    if (TO_PV.has(n.opType) && n.inputs[0] === p && depth > 0 && n.outputs[0]) {
      const found = pvMatMul(g, n.outputs[0], depth - 1);
      if (typeof found !== 'string') return found;
      why ??= found;
    } else why ??= `the probabilities go to ${describe(n)}, not to a MatMul with V`;
  }
  return why ?? 'nothing reads the probabilities';
}

/** Why the projection's weight `w` cannot be read (undefined when it is an fp32/fp16 initializer or a Transpose of one). */
function weightProblem(g: Graph, w: string): string | undefined {
  const init = (name: string): string | undefined => {
    const t = g.summary.initializerTypes?.get(name);
    if (t === undefined) return undefined;
    return t === ElemType.FLOAT || t === ElemType.FLOAT16 ? '' : `W_O is stored with element type ${t}, not as fp32 or fp16 weights`;
  };
  const direct = init(w);
  if (direct !== undefined) return direct || undefined;
  const p = g.producer.get(w);
  if (p?.opType === 'Transpose' && p.inputs[0]) {
    const t = init(p.inputs[0]);
    if (t !== undefined) return t || undefined;
  }
  if (!p) return 'W_O is a graph input, not a weight stored in the model';
  return p.opType === 'DequantizeLinear'
    ? 'W_O is quantized (it comes from a DequantizeLinear node), which this view does not decompose'
    : `W_O comes from ${describe(p)}, not from a weight stored in the model`;
}

/** True when `name` is a constant: an initializer or a Constant node's output. */
function isConstant(g: Graph, name: string): boolean {
  return g.summary.initializerNames.has(name) || g.producer.get(name)?.opType === 'Constant';
}

/** Plans one layer: from its Softmax output to the residual Add. */
function planLayer(g: Graph, softmax: string): ResidualPlan {
  const miss = (missing: string): ResidualMissing => ({ softmax, missing });
  const pvNode = pvMatMul(g, softmax);
  if (typeof pvNode === 'string') return miss(pvNode);
  const pv = pvNode.outputs[0];
  let value = pv;
  let proj: OnnxNode | undefined;
  for (let step = 0; step < 6 && !proj; step++) {
    const r = onlyReader(g, value, step === 0 ? 'the heads’ outputs (P·V)' : 'the merged heads');
    if (typeof r === 'string') return miss(r);
    if (r.opType === 'MatMul' && r.inputs[0] === value) proj = r;
    else if (r.opType === 'Gemm') return miss(`the output projection is ${describe(r)}, which this view does not decompose`);
    else if (MERGE.has(r.opType) && r.inputs[0] === value && r.outputs[0]) value = r.outputs[0];
    else return miss(`the heads’ outputs go to ${describe(r)}, not to an output projection MatMul`);
  }
  if (!proj) return miss('the heads’ outputs pass through more reshapes than this view follows');
  const weight = proj.inputs[1];
  const problem = weightProblem(g, weight);
  if (problem) return miss(problem);
  const projection = proj.outputs[0];
  let out = projection;
  let bias: string | undefined;
  for (let step = 0; step < 2; step++) {
    const r = onlyReader(g, out, 'the output projection’s result');
    if (typeof r === 'string') return miss(r);
    const other = r.opType === 'Add' && r.inputs.length === 2 ? r.inputs[r.inputs[0] === out ? 1 : 0] : undefined;
    if (other === undefined || other === out) return miss(`the output projection’s result goes to ${describe(r)}, not to an Add with the residual stream`);
    if (isConstant(g, other)) {
      if (bias !== undefined || !g.summary.initializerNames.has(other)) return miss(`the output projection’s result goes to ${describe(r)}, not to the residual stream`);
      bias = other;
      out = r.outputs[0];
      continue;
    }
    return { softmax, pv, weight, projection, ...(bias ? { bias } : {}), residual: other };
  }
  return miss('the output projection’s result is not added to the residual stream');
}

/** For each Softmax output (a layer), its residual sources or why they were not found. */
export function planResidualTaps(summary: OnnxSummary, softmaxOutputs: readonly string[]): ResidualPlan[] {
  const g = graphOf(summary);
  return softmaxOutputs.map((s) => planLayer(g, s));
}

/** Every tensor the planned layers need fetched (P·V, W_O, the projection, the bias and the residual), without duplicates. */
export function residualTapNames(plans: readonly ResidualPlan[]): string[] {
  const names = new Set<string>();
  for (const p of plans) if (isResidualSource(p)) for (const n of [p.pv, p.weight, p.projection, p.bias, p.residual]) if (n) names.add(n);
  return [...names];
}
