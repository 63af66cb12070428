/**
 * The model a paged run uses (issue 16): the tapped bytes without the outputs full-tap.ts appended (every Softmax
 * output and score tap), followed by outputs for only what a paged run fetches (Q and Kᵀ, V, the fallback layers'
 * Softmax). onnxruntime keeps every declared graph output alive until a run ends, fetched or not: a model that still
 * declares its Softmax outputs holds the whole [layers, heads, T, T] stack in its heap (6 GiB at T = 2 048 on a
 * 24 × 16 model), which is what paging exists to avoid. Pure: no `vscode`, no DOM.
 */
import { encodeExtraOutputs, Reader } from './onnx-tap';

/** True when a GraphProto's bytes hold nothing but outputs (field 12): an appended tap, not the model's graph. */
function outputsOnly(graph: Uint8Array): boolean {
  const r = new Reader(graph);
  while (!r.done()) {
    const [num, wire] = r.tag();
    if (num !== 12) return false;
    r.skip(wire);
  }
  return true;
}

/** Names of the outputs (field 12) a GraphProto declares. */
function declaredOutputs(graph: Uint8Array, into: Set<string>): void {
  const r = new Reader(graph);
  while (!r.done()) {
    const [num, wire] = r.tag();
    if (num !== 12 || wire !== 2) {
      r.skip(wire);
      continue;
    }
    const v = new Reader(r.bytes());
    while (!v.done()) {
      const [n, w] = v.tag();
      if (n === 1 && w === 2) into.add(new TextDecoder().decode(v.bytes()));
      else v.skip(w);
    }
  }
}

/**
 * `tapped` with its appended outputs-only graph messages dropped and one declaring `names` appended (those the model
 * declares itself are not repeated). Undefined when there is no appended tap to drop (the taps of a rewritten merged
 * decoder are outputs of its If node, not an appended message).
 */
export function retapForPaging(tapped: Uint8Array, names: readonly string[]): Uint8Array | undefined {
  const r = new Reader(tapped);
  const kept: [number, number][] = [];
  const declared = new Set<string>();
  let dropped = 0;
  while (!r.done()) {
    const start = r.pos;
    const [num, wire] = r.tag();
    if (num === 7 && wire === 2) {
      const graph = r.bytes();
      if (outputsOnly(graph)) {
        dropped++;
        continue;
      }
      declaredOutputs(graph, declared);
    } else r.skip(wire);
    const last = kept[kept.length - 1];
    if (last && last[1] === start) last[1] = r.pos;
    else kept.push([start, r.pos]);
  }
  if (dropped === 0) return undefined;
  const suffix = encodeExtraOutputs([...new Set(names)].filter((n) => !declared.has(n)), 0);
  const size = kept.reduce((s, [a, b]) => s + b - a, 0);
  const out = new Uint8Array(size + suffix.length);
  let o = 0;
  for (const [a, b] of kept) {
    out.set(tapped.subarray(a, b), o);
    o += b - a;
  }
  out.set(suffix, o);
  return out;
}
