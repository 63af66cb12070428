/**
 * Seeded mutations of ONNX files for the fuzz test (test/unit/fuzz-models.test.ts): a fixed-seed PRNG, a map of
 * where a file's structure lies (everything but the weights' payloads, which the scan skips by length), byte-level
 * mutations aimed mostly at that structure, and a few small structural models built with onnx-builder.ts.
 * Every mutant is a pure function of (seed, index, original bytes), so a failure reproduces from the seed and
 * index it is reported with. Test-only, pure.
 */
import { mulberry32 } from '../../src/shared/head-labels';
import { BOOL, buildModel, type NodeSpec } from './onnx-builder';

/** A PRNG with helpers. */
export class Rng {
  private readonly next: () => number;
  constructor(seed: number) { this.next = mulberry32(seed); }
  float(): number { return this.next(); }
  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * Math.max(0, hi - lo)); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(0, xs.length)]; }
  chance(p: number): boolean { return this.next() < p; }
}

/** The seed of mutant `index` under run seed `seed`: mutants are independent, so one can be rerun alone. */
export const mutantSeed = (seed: number, index: number): number => (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;

// ------------------------------------------------------------------ where the structure lies

/** Where a file's structure lies: byte ranges the scan reads, and the length prefixes of its length-delimited fields. */
export interface StructureMap {
  /** [start, end) ranges of bytes that are not weight payloads, merged. */
  readonly ranges: readonly (readonly [number, number])[];
  readonly structuralBytes: number;
  /** Length prefixes: where the varint starts, how many bytes it takes, the length it holds. */
  readonly lengths: readonly { pos: number; size: number; value: number }[];
  /**
   * Whole fields inside the graph (nodes, inputs, outputs, attributes…): [tag start, end) and the indices (in
   * `lengths`) of the enclosing messages' length prefixes.
   */
  readonly fields: readonly { readonly start: number; readonly end: number; readonly parents: readonly number[] }[];
}

/** The message type of each length-delimited field worth descending into, by the enclosing message type. */
const SUBMESSAGES: Record<string, Record<number, string>> = {
  model: { 7: 'graph', 8: 'opset' },
  graph: { 1: 'node', 5: 'tensor', 11: 'value', 12: 'value', 13: 'value' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 11: 'graph' },
  value: { 2: 'type' },
  type: { 1: 'tensorType' },
  tensorType: { 2: 'shape' },
  shape: { 1: 'dim' },
  tensor: { 13: 'entry' },
};
/** TensorProto fields holding data (float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data). */
const TENSOR_DATA = new Set([4, 5, 6, 7, 9, 10, 11]);

function readVarint(buf: Uint8Array, p: number, end: number): [number, number] {
  let v = 0;
  for (let shift = 0; p < end && shift < 64; shift += 7) {
    const b = buf[p++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [v, p];
  }
  throw new Error(`bad varint at ${p} in an unmutated file`);
}

/** Maps a valid ModelProto (the unmutated files only). */
export function mapStructure(buf: Uint8Array): StructureMap {
  const skipped: [number, number][] = [];
  const lengths: { pos: number; size: number; value: number }[] = [];
  const fields: { start: number; end: number; parents: number[] }[] = [];
  const walk = (type: string, from: number, to: number, inGraph: boolean, parents: number[]): void => {
    let p = from;
    while (p < to) {
      const start = p;
      const [tag, q] = readVarint(buf, p, to);
      p = q;
      const num = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) p = readVarint(buf, p, to)[1];
      else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const [len, payload] = readVarint(buf, p, to);
        lengths.push({ pos: p, size: payload - p, value: len });
        const self = lengths.length - 1;
        p = payload + len;
        if (type === 'tensor' && TENSOR_DATA.has(num)) skipped.push([payload, p]);
        else if (SUBMESSAGES[type]?.[num]) walk(SUBMESSAGES[type][num], payload, p, inGraph || type === 'graph', [...parents, self]);
      } else throw new Error(`wire type ${wire} at ${start} in an unmutated file`);
      if (inGraph || type === 'graph') fields.push({ start, end: p, parents });
    }
  };
  walk('model', 0, buf.length, false, []);
  skipped.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  let at = 0;
  for (const [s, e] of skipped) {
    if (s > at) ranges.push([at, s]);
    at = Math.max(at, e);
  }
  if (at < buf.length) ranges.push([at, buf.length]);
  return { ranges, structuralBytes: ranges.reduce((n, [s, e]) => n + e - s, 0), lengths, fields };
}

/** A uniformly random structural position (90%) or any position (10%). */
function position(rng: Rng, buf: Uint8Array, map: StructureMap): number {
  if (map.structuralBytes === 0 || rng.chance(0.1)) return rng.int(0, buf.length);
  let k = rng.int(0, map.structuralBytes);
  for (const [s, e] of map.ranges) {
    if (k < e - s) return s + k;
    k -= e - s;
  }
  return buf.length - 1;
}

// ------------------------------------------------------------------ byte-level mutations

/** A mutant: its bytes and a description precise enough to redo it by hand. */
export interface Mutant {
  readonly bytes: Uint8Array;
  /** The kind, for the test's tally. */
  readonly kind: string;
  readonly mutation: string;
}

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/** `value` as a varint of exactly `size` bytes (continuation bytes padding it), or undefined if it needs more. */
function varintOfSize(value: number, size: number): number[] | undefined {
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    const low = value % 128;
    value = Math.floor(value / 128);
    out.push(i < size - 1 ? low | 0x80 : low);
  }
  return value === 0 ? out : undefined;
}

export const BYTE_MUTATIONS = ['truncate', 'flip', 'ff', 'length', 'duplicate', 'remove'] as const;
export type ByteMutation = typeof BYTE_MUTATIONS[number];

/** One byte-level mutation of `orig` (not modified), of the kind given or a random one. */
export function mutateBytes(rng: Rng, orig: Uint8Array, map: StructureMap, kind: ByteMutation = rng.pick(BYTE_MUTATIONS)): Mutant {
  const n = orig.length;
  switch (kind) {
    case 'truncate': {
      const at = rng.chance(0.5) ? rng.int(0, n) : position(rng, orig, map);
      return { bytes: orig.slice(0, at), kind, mutation: `truncate to ${at} of ${n} bytes` };
    }
    case 'flip': {
      const bytes = orig.slice();
      const what: string[] = [];
      for (let k = rng.int(1, 9); k > 0; k--) {
        const at = position(rng, orig, map);
        const x = rng.int(1, 256);
        what.push(`@${at} ${hex(bytes[at])}→${hex(bytes[at] ^ x)}`);
        bytes[at] ^= x;
      }
      return { bytes, kind, mutation: `flip ${what.join(', ')}` };
    }
    case 'ff': {
      // 0xff bytes where a length (or any varint) was: a varint that runs on, or a huge length.
      const bytes = orig.slice();
      const what: string[] = [];
      for (let k = rng.int(1, 4); k > 0; k--) {
        const at = map.lengths.length && rng.chance(0.7) ? rng.pick(map.lengths).pos : position(rng, orig, map);
        const run = Math.min(rng.int(1, 11), n - at);
        bytes.fill(0xff, at, at + run);
        what.push(`@${at}×${run}`);
      }
      return { bytes, kind, mutation: `0xff over ${what.join(', ')}` };
    }
    case 'length': {
      // A length prefix rewritten in place (same byte count, so the rest stays aligned): a length that lies.
      const bytes = orig.slice();
      const what: string[] = [];
      for (let k = rng.int(1, 3); k > 0 && map.lengths.length; k--) {
        const l = rng.pick(map.lengths);
        const max = 2 ** (7 * l.size) - 1;
        const candidates = [0, 1, l.value - 1, l.value + 1, l.value + rng.int(2, 64), Math.max(0, l.value - rng.int(2, 64)),
          rng.int(0, max + 1), max];
        const value = Math.min(max, Math.max(0, rng.pick(candidates)));
        bytes.set(varintOfSize(value, l.size)!, l.pos);
        what.push(`@${l.pos} ${l.value}→${value}`);
      }
      return { bytes, kind, mutation: `length ${what.join(', ')}` };
    }
    case 'duplicate':
    case 'remove': {
      // A random byte range, or a whole field of the graph (a node, an input, an attribute, a dim) with the lengths of
      // the messages around it corrected, so the file still parses and the graph itself changes.
      const whole = rng.chance(0.6);
      const small = map.fields.filter((x) => x.end - x.start <= 65536); // not a weight ×50
      const f = whole && small.length ? rng.pick(small) : undefined;
      const s = f ? f.start : position(rng, orig, map);
      const e = f ? f.end : Math.min(n, s + rng.int(1, 257));
      const times = kind === 'remove' ? -1 : rng.pick([1, 1, 1, 2, 50]);
      const range = orig.subarray(s, e);
      const edited: Uint8Array[] = [orig.subarray(0, e)];
      if (times < 0) edited[0] = orig.subarray(0, s);
      for (let t = 0; t < times; t++) edited.push(range);
      edited.push(orig.subarray(e));
      let bytes = concat(edited);
      if (f) bytes = fixLengths(bytes, f.parents.map((i) => map.lengths[i]), (e - s) * times);
      const what = f ? `field [${s}, ${e}) (lengths around it corrected)` : `bytes [${s}, ${e})`;
      return { bytes, kind, mutation: times < 0 ? `remove ${what}` : `duplicate ${what} ×${times}` };
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * `bytes` with the length prefixes `parents` (outermost first, all before the edit) grown by `delta`: innermost
 * first, each one's own change in size carried to the ones around it.
 */
function fixLengths(bytes: Uint8Array, parents: readonly { pos: number; size: number; value: number }[], delta: number): Uint8Array {
  for (const l of [...parents].reverse()) {
    const v = varint(l.value + delta);
    bytes = concat([bytes.subarray(0, l.pos), Uint8Array.from(v), bytes.subarray(l.pos + l.size)]);
    delta += v.length - l.size;
  }
  return bytes;
}

// ------------------------------------------------------------------ structural mutants

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
const bytesField = (num: number, payload: number[]): number[] => [...varint(num * 8 + 2), ...varint(payload.length), ...payload];
const strField = (num: number, s: string): number[] => bytesField(num, Array.from(new TextEncoder().encode(s)));

/** `ModelProto{graph{input: ValueInfo(name, tensor(elemType, shape dims))}}`, to append to a built model (protobuf merges it). */
function extraInput(name: string, elemType: number, dims: readonly (number | string)[]): number[] {
  const shape = dims.flatMap((d) => bytesField(1, typeof d === 'number' ? [8, ...varint(d)] : strField(2, d)));
  const tensor = [8, ...varint(elemType), ...bytesField(2, shape)];
  return bytesField(7, bytesField(11, [...strField(1, name), ...bytesField(2, bytesField(1, tensor))]));
}

/**
 * buildModel for graphs too big for it to encode quickly (it concatenates arrays node by node): the inputs and
 * outputs from buildModel, then `ModelProto{graph{node…}}` appended, which protobuf merges into the graph.
 */
function bigModel(nodes: readonly NodeSpec[], inputs: string[], outputs: string[]): Uint8Array {
  const body: number[] = [];
  for (const n of nodes) {
    const node: number[] = [];
    for (const i of n.inputs) for (const b of strField(1, i)) node.push(b);
    for (const o of n.outputs) for (const b of strField(2, o)) node.push(b);
    for (const b of strField(4, n.op)) node.push(b);
    if (n.domain) for (const b of strField(7, n.domain)) node.push(b);
    for (const b of bytesField(1, node)) body.push(b);
  }
  const head = buildModel([], inputs, outputs);
  const graph = [...varint(7 * 8 + 2), ...varint(body.length)];
  const out = new Uint8Array(head.length + graph.length + body.length);
  out.set(head, 0);
  out.set(graph, head.length);
  out.set(body, head.length + graph.length);
  return out;
}

const withInputs = (model: Uint8Array, inputs: [string, number, (number | string)[]][]): Uint8Array =>
  Uint8Array.from([...model, ...inputs.flatMap(([n, t, d]) => extraInput(n, t, d))]);

/** A chain of `layers` attention-like blocks: MatMul → Div → Softmax → MatMul, each feeding the next. */
function chain(layers: number, softmaxOp = 'Softmax'): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  let h = 'input_ids';
  for (let i = 0; i < layers; i++) {
    nodes.push({ op: 'MatMul', inputs: [h, h], outputs: [`s${i}`] }, { op: 'Div', inputs: [`s${i}`, 'scale'], outputs: [`d${i}`] },
      { op: softmaxOp, inputs: [`d${i}`], outputs: [`p${i}`] }, { op: 'MatMul', inputs: [`p${i}`, h], outputs: [`h${i}`] });
    h = `h${i}`;
  }
  return nodes;
}

/** The structural mutants: graphs the byte mutations rarely reach, each built from the PRNG. */
export const STRUCTURAL_MUTATIONS = ['cycle', 'self-loop', 'many-layers', 'wide-node', 'duplicate-outputs', 'empty-names', 'if-branches',
  'odd-inputs', 'nameless-softmax', 'many-initializers'] as const;
export type StructuralMutation = typeof STRUCTURAL_MUTATIONS[number];

/** One structural mutant, of the kind given. */
export function structuralMutant(rng: Rng, kind: StructuralMutation): Mutant {
  return { ...structural(rng, kind), kind: `structural ${kind}` };
}

function structural(rng: Rng, kind: StructuralMutation): Omit<Mutant, 'kind'> {
  switch (kind) {
    case 'cycle': {
      // Softmax layers whose edges close a cycle (the last layer feeds the first).
      const layers = rng.int(2, 6);
      const nodes = chain(layers);
      nodes[0] = { ...nodes[0], inputs: [`h${layers - 1}`, 'input_ids'] };
      return { bytes: buildModel(nodes, ['input_ids'], [`h${layers - 1}`]), mutation: `structural cycle of ${layers} layers` };
    }
    case 'self-loop': {
      const nodes: NodeSpec[] = [{ op: 'Softmax', inputs: ['p0'], outputs: ['p0'] }, { op: 'Softmax', inputs: ['p0', 'p1'], outputs: ['p1'] }];
      return { bytes: buildModel(nodes, ['input_ids'], ['p1']), mutation: 'structural Softmax nodes reading their own outputs' };
    }
    case 'many-layers': {
      const layers = rng.pick([500, 2000, 4000]);
      return { bytes: bigModel(chain(layers), ['input_ids'], [`h${layers - 1}`]), mutation: `structural chain of ${layers} attention layers` };
    }
    case 'wide-node': {
      const width = rng.pick([1000, 20000]);
      const inputs = Array.from({ length: width }, (_, i) => `x${i % 97}`);
      const nodes: NodeSpec[] = [{ op: 'Concat', inputs, outputs: ['c'] }, { op: 'Softmax', inputs: ['c'], outputs: ['p'] },
        ...Array.from({ length: 97 }, (_, i): NodeSpec => ({ op: 'Identity', inputs: [i ? `x${i - 1}` : 'input_ids'], outputs: [`x${i}`] }))];
      return { bytes: bigModel(nodes, ['input_ids'], ['p']), mutation: `structural node with ${width} inputs` };
    }
    case 'duplicate-outputs': {
      const nodes = [...chain(3), ...chain(3)]; // two producers for every name
      return { bytes: buildModel(nodes, ['input_ids'], ['h2']), mutation: 'structural two producers for every value' };
    }
    case 'empty-names': {
      const nodes: NodeSpec[] = [{ op: 'Softmax', inputs: [''], outputs: [''] }, { op: 'MatMul', inputs: ['', ''], outputs: [''] },
        { op: 'Softmax', inputs: [], outputs: ['p'] }, { op: 'If', inputs: [''], outputs: [''],
          graphs: { then_branch: { nodes: [{ op: 'Softmax', inputs: [''], outputs: [''] }], outputs: [''] },
            else_branch: { nodes: [{ op: 'Softmax', inputs: [], outputs: [] }], outputs: [] } } }];
      return { bytes: buildModel(nodes, ['input_ids', ''], ['', 'p']), mutation: 'structural empty value names' };
    }
    case 'if-branches': {
      // An If whose branches hold attention: equal or unequal counts, one branch missing, Softmax nested a level deeper.
      const a = rng.int(0, 4);
      const b = rng.pick([a, a, a + 1, 0]);
      const branch = (k: number, tag: string) => ({ nodes: chain(k).map((n) => ({ ...n, outputs: n.outputs.map((o) => `${tag}${o}`),
        inputs: n.inputs.map((x) => (x.startsWith('input') || x === 'scale' ? x : `${tag}${x}`)) })), outputs: k ? [`${tag}h${k - 1}`] : [] });
      const deeper = rng.chance(0.3);
      const graphs: NonNullable<NodeSpec['graphs']> = { then_branch: branch(a, 't') };
      if (!rng.chance(0.2)) graphs.else_branch = branch(b, 'e');
      if (deeper) {
        graphs.then_branch = { nodes: [{ op: 'If', inputs: ['use_cache_branch'], outputs: ['inner'], graphs: { then_branch: branch(a, 'i'),
          else_branch: branch(b, 'j') } }], outputs: ['inner'] };
      }
      const nodes: NodeSpec[] = [{ op: 'If', inputs: ['use_cache_branch'], outputs: ['out'], graphs }];
      if (rng.chance(0.3)) nodes.push(...chain(1)); // a Softmax in the main graph too
      return { bytes: buildModel(nodes, ['input_ids', 'use_cache_branch'], ['out'], { use_cache_branch: BOOL }),
        mutation: `structural If with ${a}/${graphs.else_branch ? b : '-'} Softmax layers per branch${deeper ? ', nested one level deeper' : ''}` };
    }
    case 'odd-inputs': {
      // Inputs whose names have fill rules but whose types or shapes do not fit them.
      const pick = rng.pick<[string, number, (number | string)[]][]>([
        [['past_key_values.0.key', 1, [1, 'heads', 'past', 8]]],
        [['past_key_values.0.value', 10, [1, 2, 0]]],
        [['past_key_values.0.key', 1, [2 ** 53, 2 ** 60, 0, 2 ** 40]]],
        [['attention_mask', 11, ['b', 't']]],
        [['input_ids', 0, []], ['input_ids', 7, [1, 2, 3]]],
        [['encoder_hidden_states', 10, [1, 'S', 4]], ['encoder_attention_mask', 9, [1, 'S']]],
        [['position_ids', 6, []], ['token_type_ids', 2 ** 40, [1]]],
        [['mystery', 1, [1]]],
      ]);
      return { bytes: withInputs(buildModel(chain(2), [], ['h1']), pick),
        mutation: `structural inputs ${pick.map(([n, t, d]) => `${n}:${t}[${d.join(',')}]`).join(' ')}` };
    }
    case 'nameless-softmax': {
      const nodes: NodeSpec[] = [...chain(2), { op: 'Softmax', inputs: ['h1'], outputs: [] }, { op: 'Softmax', domain: 'com.microsoft', inputs: ['h1'], outputs: ['q'] }];
      return { bytes: buildModel(nodes, ['input_ids'], ['h1']), mutation: 'structural Softmax without outputs and in another domain' };
    }
    case 'many-initializers': {
      // Initializers by the ten thousand, each stored in its own external file (or all in one).
      const count = rng.pick([10000, 40000]); // 40,000: more parts than a spread call takes (onnx-file.ts overflowed)
      const distinct = rng.chance(0.7);
      const parts: number[] = [];
      for (let i = 0; i < count; i++) {
        const entry = [...strField(1, 'location'), ...strField(2, distinct ? `w${i}.bin` : 'weights.bin')];
        for (const x of bytesField(5, [...strField(8, `w${i}`), 16, 1, ...bytesField(13, entry), 112, 1])) parts.push(x);
      }
      const head = buildModel(chain(1), ['input_ids'], ['h0']);
      const graph = [...varint(7 * 8 + 2), ...varint(parts.length)];
      return { bytes: concat([head, Uint8Array.from(graph), Uint8Array.from(parts)]),
        mutation: `structural ${count} initializers in ${distinct ? 'as many external files' : 'one external file'}` };
    }
  }
}
