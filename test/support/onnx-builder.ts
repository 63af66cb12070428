/** Builds tiny ONNX ModelProto bytes by hand, for tap tests on graphs we cannot export here. Test-only. */

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
const bytesField = (num: number, payload: number[]): number[] => [...varint(num * 8 + 2), ...varint(payload.length), ...payload];
const intField = (num: number, v: number): number[] => [...varint(num * 8), ...varint(v)];
const strField = (num: number, s: string): number[] => bytesField(num, Array.from(new TextEncoder().encode(s)));

/** A node: op type, domain, inputs, outputs. */
export interface NodeSpec { op: string; domain?: string; inputs: string[]; outputs: string[] }

/** Encodes ModelProto{ir_version, opset_import, graph{node…, input…, output…}}. */
export function buildModel(nodes: NodeSpec[], inputs: string[], outputs: string[]): Uint8Array {
  const valueInfo = (name: string) => [...strField(1, name), ...bytesField(2, bytesField(1, intField(1, 1)))];
  let graph: number[] = [];
  for (const n of nodes) {
    let node: number[] = [];
    for (const i of n.inputs) node = node.concat(strField(1, i));
    for (const o of n.outputs) node = node.concat(strField(2, o));
    node = node.concat(strField(4, n.op));
    if (n.domain) node = node.concat(strField(7, n.domain));
    graph = graph.concat(bytesField(1, node));
  }
  graph = graph.concat(strField(2, 'g'));
  for (const i of inputs) graph = graph.concat(bytesField(11, valueInfo(i)));
  for (const o of outputs) graph = graph.concat(bytesField(12, valueInfo(o)));
  const opset = bytesField(8, [...strField(1, ''), ...intField(2, 14)]);
  return Uint8Array.from([...intField(1, 8), ...opset, ...bytesField(7, graph)]);
}
