/**
 * Tapping attention probabilities out of an unmodified ONNX graph.
 *
 * `scanOnnx` walks the protobuf wire format of a ModelProto without decoding initializers (weights are
 * skipped by length, never copied). `tapAttention` appends a tiny encoded `ModelProto{graph{output…}}`
 * after the original bytes: protobuf merges concatenated messages, appending repeated fields, so the
 * result is the same model with extra graph outputs and the weights are not re-encoded.
 * `planTap` orders the Softmax outputs by layer, checked on the graph's edges (layer-order.ts: each layer's
 * attention must depend on the previous one's). `collectAttention` then checks what the tapped outputs hold
 * after a run: shape [batch, heads, q, k], rows summing to 1, causality from exact zeros above the diagonal.
 * Imports neither `vscode` nor the DOM.
 */
import { attentionKinds, inferElemTypes } from './graph-analysis';
import { findFusedAttention, fusedTapNames, type FusedSource } from './fused-plan';
import { orderLayers, type LayerOrderCheck } from './layer-order';
import { TapError } from './tap-error';

export { TapError } from './tap-error';
export * from './tap-collect';

/** ONNX TensorProto element types we care about. */
export const ElemType = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

/** A node of the main graph, as far as the tap needs it. */
export interface OnnxNode {
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The `to` attribute of a Cast node. */
  readonly castTo?: number;
  /** Softmax nodes inside this node's subgraphs (If/Loop/Scan branches), counted recursively. */
  readonly subgraphSoftmax?: number;
  /** Int, float and ints attributes, kept for fused attention nodes only (fused-plan.ts reads heads, scale, causal…). */
  readonly attributes?: Readonly<Record<string, number | readonly number[]>>;
}

/** A graph input or output: name, element type and (symbolic or fixed) dims when declared. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly (number | string)[];
}

/** What `scanOnnx` finds in a model. */
export interface OnnxSummary {
  readonly irVersion: number;
  readonly opsets: readonly { domain: string; version: number }[];
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** Names of initializers (constant weights); graph inputs with these names need no feed. */
  readonly initializerNames: ReadonlySet<string>;
  /** Element type of the first floating-point initializer (FLOAT or FLOAT16), if any. */
  readonly weightType?: number;
  /** Element type of each initializer, by name. */
  readonly initializerTypes?: ReadonlyMap<string, number>;
  /** Files named by initializers stored outside the model (external data `location`), in first-use order. */
  readonly externalDataFiles?: readonly string[];
}

/** Fused attention operators (com.microsoft's, and ONNX's own Attention): no Softmax node to tap. */
export const FUSED_ATTENTION_OPS: ReadonlySet<string> = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention',
  'PackedMultiHeadAttention', 'DecoderMaskedMultiHeadAttention', 'SparseAttention']);

// ------------------------------------------------------------------ protobuf wire format

/** A protobuf wire-format reader over a byte range (ONNX files: ModelProto and what it holds). */
export class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new TapError('Truncated varint: this is not a valid ONNX file.', 'not-onnx');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new TapError('Malformed varint: this is not a valid ONNX file.', 'not-onnx');
    }
  }

  /** A varint read as a signed 64-bit integer (negative ints take ten bytes), exact up to 2⁵³. */
  signedVarint(): number {
    const start = this.pos;
    const unsigned = this.varint();
    if (unsigned < 2 ** 63) return unsigned; // the common case, without BigInt
    this.pos = start;
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new TapError('Truncated varint: this is not a valid ONNX file.', 'not-onnx');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return Number(BigInt.asIntN(64, v));
      shift += 7n;
      if (shift > 63n) throw new TapError('Malformed varint: this is not a valid ONNX file.', 'not-onnx');
    }
  }

  /** A little-endian float32 (wire type 5). */
  float32(): number {
    if (this.pos + 4 > this.end) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** Returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new TapError(`Unsupported protobuf wire type ${wire}: this is not a valid ONNX file.`, 'not-onnx');
    if (this.pos > this.end) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
  }
}

/**
 * Most levels of subgraphs (If/Loop/Scan bodies inside each other) read. Exports nest one or two (a merged
 * decoder's If); a file nesting thousands would otherwise exhaust the stack.
 */
export const MAX_GRAPH_DEPTH = 32;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const str = (b: Uint8Array): string => utf8.decode(b);

/** `depth` is how many subgraphs enclose the node (0 in the main graph). */
function readNode(buf: Uint8Array, depth = 0): OnnxNode {
  const r = new Reader(buf);
  const inputs: string[] = [];
  const outputs: string[] = [];
  let opType = '';
  let domain = '';
  let name = '';
  let castTo: number | undefined;
  let subgraphSoftmax = 0;
  const attributes: Record<string, number | readonly number[]> = {};
  while (!r.done()) {
    const [f, w] = r.tag();
    if (w !== 2) { r.skip(w); continue; }
    const b = r.bytes();
    if (f === 1) inputs.push(str(b));
    else if (f === 2) outputs.push(str(b));
    else if (f === 3) name = str(b);
    else if (f === 4) opType = str(b);
    else if (f === 7) domain = str(b);
    else if (f === 5) {
      const a = readAttribute(b, depth);
      if (a.name === 'to' && a.i !== undefined) castTo = a.i;
      const value = a.i ?? a.f ?? a.ints;
      if (value !== undefined) attributes[a.name] = value;
      subgraphSoftmax += a.subgraphSoftmax;
    }
  }
  const fused = FUSED_ATTENTION_OPS.has(opType) ? { attributes } : {};
  return { opType, domain, name, inputs, outputs, castTo: opType === 'Cast' ? castTo : undefined, subgraphSoftmax, ...fused };
}

/** An AttributeProto's name, int, float or ints value, and the Softmax nodes in its subgraph(s) (fields g and graphs). */
function readAttribute(buf: Uint8Array, depth: number): { name: string; i?: number; f?: number; ints?: number[]; subgraphSoftmax: number } {
  const r = new Reader(buf);
  let name = '';
  let i: number | undefined;
  let f32: number | undefined;
  let ints: number[] | undefined;
  let subgraphSoftmax = 0;
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) name = str(r.bytes());
    else if (f === 3 && w === 0) i = r.signedVarint();
    else if (f === 2 && w === 5) f32 = r.float32();
    else if (f === 8 && w === 0) (ints ??= []).push(r.signedVarint());
    else if (f === 8 && w === 2) { // packed ints
      const p = new Reader(r.bytes());
      ints ??= [];
      while (!p.done()) ints.push(p.signedVarint());
    } else if ((f === 6 || f === 11) && w === 2) subgraphSoftmax += countSoftmax(r.bytes(), depth + 1);
    else r.skip(w);
  }
  return { name, i, f: f32, ints, subgraphSoftmax };
}

/** Softmax nodes in a GraphProto at subgraph level `depth`, including nested subgraphs; refuses more than MAX_GRAPH_DEPTH levels. */
function countSoftmax(graph: Uint8Array, depth: number): number {
  if (depth > MAX_GRAPH_DEPTH) {
    throw new TapError(`This graph nests subgraphs (If, Loop or Scan bodies) more than ${MAX_GRAPH_DEPTH} levels deep; Attention Lens ` +
      `reads at most ${MAX_GRAPH_DEPTH}. Use an export without such nesting (an unmerged decoder_model.onnx, for example).`, 'too-deep');
  }
  const g = new Reader(graph);
  let n = 0;
  while (!g.done()) {
    const [f, w] = g.tag();
    if (f !== 1 || w !== 2) { g.skip(w); continue; }
    const node = readNode(g.bytes(), depth);
    n += (node.opType === 'Softmax' ? 1 : 0) + (node.subgraphSoftmax ?? 0);
  }
  return n;
}

function readValueInfo(buf: Uint8Array): OnnxValueInfo {
  const r = new Reader(buf);
  let name = '';
  let elemType = 0;
  const dims: (number | string)[] = [];
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) name = str(r.bytes());
    else if (f === 2 && w === 2) {
      const t = new Reader(r.bytes());
      while (!t.done()) {
        const [tf, tw] = t.tag();
        if (tf !== 1 || tw !== 2) { t.skip(tw); continue; }
        const tt = new Reader(t.bytes()); // TypeProto.Tensor
        while (!tt.done()) {
          const [ef, ew] = tt.tag();
          if (ef === 1 && ew === 0) elemType = tt.varint();
          else if (ef === 2 && ew === 2) {
            const shape = new Reader(tt.bytes());
            while (!shape.done()) {
              const [sf, sw] = shape.tag();
              if (sf !== 1 || sw !== 2) { shape.skip(sw); continue; }
              const dim = new Reader(shape.bytes());
              let value: number | string = '?';
              while (!dim.done()) {
                const [df, dw] = dim.tag();
                if (df === 1 && dw === 0) value = dim.varint();
                else if (df === 2 && dw === 2) value = str(dim.bytes());
                else dim.skip(dw);
              }
              dims.push(value);
            }
          } else tt.skip(ew);
        }
      }
    } else r.skip(w);
  }
  return { name, elemType, dims };
}

/** Reads name, data_type and external-data location of a TensorProto without touching its data. */
function readInitializerHead(buf: Uint8Array): { name: string; dataType: number; location?: string } {
  const r = new Reader(buf);
  let name = '';
  let dataType = 0;
  let location: string | undefined;
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 8 && w === 2) name = str(r.bytes());
    else if (f === 2 && w === 0) dataType = r.varint();
    else if (f === 13 && w === 2) { // external_data: StringStringEntryProto{key, value}
      const e = new Reader(r.bytes());
      let key = '';
      let value = '';
      while (!e.done()) {
        const [ef, ew] = e.tag();
        if (ef === 1 && ew === 2) key = str(e.bytes());
        else if (ef === 2 && ew === 2) value = str(e.bytes());
        else e.skip(ew);
      }
      if (key === 'location') location = value;
    } else r.skip(w);
  }
  return { name, dataType, location };
}

/** Scans an ONNX ModelProto: nodes, inputs, outputs and initializer names of the main graph. */
export function scanOnnx(model: Uint8Array): OnnxSummary {
  if (model.length < 8) throw new TapError('The file is too small to be an ONNX model.', 'not-onnx');
  const r = new Reader(model);
  let irVersion = 0;
  let sawGraph = false;
  const opsets: { domain: string; version: number }[] = [];
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializerNames = new Set<string>();
  const initializerTypes = new Map<string, number>();
  const externalDataFiles: string[] = [];
  const seenLocations = new Set<string>();
  let weightType: number | undefined;
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 0) irVersion = r.varint();
    else if (f === 8 && w === 2) {
      const o = new Reader(r.bytes());
      let domain = '';
      let version = 0;
      while (!o.done()) {
        const [of, ow] = o.tag();
        if (of === 1 && ow === 2) domain = str(o.bytes());
        else if (of === 2 && ow === 0) version = o.varint();
        else o.skip(ow);
      }
      opsets.push({ domain, version });
    } else if (f === 7 && w === 2) {
      sawGraph = true;
      const g = new Reader(r.bytes());
      while (!g.done()) {
        const [gf, gw] = g.tag();
        if (gw !== 2) { g.skip(gw); continue; }
        const b = g.bytes();
        if (gf === 1) nodes.push(readNode(b));
        else if (gf === 11) inputs.push(readValueInfo(b));
        else if (gf === 12) outputs.push(readValueInfo(b));
        else if (gf === 5) {
          const head = readInitializerHead(b);
          initializerNames.add(head.name);
          initializerTypes.set(head.name, head.dataType);
          if (head.location !== undefined && !seenLocations.has(head.location)) { // a Set: includes() is quadratic in the files
            seenLocations.add(head.location);
            externalDataFiles.push(head.location);
          }
          if (weightType === undefined && (head.dataType === ElemType.FLOAT || head.dataType === ElemType.FLOAT16)) {
            weightType = head.dataType;
          }
        }
      }
    } else r.skip(w);
  }
  if (!sawGraph || irVersion === 0) throw new TapError('No ONNX graph found: this file is not an ONNX model.', 'not-onnx');
  return { irVersion, opsets, nodes, inputs, outputs, initializerNames, weightType, initializerTypes, externalDataFiles };
}

/** Graph inputs that must be fed (declared inputs that are not initializers). */
export function requiredInputs(summary: OnnxSummary): OnnxValueInfo[] {
  return summary.inputs.filter((i) => !summary.initializerNames.has(i.name));
}

// ------------------------------------------------------------------ encoding the appended outputs

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function field(num: number, payload: number[]): number[] {
  return [...varintBytes(num * 8 + 2), ...varintBytes(payload.length), ...payload];
}

const utf8Encoder = new TextEncoder();

/**
 * Encodes `ModelProto{graph{output: [ValueInfo(name, tensor(elemType))…]}}`. With elemType 0 the outputs
 * carry no type and onnxruntime takes the type the graph infers (float16 Softmax in fp16 graphs, float32
 * where a graph upcasts before Softmax), so one encoding fits every precision.
 */
export function encodeExtraOutputs(names: readonly string[], elemType: number): Uint8Array {
  const tensorType = [8, ...varintBytes(elemType)]; // TypeProto.Tensor.elem_type = field 1, varint
  const typeField = elemType ? field(2, field(1, tensorType)) : []; // ValueInfo.type = field 2, TypeProto.tensor_type = field 1
  // Written straight into one buffer sized first: arrays of numbers concatenated per name were quadratic in the names.
  const encoded = names.map((name) => utf8Encoder.encode(name));
  const valueInfoSize = (n: Uint8Array) => 1 + varintBytes(n.length).length + n.length + typeField.length;
  const graphSize = encoded.reduce((sum, n) => sum + 1 + varintBytes(valueInfoSize(n)).length + valueInfoSize(n), 0);
  const head = [...varintBytes(7 * 8 + 2), ...varintBytes(graphSize)];
  const out = new Uint8Array(head.length + graphSize);
  out.set(head, 0);
  let o = head.length;
  const put = (bytes: ArrayLike<number>) => { out.set(bytes, o); o += bytes.length; };
  for (const n of encoded) {
    put([12 * 8 + 2, ...varintBytes(valueInfoSize(n)), 1 * 8 + 2, ...varintBytes(n.length)]); // graph.output, ValueInfo.name
    put(n);
    put(typeField);
  }
  return out;
}

/** Prefix of the graph outputs tap-subgraph.ts adds for attention inside If branches. */
export const SUBGRAPH_TAP_PREFIX = 'attention_lens.tap/';

/** Candidate attention tensors: outputs of Softmax nodes in the main graph, in layer (= dependency) order. */
export interface TapPlan {
  readonly softmaxOutputs: readonly string[];
  /** The Softmax outputs that are not graph outputs yet (all of them, unless the model was tapped before). */
  readonly toAppend?: readonly string[];
  /** Element type the first Softmax output carries as inferred from the graph (FLOAT16 for fp16 graphs). */
  readonly elemType: number;
  /** Inferred element type of each Softmax output (0 where unknown); the tap itself declares no type. */
  readonly elemTypes?: readonly number[];
  /** Per Softmax output: 'cross' when its input depends on the encoder's hidden states, else 'self'. */
  readonly kinds?: readonly AttentionKind[];
  /** Whether the graph's edges fix that order (layer-order.ts); absent where it was not checked (a re-planned rewritten model). */
  readonly layerOrder?: LayerOrderCheck;
  /**
   * Fused attention nodes, one per layer in layer order, when the graph's attention is fused: `softmaxOutputs` then
   * holds their outputs and `toAppend` every tensor they read (graph inputs and initializers included), so the
   * worker can recompute the probabilities (fused-collect.ts).
   */
  readonly fused?: readonly FusedSource[];
}

/** Self-attention, or cross-attention over an encoder's output (seq2seq decoders). */
export type AttentionKind = 'self' | 'cross';

/** Finds the Softmax outputs to tap, or throws a TapError that says why there are none. */
export function planTap(summary: OnnxSummary): TapPlan {
  const existing = new Set(summary.outputs.map((o) => o.name));
  const fused = planFused(summary, existing);
  if (fused) return fused;
  const softmaxOutputs = summary.nodes
    .filter((n) => n.opType === 'Softmax' && (n.domain === '' || n.domain === 'ai.onnx'))
    .map((n) => n.outputs[0])
    .filter((name) => !!name);
  const subgraphTaps = summary.outputs.map((o) => o.name).filter((n) => n.startsWith(SUBGRAPH_TAP_PREFIX));
  if (softmaxOutputs.length === 0 && subgraphTaps.length) {
    // A model rewriteSubgraphs rewrote (a merged decoder): its If node already exposes the branches' attention.
    const kinds = subgraphTaps.map((n) => (n.split('/')[2] === 'cross' ? 'cross' : 'self'));
    const elemType = summary.weightType === ElemType.FLOAT16 ? ElemType.FLOAT16 : ElemType.FLOAT;
    return { softmaxOutputs: subgraphTaps, toAppend: [], elemType, elemTypes: subgraphTaps.map(() => 0), kinds };
  }
  if (softmaxOutputs.length === 0) {
    const fused = summary.nodes.find((n) => FUSED_ATTENTION_OPS.has(n.opType));
    if (fused) {
      throw new TapError(
        `Attention in this graph is fused into a ${fused.domain || 'ai.onnx'} ${fused.opType} node, which has no ` +
          'Softmax to tap, and Attention Lens recomputes attention only from com.microsoft Attention, MultiHeadAttention, ' +
          'GroupQueryAttention and ONNX Attention. Export the model without attention fusion (for example, skip ORT transformer ' +
          'optimizations) and try again.',
        'fused-attention',
      );
    }
    const nested = summary.nodes.find((n) => (n.subgraphSoftmax ?? 0) > 0);
    if (nested) {
      throw new TapError(
        `This graph computes attention inside the subgraphs of a ${nested.opType} node ("${nested.name}"), as merged ` +
          'decoders (decoder_model_merged.onnx, with a use_cache_branch input) do; a Softmax inside a subgraph cannot ' +
          'be made a graph output by appending; rewriteSubgraphs (tap-subgraph.ts) rewrites the If node to expose it, or use the ' +
          'unmerged export: onnx/decoder_model.onnx or onnx/model.onnx.',
        'softmax-in-subgraph',
      );
    }
    throw new TapError('This graph has no Softmax node, so there are no attention probabilities to tap.', 'no-softmax');
  }
  const layers = orderLayers(summary.nodes, softmaxOutputs, attentionKinds(summary, softmaxOutputs));
  const types = inferElemTypes(summary);
  const elemTypes = layers.order.map((n) => types.get(n) ?? 0);
  const fallback = summary.weightType === ElemType.FLOAT16 ? ElemType.FLOAT16 : ElemType.FLOAT;
  const elemType = elemTypes[0] || fallback;
  const toAppend = layers.order.filter((n) => !existing.has(n));
  return { softmaxOutputs: layers.order, toAppend, elemType, elemTypes, kinds: layers.kinds, layerOrder: layers.check };
}

/** The plan for a graph whose attention is fused into recomputable operators (fused-plan.ts), or undefined. */
function planFused(summary: OnnxSummary, existing: ReadonlySet<string>): TapPlan | undefined {
  const sources = findFusedAttention(summary);
  if (sources.length === 0) return undefined;
  const outputs = sources.map((s) => s.output);
  const layers = orderLayers(summary.nodes, outputs, attentionKinds(summary, outputs));
  const byOutput = new Map(sources.map((s) => [s.output, s]));
  const fused = layers.order.map((o) => byOutput.get(o)!);
  const elemType = summary.weightType === ElemType.FLOAT16 ? ElemType.FLOAT16 : ElemType.FLOAT;
  return {
    softmaxOutputs: layers.order, toAppend: fusedTapNames(fused).filter((n) => !existing.has(n)), elemType,
    elemTypes: layers.order.map(() => 0), kinds: layers.kinds, layerOrder: layers.check, fused,
  };
}

/** The bytes to append to a model so that every planned Softmax output is a graph output (empty if none). */
export function tapSuffix(plan: TapPlan): Uint8Array {
  const names = plan.toAppend ?? plan.softmaxOutputs;
  return names.length ? encodeExtraOutputs(names, 0) : new Uint8Array(0);
}

/**
 * Returns the model bytes with every planned Softmax output added as an (untyped) graph output (one copy),
 * or the same bytes when the model is already tapped (a cached tapped file).
 */
export function tapAttention(model: Uint8Array, plan: TapPlan): Uint8Array {
  return appendSuffix(model, tapSuffix(plan));
}

/** `model` followed by `suffix` in one new buffer (protobuf merges the appended graph outputs); `model` itself when empty. */
export function appendSuffix(model: Uint8Array, suffix: Uint8Array): Uint8Array {
  if (suffix.length === 0) return model;
  const out = new Uint8Array(model.length + suffix.length);
  out.set(model, 0);
  out.set(suffix, model.length);
  return out;
}
