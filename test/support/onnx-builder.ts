/** Builds tiny ONNX ModelProto bytes by hand, for tap tests on graphs we cannot export here. Test-only. */

/** Protobuf varint bytes of a non-negative integer. */
export function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
/** A length-delimited protobuf field. */
export const bytesField = (num: number, payload: number[]): number[] => [...varint(num * 8 + 2), ...varint(payload.length), ...payload];
const intField = (num: number, v: number): number[] => [...varint(num * 8), ...varint(v)];
/** A UTF-8 string protobuf field. */
export const strField = (num: number, s: string): number[] => bytesField(num, Array.from(new TextEncoder().encode(s)));

/** A node: op type, domain, inputs, outputs, and graph attributes (an If node's then_branch / else_branch). */
export interface NodeSpec {
  op: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  graphs?: Record<string, { nodes: NodeSpec[]; outputs: string[] }>;
  /** Number attributes: integers as INT (negative ones in ten bytes, as protobuf writes int64), others as FLOAT. */
  attrs?: Record<string, number>;
}

/** Protobuf varint bytes of an int64, negative values as their 64-bit two's complement. */
function signedVarint(n: number): number[] {
  if (n >= 0) return varint(n);
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
  out.push(Number(v));
  return out;
}

/** AttributeProto{name, i | f, type}. */
function numberAttribute(name: string, value: number): number[] {
  if (Number.isInteger(value)) return [...strField(1, name), ...varint(3 * 8), ...signedVarint(value), ...intField(20, 2)];
  const f = new Uint8Array(new Float32Array([value]).buffer);
  return [...strField(1, name), ...varint(2 * 8 + 5), ...f, ...intField(20, 1)];
}

/** TensorProto element types for `inputTypes` (inputs are FLOAT unless named there). */
export const BOOL = 9;

function encodeGraph(nodes: NodeSpec[], inputs: string[], outputs: string[], inputTypes: Record<string, number>): number[] {
  const valueInfo = (name: string, type = 1) => [...strField(1, name), ...bytesField(2, bytesField(1, intField(1, type)))];
  let graph: number[] = [];
  for (const n of nodes) {
    let node: number[] = [];
    for (const i of n.inputs) node = node.concat(strField(1, i));
    for (const o of n.outputs) node = node.concat(strField(2, o));
    node = node.concat(strField(4, n.op));
    if (n.domain) node = node.concat(strField(7, n.domain));
    for (const [name, value] of Object.entries(n.attrs ?? {})) node = node.concat(bytesField(5, numberAttribute(name, value)));
    for (const [name, g] of Object.entries(n.graphs ?? {})) {
      // AttributeProto{name, g, type: GRAPH (5)}
      node = node.concat(bytesField(5, [...strField(1, name), ...bytesField(6, encodeGraph(g.nodes, [], g.outputs, {})), ...intField(20, 5)]));
    }
    graph = graph.concat(bytesField(1, node));
  }
  graph = graph.concat(strField(2, 'g'));
  for (const i of inputs) graph = graph.concat(bytesField(11, valueInfo(i, inputTypes[i])));
  for (const o of outputs) graph = graph.concat(bytesField(12, valueInfo(o)));
  return graph;
}

/** Encodes ModelProto{ir_version, opset_import, graph{node…, input…, output…}}; inputs are FLOAT unless `inputTypes` says otherwise. */
export function buildModel(nodes: NodeSpec[], inputs: string[], outputs: string[], inputTypes: Record<string, number> = {}): Uint8Array {
  const opset = bytesField(8, [...strField(1, ''), ...intField(2, 14)]);
  return Uint8Array.from([...intField(1, 8), ...opset, ...bytesField(7, encodeGraph(nodes, inputs, outputs, inputTypes))]);
}
