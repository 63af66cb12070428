import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scanOnnxFile } from '../../src/host/onnx-file';
import { planFullTap } from '../../src/shared/full-tap';
import { orderLayers, type GraphEdges } from '../../src/shared/layer-order';
import { planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planAnyTap } from '../../src/shared/tap-subgraph';
import { Rng } from '../support/fuzz-mutate';
import { BOOL, buildModel } from '../support/onnx-builder';

// What the model fuzz test (fuzz-models.test.ts) found, one regression test each: small files that stalled the
// scan and the tap plan for seconds to minutes (work quadratic in the nodes, Softmax outputs or external files),
// and files with enough fields or Softmax nodes to overflow the stack of a spread call (`push(...parts)`).

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
const len = (num: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([...varint(num * 8 + 2), ...varint(payload.length)]), payload]);
const str = (num: number, s: string): Buffer => len(num, Buffer.from(s));
/** NodeProto{inputs, outputs, op_type}, encoded without onnx-builder's per-node array copies (these graphs are big). */
const node = (op: string, inputs: string[], outputs: string[]): Buffer =>
  Buffer.concat([...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(4, op)]);
/** ModelProto{ir_version, opset, graph{graph fields…, inputs, outputs}}: one graph field, as exporters write it (inputs FLOAT unless typed). */
function withGraph(inputs: string[], outputs: string[], graph: Buffer[], types: Record<string, number> = {}): Uint8Array {
  const valueInfo = (num: number, name: string) => len(num, Buffer.concat([str(1, name), len(2, len(1, Buffer.from([8, types[name] ?? 1])))]));
  const body = Buffer.concat([...graph, ...inputs.map((i) => valueInfo(11, i)), ...outputs.map((o) => valueInfo(12, o))]);
  return Uint8Array.from(Buffer.concat([Buffer.from([8, 8]), len(8, Buffer.concat([str(1, ''), Buffer.from([16, 14])])), len(7, body)]));
}

/** `layers` attention layers in a chain: s = MatMul(h, h); p = Softmax(s / scale); h' = MatMul(p, h). */
function chainModel(layers: number): Uint8Array {
  const nodes: Buffer[] = [];
  let h = 'input_ids';
  for (let i = 0; i < layers; i++) {
    nodes.push(len(1, node('MatMul', [h, h], [`s${i}`])), len(1, node('Div', [`s${i}`, 'scale'], [`d${i}`])),
      len(1, node('Softmax', [`d${i}`], [`p${i}`])), len(1, node('MatMul', [`p${i}`, h], [`h${i}`])));
    h = `h${i}`;
  }
  return withGraph(['input_ids'], [h], nodes);
}

/** Milliseconds `run` takes. */
function timed(run: () => void): number {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
}

/** The layer-order check as it was: a walk back from every Softmax output over all its ancestors (quadratic). */
function bruteForceCheck(nodes: readonly GraphEdges[], order: readonly string[], kinds: readonly string[],
  kindOrder: readonly string[]): [string, string] | undefined {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => { for (const o of n.outputs) producer.set(o, i); });
  const isAncestor = (a: string, b: string): boolean => {
    const seen = new Set<number>();
    const stack = [producer.get(b)!];
    while (stack.length) {
      for (const input of nodes[stack.pop()!].inputs) {
        if (input === a) return true;
        const p = producer.get(input);
        if (p !== undefined && !seen.has(p)) { seen.add(p); stack.push(p); }
      }
    }
    return false;
  };
  for (const kind of new Set(kindOrder)) {
    const chain = order.filter((_, i) => kinds[i] === kind);
    for (let k = 0; k + 1 < chain.length; k++) if (!isAncestor(chain[k], chain[k + 1])) return [chain[k], chain[k + 1]];
  }
  return undefined;
}

describe('fuzz findings: the scan and the tap plan stay linear and off the stack', function () {
  this.timeout(60_000);

  it('checks the layer order of 5,000 attention layers in linear time (quadratic before: over 10 s), and agrees with a full ancestor search on random graphs', () => {
    const summary = scanOnnx(chainModel(5000));
    let plan: ReturnType<typeof planTap> | undefined;
    const ms = timed(() => { plan = planTap(summary); });
    assert.equal(plan!.softmaxOutputs.length, 5000);
    assert.deepEqual(plan!.layerOrder, { status: 'chain' });
    assert.ok(ms < 3000, `planTap took ${ms.toFixed(0)} ms`);
    // Random DAGs listed in random order, with self and cross Softmax outputs: the same verdict, and the same pair, as walking every ancestor.
    const rng = new Rng(11);
    let unordered = 0;
    for (let g = 0; g < 300; g++) {
      const n = rng.int(2, 40);
      const nodes: GraphEdges[] = Array.from({ length: n }, (_, i) => ({
        inputs: i === 0 ? ['x'] : Array.from({ length: rng.int(1, 3) }, () => (rng.chance(0.1) ? 'x' : `v${rng.int(0, i)}`)),
        outputs: [`v${i}`],
      }));
      const shuffled = [...nodes].sort(() => rng.float() - 0.5);
      const targets = nodes.map((x) => x.outputs[0]).filter(() => rng.chance(0.4));
      const kinds = targets.map(() => (rng.chance(0.3) ? 'cross' : 'self'));
      const { order, kinds: sortedKinds, check } = orderLayers(shuffled, targets, kinds);
      const expected = bruteForceCheck(shuffled, order, sortedKinds, kinds);
      assert.deepEqual(check.independent, expected, `graph ${g}`);
      if (expected) unordered++;
    }
    assert.ok(unordered > 30 && unordered < 270, `both verdicts were exercised (${unordered} of 300 unordered)`);
  });

  it('plans the score taps and encodes the extra outputs of 5,000 layers in linear time (quadratic before: over 10 s)', () => {
    const summary = scanOnnx(chainModel(5000));
    let full: ReturnType<typeof planFullTap> | undefined;
    const ms = timed(() => { full = planFullTap(summary); });
    assert.equal(full!.sources.length, 5000);
    assert.deepEqual(full!.sources[4999], { softmax: 'p4999', logits: 'd4999', q: 'h4998', kT: 'h4998', scaling: 'div', v: 'h4998' });
    assert.equal(full!.toAppend.length, 5000 * 3 - 1); // p, d and h of each layer, but h4999 is an output already
    assert.deepEqual(scanOnnx(Uint8Array.from([...buildModel([], ['x'], ['y']), ...full!.suffix])).outputs.map((o) => o.name), ['y', ...full!.toAppend]);
    assert.ok(ms < 3000, `planFullTap took ${ms.toFixed(0)} ms`);
  });

  /** 50,000 initializers, each stored in its own external file w<i>.bin, and one Softmax. */
  function manyExternalFiles(): Uint8Array {
    const inits: Buffer[] = [];
    for (let i = 0; i < 50_000; i++) {
      const entry = Buffer.concat([str(1, 'location'), str(2, `w${i}.bin`)]);
      inits.push(len(5, Buffer.concat([str(8, `w${i}`), Buffer.from([16, 1]), len(13, entry), Buffer.from([112, 1])])));
    }
    return withGraph(['input_ids'], ['p'], [len(1, node('Softmax', ['input_ids'], ['p'])), ...inits]);
  }

  it('lists 50,000 external data files in linear time (quadratic before: over 2 s a scan)', () => {
    const model = manyExternalFiles();
    let files: readonly string[] = [];
    const ms = timed(() => { files = scanOnnx(model).externalDataFiles ?? []; });
    assert.equal(files.length, 50_000);
    assert.deepEqual([files[0], files[49_999]], ['w0.bin', 'w49999.bin']);
    assert.ok(ms < 1500, `scanOnnx took ${ms.toFixed(0)} ms`);
  });

  it('scans a file with 50,000 initializers from disk without a RangeError (a spread call overflowed the stack)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-fuzz-finding-'));
    try {
      const file = path.join(dir, 'model.onnx');
      const model = manyExternalFiles();
      fs.writeFileSync(file, model);
      assert.deepEqual(await scanOnnxFile(file), scanOnnx(model));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rewrites an If whose branches hold 70,000 Softmax nodes each without a RangeError (a spread call overflowed the stack)', () => {
    const branch = (tag: string): Buffer => {
      const nodes: Buffer[] = [];
      for (let i = 0; i < 70_000; i++) nodes.push(len(1, node('Softmax', ['x'], [`${tag}${i}`])));
      return Buffer.concat([...nodes, len(12, str(1, `${tag}0`))]);
    };
    const attr = (name: string, graph: Buffer) => len(5, Buffer.concat([str(1, name), len(6, graph), Buffer.from([160, 1, 5])]));
    const ifNode = Buffer.concat([str(1, 'use_cache_branch'), str(2, 'out'), str(4, 'If'), attr('then_branch', branch('t')), attr('else_branch', branch('e'))]);
    const model = withGraph(['input_ids', 'x', 'use_cache_branch'], ['out'], [len(1, ifNode)], { use_cache_branch: BOOL });
    const { plan, rewritten } = planAnyTap(model);
    assert.ok(rewritten);
    assert.equal(plan.softmaxOutputs.length, 70_000);
    assert.equal(plan.softmaxOutputs[69_999], 'attention_lens.tap/0/self/69999');
  });
});
