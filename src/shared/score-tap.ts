/**
 * Tapping what feeds each attention Softmax, so one weight can be explained: the pre-softmax scores (the
 * Softmax input, after scaling and masking) and, where the graph has the usual shape
 * Softmax ← (Where | Add mask)* ← (Div | Mul by √d)? ← MatMul(Q, Kᵀ), the MatMul's inputs Q and Kᵀ.
 * `planScoreTaps` walks the scanned graph back from each Softmax; full-tap.ts appends the names
 * (`scoreTapNames`) as graph outputs together with the attention tap. Pure; imports neither `vscode` nor the DOM.
 */
import type { OnnxNode, OnnxSummary } from './onnx-tap';

/** What feeds one Softmax. */
export interface ScoreSources {
  /** The Softmax output (the attention tap's name for this layer). */
  readonly softmax: string;
  /** The Softmax input: scaled, masked scores. */
  readonly logits: string;
  /** The MatMul's left input (Q, [.., T, d_head]) and right input (Kᵀ, [.., d_head, T]); absent when not found. */
  readonly q?: string;
  readonly kT?: string;
  /** How the MatMul output is scaled on the way: divided, multiplied, or not at all (Q or K scaled before). */
  readonly scaling?: 'div' | 'mul' | 'none';
  /** V ([.., T, d_head]): the right input of the MatMul(P, V) that consumes the Softmax output, when found. */
  readonly v?: string;
}

/** Ops a score may pass through between the MatMul and the Softmax (masking, scaling, casts). */
const PASS = new Set(['Where', 'Add', 'Sub', 'Div', 'Mul', 'Cast']);

function isConstant(name: string, producer: Map<string, OnnxNode>, summary: OnnxSummary): boolean {
  if (summary.initializerNames.has(name)) return true;
  const p = producer.get(name);
  return !p || p.opType === 'Constant' || p.opType === 'ConstantOfShape';
}

/**
 * Walks back from `name` through masking/scaling ops to a MatMul (at most `depth` ops). Returns the MatMul
 * and the scaling op met on the way, or undefined.
 */
function findMatMul(name: string, producer: Map<string, OnnxNode>, summary: OnnxSummary, depth: number,
  scaling: 'div' | 'mul' | 'none'): { matmul: OnnxNode; scaling: 'div' | 'mul' | 'none' } | undefined {
  const n = producer.get(name);
  if (!n || depth < 0) return undefined;
  if (n.opType === 'MatMul' && n.inputs.length === 2) return { matmul: n, scaling };
  if (!PASS.has(n.opType)) return undefined;
  // Where(cond, x, y): the scores are x or y; Add/Sub/Div/Mul: the non-constant operand(s); Cast: its input.
  const candidates = n.opType === 'Where' ? n.inputs.slice(1) : n.inputs;
  const next = n.opType === 'Div' ? 'div' : n.opType === 'Mul' && scaling === 'none' ? 'mul' : scaling;
  for (const c of candidates) {
    if (isConstant(c, producer, summary)) continue;
    const found = findMatMul(c, producer, summary, depth - 1, next);
    if (found) return found;
  }
  return undefined;
}

/** For each named Softmax output, its input and (where found) the Q and Kᵀ of the score MatMul. */
export function planScoreTaps(summary: OnnxSummary, softmaxOutputs: readonly string[]): ScoreSources[] {
  const producer = new Map<string, OnnxNode>();
  for (const n of summary.nodes) for (const o of n.outputs) producer.set(o, n);
  // The nodes reading each value as their first input, in graph order (valueOf looks there): one pass, not one per Softmax.
  const readers = new Map<string, OnnxNode[]>();
  for (const n of summary.nodes) {
    if (n.inputs[0] === undefined) continue;
    const list = readers.get(n.inputs[0]);
    if (list) list.push(n);
    else readers.set(n.inputs[0], [n]);
  }
  const out: ScoreSources[] = [];
  for (const softmax of softmaxOutputs) {
    const node = producer.get(softmax);
    if (!node || node.opType !== 'Softmax' || !node.inputs[0]) continue;
    const logits = node.inputs[0];
    const found = findMatMul(logits, producer, summary, 6, 'none');
    const v = valueOf(softmax, readers);
    out.push({
      softmax, logits, ...(found ? { q: found.matmul.inputs[0], kT: found.matmul.inputs[1], scaling: found.scaling } : {}),
      ...(v ? { v } : {}),
    });
  }
  return out;
}

/** V of the MatMul(P, V) that consumes a Softmax output `p` (directly, or through a Cast or Dropout). */
function valueOf(p: string, readers: ReadonlyMap<string, readonly OnnxNode[]>, depth = 2): string | undefined {
  for (const n of readers.get(p) ?? []) {
    if (n.opType === 'MatMul' && n.inputs.length === 2) return n.inputs[1];
    if ((n.opType === 'Cast' || n.opType === 'Dropout') && depth > 0 && n.outputs[0]) {
      const v = valueOf(n.outputs[0], readers, depth - 1);
      if (v) return v;
    }
  }
  return undefined;
}

/** Every tensor name the score taps need, without duplicates. */
export function scoreTapNames(sources: readonly ScoreSources[]): string[] {
  const names = new Set<string>();
  for (const s of sources) for (const n of [s.logits, s.q, s.kT, s.v]) if (n) names.add(n);
  return [...names];
}
