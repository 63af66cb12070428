/**
 * Tapping attention that lives inside If subgraphs, as in optimum's merged decoders
 * (decoder_model_merged.onnx: the whole decoder sits in both branches of an If on `use_cache_branch`).
 * A subgraph value cannot be a graph output, so each branch's Softmax outputs are added as branch outputs
 * (paired by layer order, checked on each branch's edges as in the main graph: layer-order.ts; the i-th
 * layer's Softmax of each branch), the If node gets one more output per pair, and
 * those become graph outputs named `attention_lens.tap/<node>/<kind>/<i>`. Unlike the main-graph tap this
 * rewrites the graph message: its bytes are copied once (or written out as parts) with the If node replaced,
 * weights are not decoded.
 * Pure: no vscode, no DOM.
 */
import { attentionKinds } from './graph-analysis';
import { orderLayers, worseOrder, type LayerOrderCheck } from './layer-order';
import {
  encodeExtraOutputs, planTap, scanOnnx, SUBGRAPH_TAP_PREFIX, TapError, type OnnxSummary, type TapPlan,
} from './onnx-tap';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A message being built as a list of byte ranges, most of them views of the model: concatenated once, at the end. */
type Parts = Uint8Array[];
const sizeOf = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0);
/** A length-delimited field `num` whose payload is `parts` (only the tag and length are new bytes). */
const lenField = (num: number, parts: Parts): Parts => [Uint8Array.from([...varint(num * 8 + 2), ...varint(sizeOf(parts))]), ...parts];

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(sizeOf(parts));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A field of a message: number, wire type, where it starts (tag) and where its payload lies. */
interface Field { num: number; wire: number; start: number; payloadStart: number; end: number }

/** Splits a message into its top-level fields without decoding their payloads. */
function fields(buf: Uint8Array, from = 0, to = buf.length): Field[] {
  const out: Field[] = [];
  let p = from;
  const readVarint = (): number => {
    let r = 0;
    let s = 0;
    for (;;) {
      if (p >= to) throw new TapError('Truncated varint: this is not a valid ONNX file.', 'not-onnx');
      const b = buf[p++];
      r += (b & 0x7f) * 2 ** s;
      if (b < 0x80) return r;
      s += 7;
    }
  };
  while (p < to) {
    const start = p;
    const tag = readVarint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    let payloadStart = p;
    if (wire === 0) readVarint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) { const len = readVarint(); payloadStart = p; p += len; } else {
      throw new TapError(`Unsupported protobuf wire type ${wire}: this is not a valid ONNX file.`, 'not-onnx');
    }
    if (p > to) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
    out.push({ num, wire, start, payloadStart, end: p });
  }
  return out;
}

/** Softmax output names among a GraphProto's top-level nodes in layer order, their kinds, and the order check. */
function branchSoftmax(graph: Uint8Array, outer: OnnxSummary): { names: string[]; kinds: ('self' | 'cross')[]; check: LayerOrderCheck } {
  const nodes = fields(graph).filter((f) => f.num === 1 && f.wire === 2).map((f) => {
    const parts = fields(graph, f.payloadStart, f.end);
    const strs = (n: number) => parts.filter((x) => x.num === n && x.wire === 2).map((x) => dec.decode(graph.subarray(x.payloadStart, x.end)));
    return { opType: strs(4)[0] ?? '', domain: strs(7)[0] ?? '', name: strs(3)[0] ?? '', inputs: strs(1), outputs: strs(2) };
  });
  const names = nodes.filter((n) => n.opType === 'Softmax' && (n.domain === '' || n.domain === 'ai.onnx')).map((n) => n.outputs[0]);
  const layers = orderLayers(nodes, names, attentionKinds({ ...outer, nodes }, names));
  return { names: layers.order, kinds: layers.kinds, check: layers.check };
}

/** The If node rewritten (as parts): branch outputs appended to then/else, the new node outputs, and the branches' layer-order check. */
function rewriteIf(model: Uint8Array, node: Field, index: number, outer: OnnxSummary):
  { parts: Parts; outputs: string[]; check: LayerOrderCheck | undefined } | undefined {
  const parts = fields(model, node.payloadStart, node.end);
  const branches: { field: Field; name: string; graph: Field; softmax: ReturnType<typeof branchSoftmax> }[] = [];
  for (const f of parts.filter((x) => x.num === 5 && x.wire === 2)) {
    const attr = fields(model, f.payloadStart, f.end);
    const nameField = attr.find((x) => x.num === 1 && x.wire === 2);
    const name = nameField ? dec.decode(model.subarray(nameField.payloadStart, nameField.end)) : '';
    const g = attr.find((x) => x.num === 6 && x.wire === 2);
    if ((name === 'then_branch' || name === 'else_branch') && g) {
      branches.push({ field: f, name, graph: g, softmax: branchSoftmax(model.subarray(g.payloadStart, g.end), outer) });
    }
  }
  const [a, b] = branches;
  if (!a || !b || a.softmax.names.length === 0) return undefined;
  if (a.softmax.names.length !== b.softmax.names.length) {
    throw new TapError(`The If node "${index}" has ${a.softmax.names.length} attention Softmax nodes in one branch and ` +
      `${b.softmax.names.length} in the other, so they cannot be paired. Use the unmerged export (onnx/decoder_model.onnx).`,
    'softmax-in-subgraph');
  }
  const outputs = a.softmax.names.map((_, i) => `${SUBGRAPH_TAP_PREFIX}${index}/${a.softmax.kinds[i]}/${i}`);
  const pieces: Parts = [];
  let p = node.payloadStart;
  for (const br of branches) {
    pieces.push(model.subarray(p, br.field.start));
    // AttributeProto + g{output…}: a repeated singular message field merges, so the branch gains outputs.
    const extraOutputs = encodeExtraOutputs(br.softmax.names, 0); // ModelProto{graph{output…}}
    const graphOutputs = fields(extraOutputs)[0];
    const addition = lenField(6, [extraOutputs.subarray(graphOutputs.payloadStart, graphOutputs.end)]);
    pieces.push(...lenField(5, [model.subarray(br.field.payloadStart, br.field.end), ...addition]));
    p = br.field.end;
  }
  pieces.push(model.subarray(p, node.end));
  for (const o of outputs) pieces.push(...lenField(2, [enc.encode(o)]));
  return { parts: lenField(1, pieces), outputs, check: worseOrder(a.softmax.check, b.softmax.check) };
}

/**
 * The model rewritten so that attention Softmax nodes inside If branches become graph outputs, as a list of
 * byte ranges whose concatenation is the new model (most are views of `model`: nothing is copied yet, so a
 * caller can write them to a file as they are), with the branches' layer-order check (the rewritten graph
 * no longer shows their edges); undefined when no If node holds Softmax nodes.
 */
export function rewriteSubgraphParts(model: Uint8Array): { parts: Uint8Array[]; layerOrder: LayerOrderCheck | undefined } | undefined {
  const summary = scanOnnx(model);
  const top = fields(model);
  const graph = top.find((f) => f.num === 7 && f.wire === 2);
  if (!graph) return undefined;
  const graphFields = fields(model, graph.payloadStart, graph.end);
  const pieces: Parts = [];
  const newOutputs: string[] = [];
  let layerOrder: LayerOrderCheck | undefined;
  let p = graph.payloadStart;
  graphFields.filter((f) => f.num === 1 && f.wire === 2).forEach((f, i) => {
    const node = summary.nodes[i];
    if (node?.opType !== 'If' || !(node.subgraphSoftmax ?? 0)) return;
    const rewritten = rewriteIf(model, f, i, summary);
    if (!rewritten) return;
    // Pushed one by one, not push(...): parts and outputs grow with the Softmax nodes, maybe past what a call takes as arguments.
    pieces.push(model.subarray(p, f.start));
    for (const part of rewritten.parts) pieces.push(part);
    for (const o of rewritten.outputs) newOutputs.push(o);
    layerOrder = worseOrder(layerOrder, rewritten.check);
    p = f.end;
  });
  if (newOutputs.length === 0) return undefined;
  pieces.push(model.subarray(p, graph.end));
  const extra = encodeExtraOutputs(newOutputs, 0);
  const extraGraph = fields(extra)[0];
  pieces.push(extra.subarray(extraGraph.payloadStart, extraGraph.end)); // the output fields themselves
  return { parts: [model.subarray(0, graph.start), ...lenField(7, pieces), model.subarray(graph.end)], layerOrder };
}

/** rewriteSubgraphParts concatenated into one new buffer (the only copy made), with the layer-order check. */
export function rewriteSubgraphs(model: Uint8Array): { bytes: Uint8Array; layerOrder: LayerOrderCheck | undefined } | undefined {
  const rewritten = rewriteSubgraphParts(model);
  return rewritten && { bytes: concat(rewritten.parts), layerOrder: rewritten.layerOrder };
}

/**
 * The tap plan for any supported model without copying it when appending suffices; for attention inside
 * If branches, also the rewritten bytes (which must then be used instead of appending).
 */
export function planAnyTap(model: Uint8Array): { plan: TapPlan; rewritten?: Uint8Array } {
  try {
    return { plan: planTap(scanOnnx(model)) };
  } catch (e) {
    if (!(e instanceof TapError) || e.code !== 'softmax-in-subgraph') throw e;
    const rewritten = rewriteSubgraphs(model);
    if (!rewritten) throw e;
    return { plan: { ...planTap(scanOnnx(rewritten.bytes)), layerOrder: rewritten.layerOrder }, rewritten: rewritten.bytes };
  }
}

/**
 * planTap for a summary, falling back to reading the whole model (`load`) only when its attention sits
 * inside If branches and the If node must be rewritten.
 */
export async function planTapLazily(summary: OnnxSummary, load: () => Promise<Uint8Array>): Promise<{ plan: TapPlan; rewritten?: Uint8Array }> {
  try {
    return { plan: planTap(summary) };
  } catch (e) {
    if (!(e instanceof TapError) || e.code !== 'softmax-in-subgraph') throw e;
    return planAnyTap(await load());
  }
}
