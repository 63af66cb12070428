/**
 * Tapping what feeds each attention Softmax, so one weight can be explained: the pre-softmax scores (the
 * Softmax input, after scaling and masking) and, where the graph has the usual shape
 * Softmax ← (Where | Add mask | Cast | Reshape)* ← (Div | Mul by √d)? ← MatMul(Q, Kᵀ), the MatMul's inputs Q and Kᵀ
 * (BLOOM's and GPT-NeoX's baddbmm: Q and K as [heads, T, d], + ALiBi, Reshape to [1, heads, T, T]), and V through
 * Cast, Dropout and Reshape after the Softmax. Where the walk stops, `qkMissing` / `vMissing` say at what.
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
  /**
   * What an Add on the way from the MatMul to the Softmax adds to the scores, other than the scores themselves and
   * constants (BLOOM's ALiBi, an additive padding mask): the values tapped to recompute the scores with (qk-attention.ts
   * keyBias). Absent or empty when nothing is added.
   */
  readonly biases?: readonly string[];
  /**
   * For a term of `biases` gathered from an embedding initializer (T5's relative_attention_bias: Gather(E, buckets),
   * then Transpose/Unsqueeze), the initializer's name, by term: relative-bias.ts recomputes that term from E.
   */
  readonly tables?: Readonly<Record<string, string>>;
  /** V ([.., T, d_head]): the right input of the MatMul(P, V) that consumes the Softmax output, when found. */
  readonly v?: string;
  /** Why Q and Kᵀ were not found (the node the walk back from the Softmax could not pass), when they were not. */
  readonly qkMissing?: string;
  /** Why V was not found, when it was not. */
  readonly vMissing?: string;
}

/** Ops a score may pass through between the MatMul and the Softmax (masking, scaling, casts, baddbmm's reshape). */
const PASS = new Set(['Where', 'Add', 'Sub', 'Div', 'Mul', 'Cast', 'Reshape']);

/** How a node is named in a message: its op and name. */
const describe = (n: OnnxNode): string => `${n.opType}${n.name ? ` "${n.name}"` : ''}`;

function isConstant(name: string, producer: Map<string, OnnxNode>, summary: OnnxSummary): boolean {
  if (summary.initializerNames.has(name)) return true;
  const p = producer.get(name);
  return !p || p.opType === 'Constant' || p.opType === 'ConstantOfShape';
}

/** The MatMul a walk back from a Softmax reached, the scaling met on the way, and the non-constant terms Adds put on top. */
interface Found { matmul: OnnxNode; scaling: 'div' | 'mul' | 'none'; biases: string[] }

/**
 * Walks back from `name` through masking/scaling ops to a MatMul (at most `depth` ops). Returns the MatMul, the
 * scaling op met on the way and what Adds on the way add (their other non-constant operands), or undefined.
 */
function findMatMul(name: string, producer: Map<string, OnnxNode>, summary: OnnxSummary, depth: number,
  scaling: 'div' | 'mul' | 'none', stops: string[]): Found | undefined {
  const n = producer.get(name);
  if (!n || depth < 0) return undefined;
  if (n.opType === 'MatMul' && n.inputs.length === 2) return { matmul: n, scaling, biases: [] };
  if (!PASS.has(n.opType)) {
    stops.push(describe(n));
    return undefined;
  }
  // Where(cond, x, y): the scores are x or y; Add/Sub/Div/Mul: the non-constant operand(s); Cast, Reshape: the data input.
  const candidates = n.opType === 'Where' ? n.inputs.slice(1) : n.opType === 'Reshape' ? n.inputs.slice(0, 1) : n.inputs;
  const next = n.opType === 'Div' ? 'div' : n.opType === 'Mul' && scaling === 'none' ? 'mul' : scaling;
  for (const c of candidates) {
    if (isConstant(c, producer, summary)) continue;
    const found = findMatMul(c, producer, summary, depth - 1, next, stops);
    if (!found) continue;
    if (n.opType === 'Add') found.biases.push(...n.inputs.filter((o) => o !== c && !isConstant(o, producer, summary)));
    return found;
  }
  return undefined;
}

/** Ops a gathered position bias may pass through on its way to the scores (layout changes, and the decoder's mask). */
const TABLE_PASS = new Set(['Unsqueeze', 'Transpose', 'Reshape', 'Cast', 'Identity', 'Add', 'Where']);

/** The embedding initializer a term is gathered from (through TABLE_PASS ops, at most `depth`), or undefined. */
function tableOf(name: string, producer: Map<string, OnnxNode>, summary: OnnxSummary, depth = 6): string | undefined {
  const n = producer.get(name);
  if (!n || depth < 0) return undefined;
  if (n.opType === 'Gather' && summary.initializerNames.has(n.inputs[0])) return n.inputs[0];
  if (!TABLE_PASS.has(n.opType)) return undefined;
  const next = n.opType === 'Where' ? n.inputs.slice(1) : n.opType === 'Add' ? n.inputs : n.inputs.slice(0, 1);
  for (const c of next) {
    if (isConstant(c, producer, summary)) continue;
    const t = tableOf(c, producer, summary, depth - 1);
    if (t) return t;
  }
  return undefined;
}

/** The Q, Kᵀ, scaling and added terms (with the tables gathered ones come from) of a found score MatMul, as ScoreSources fields. */
function qkOf(found: Found, producer: Map<string, OnnxNode>, summary: OnnxSummary): Pick<ScoreSources, 'q' | 'kT' | 'scaling' | 'biases' | 'tables'> {
  const tables: Record<string, string> = {};
  for (const b of found.biases) {
    const t = tableOf(b, producer, summary);
    if (t) tables[b] = t;
  }
  return {
    q: found.matmul.inputs[0], kT: found.matmul.inputs[1], scaling: found.scaling, ...(found.biases.length ? { biases: found.biases } : {}),
    ...(Object.keys(tables).length ? { tables } : {}),
  };
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
    const stops: string[] = [];
    const found = findMatMul(logits, producer, summary, 8, 'none', stops);
    const v = valueOf(softmax, readers);
    const ends = [...new Set(stops)];
    const qkMissing = ends.length === 0 ? 'the walk back from the Softmax is longer than this view follows'
      : `the walk back from the Softmax ends at ${ends.slice(0, 3).join(', ')}${ends.length > 3 ? ` and ${ends.length - 3} more` : ''}, not at a MatMul of Q and Kᵀ`;
    out.push({
      softmax, logits, ...(found ? qkOf(found, producer, summary) : { qkMissing }),
      ...(typeof v === 'string' ? { v } : { vMissing: v.missing }),
    });
  }
  return out;
}

/**
 * V of the MatMul(P, V) that consumes a Softmax output `p` (directly, or through Cast, Dropout and Reshape), or why
 * not: the node that reads the probabilities instead.
 */
function valueOf(p: string, readers: ReadonlyMap<string, readonly OnnxNode[]>, depth = 3): string | { missing: string } {
  let missing: string | undefined;
  for (const n of readers.get(p) ?? []) {
    if (n.opType === 'MatMul' && n.inputs.length === 2) return n.inputs[1];
    if (['Cast', 'Dropout', 'Reshape'].includes(n.opType) && depth > 0 && n.outputs[0]) {
      const v = valueOf(n.outputs[0], readers, depth - 1);
      if (typeof v === 'string') return v;
      missing ??= v.missing;
    } else missing ??= `the probabilities go to ${describe(n)}, not to a MatMul with V`;
  }
  return { missing: missing ?? 'nothing reads the probabilities' };
}

/** Every tensor name the score taps need, without duplicates. */
export function scoreTapNames(sources: readonly ScoreSources[]): string[] {
  const names = new Set<string>();
  for (const s of sources) for (const n of [s.logits, s.q, s.kT, s.v, ...(s.biases ?? [])]) if (n) names.add(n);
  return [...names];
}
