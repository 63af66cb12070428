import assert from 'node:assert/strict';
import { layerOrderNotice, orderLayers, worseOrder } from '../../src/shared/layer-order';
import { collectAttention, planTap, scanOnnx, tapAttention } from '../../src/shared/onnx-tap';
import { planAnyTap } from '../../src/shared/tap-subgraph';
import { BOOL, buildModel, type NodeSpec } from '../support/onnx-builder';

const ort = require('onnxruntime-node');

// Hand-built attention-shaped graphs: layer ℓ computes p_ℓ = Softmax(h_ℓ) and h_ℓ₊₁ = p_ℓ·h_ℓ + side_ℓ,
// where side_ℓ = Neg(x) depends on the input only, so it may sit anywhere before its use.
const side = (l: number, pre = ''): NodeSpec => ({ op: 'Neg', inputs: ['x'], outputs: [`${pre}side${l}`] });
function core(l: number, pre = ''): NodeSpec[] {
  const h = l === 0 ? 'x' : `${pre}h${l}`;
  return [
    { op: 'Softmax', inputs: [h], outputs: [`${pre}p${l}`] },
    { op: 'MatMul', inputs: [`${pre}p${l}`, h], outputs: [`${pre}pv${l}`] },
    { op: 'Add', inputs: [`${pre}pv${l}`, `${pre}side${l}`], outputs: [`${pre}h${l + 1}`] },
  ];
}
const inLayerOrder = (pre = ''): NodeSpec[] => [0, 1, 2].flatMap((l) => [side(l, pre), ...core(l, pre)]);

const H = 2;
const T = 3;
const x = Float32Array.from({ length: H * T * T }, (_, i) => Math.sin(i * 1.7) * 2);

/** Softmax over the last axis of x, as layer 0 must compute it. */
function softmaxRows(a: Float32Array, n: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < a.length / n; r++) {
    const row = a.subarray(r * n, r * n + n);
    const m = Math.max(...row);
    const e = Array.from(row, (v) => Math.exp(v - m));
    const s = e.reduce((p, q) => p + q, 0);
    e.forEach((v, j) => { out[r * n + j] = v / s; });
  }
  return out;
}

/** Runs a tapped model with onnxruntime-node and collects its attention in plan order. */
async function runAttention(tapped: Uint8Array, names: readonly string[], feeds: Record<string, unknown> = {}) {
  const session = await ort.InferenceSession.create(tapped);
  const out = await session.run({ x: new ort.Tensor('float32', x, [1, H, T, T]), ...feeds });
  return collectAttention(names.map((name) => ({ name, dims: out[name].dims.map(Number), data: out[name].data as Float32Array })), T);
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i])));
  assert.ok(err < 1e-6, `${what}: max error ${err}`);
}

describe('layer order, checked on the graph edges', () => {
  it('a graph in layer order is a chain', () => {
    const plan = planTap(scanOnnx(buildModel(inLayerOrder(), ['x'], ['h3'])));
    assert.deepEqual(plan.softmaxOutputs, ['p0', 'p1', 'p2']);
    assert.deepEqual(plan.layerOrder, { status: 'chain' });
  });

  it('a valid topological order that interleaves layers differently is still checked as a chain', () => {
    // Every side branch first, latest layer's first, and layer 2's Softmax named as if it were layer 0:
    // neither node positions nor names decide the order, the edges do.
    const nodes = [side(2), side(1), side(0), ...inLayerOrder().filter((n) => n.op !== 'Neg')]
      .map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) }));
    function rename(v: string): string { return ({ p0: 'attn.2', p2: 'attn.0' } as Record<string, string>)[v] ?? v; }
    const plan = planTap(scanOnnx(buildModel(nodes, ['x'], ['h3'])));
    assert.deepEqual(plan.softmaxOutputs, ['attn.2', 'p1', 'attn.0']);
    assert.equal(plan.layerOrder?.status, 'chain');
  });

  it('a node list out of layer order is sorted by dependency, and onnxruntime agrees on which layer is first', async () => {
    const shuffled = [...inLayerOrder()].reverse(); // not topologically sorted: p2's Softmax is listed first
    const model = buildModel(shuffled, ['x'], ['h3']);
    const summary = scanOnnx(model);
    assert.deepEqual(summary.nodes.filter((n) => n.opType === 'Softmax').map((n) => n.outputs[0]), ['p2', 'p1', 'p0']);
    const plan = planTap(summary);
    assert.deepEqual(plan.softmaxOutputs, ['p0', 'p1', 'p2']);
    assert.deepEqual(plan.layerOrder, { status: 'reordered' });
    assert.equal(layerOrderNotice(plan.layerOrder, 'model.onnx'), undefined, 'a fixed order needs no notice');
    const att = await runAttention(tapAttention(model, plan), plan.softmaxOutputs);
    assert.deepEqual(att.names, ['p0', 'p1', 'p2']);
    assertClose(att.data.subarray(0, H * T * T), softmaxRows(x, T), 'layer 0 is Softmax(x)');
  });

  it('two Softmaxes that do not depend on each other are reported by name, keeping graph order', () => {
    const nodes: NodeSpec[] = [
      { op: 'Softmax', inputs: ['x'], outputs: ['left'] },
      { op: 'Neg', inputs: ['x'], outputs: ['nx'] },
      { op: 'Softmax', inputs: ['nx'], outputs: ['right'] },
      { op: 'MatMul', inputs: ['left', 'x'], outputs: ['a'] },
      { op: 'MatMul', inputs: ['right', 'x'], outputs: ['b'] },
      { op: 'Add', inputs: ['a', 'b'], outputs: ['y'] },
    ];
    const plan = planTap(scanOnnx(buildModel(nodes, ['x'], ['y'])));
    assert.deepEqual(plan.softmaxOutputs, ['left', 'right']);
    assert.deepEqual(plan.layerOrder, { status: 'unordered', independent: ['left', 'right'] });
    const notice = layerOrderNotice(plan.layerOrder, 'onnx/model.onnx')!;
    assert.match(notice, /^onnx\/model\.onnx: the attention Softmax outputs "left" and "right" do not depend on each other/);
    assert.match(notice, /layer numbers may not match/);
  });

  it('a decoder chains self ℓ → cross ℓ → self ℓ+1; each kind is checked as its own chain', () => {
    const layer = (l: number): NodeSpec[] => {
      const h = l === 0 ? 'x' : `h${l}`;
      return [
        { op: 'Softmax', inputs: [h], outputs: [`self${l}`] },
        { op: 'MatMul', inputs: [`self${l}`, h], outputs: [`sv${l}`] },
        { op: 'Add', inputs: [`sv${l}`, h], outputs: [`hs${l}`] },
        { op: 'Add', inputs: [`hs${l}`, 'encoder_hidden_states'], outputs: [`cs${l}`] },
        { op: 'Softmax', inputs: [`cs${l}`], outputs: [`cross${l}`] },
        { op: 'MatMul', inputs: [`cross${l}`, `hs${l}`], outputs: [`cv${l}`] },
        { op: 'Add', inputs: [`cv${l}`, `hs${l}`], outputs: [`h${l + 1}`] },
      ];
    };
    const nodes = [0, 1].flatMap(layer);
    for (const [list, status] of [[nodes, 'chain'], [[...nodes].reverse(), 'reordered']] as const) {
      const plan = planTap(scanOnnx(buildModel(list, ['x', 'encoder_hidden_states'], ['h2'])));
      assert.deepEqual(plan.softmaxOutputs, ['self0', 'cross0', 'self1', 'cross1']);
      assert.deepEqual(plan.kinds, ['self', 'cross', 'self', 'cross']);
      assert.equal(plan.layerOrder?.status, status);
    }
    // Two stacks that only meet at the end (an encoder and a decoder in one graph): each is a chain, the
    // self stack as a whole is not.
    const split = orderLayers([
      { inputs: ['x'], outputs: ['e0'] }, { inputs: ['e0'], outputs: ['e1'] },
      { inputs: ['y'], outputs: ['d0'] }, { inputs: ['d0', 'e1'], outputs: ['c0'] },
    ], ['e0', 'e1', 'd0', 'c0'], ['self', 'self', 'self', 'cross']);
    assert.deepEqual(split.check, { status: 'unordered', independent: ['e1', 'd0'] });
  });

  const ifModel = (thenNodes: NodeSpec[], elseNodes: NodeSpec[], thenOut = 't_h3') => buildModel([{ op: 'If', inputs: ['cond'],
    outputs: ['h3'], graphs: { then_branch: { nodes: thenNodes, outputs: [thenOut] }, else_branch: { nodes: elseNodes, outputs: ['e_h3'] } } }],
  ['x', 'cond'], ['h3'], { cond: BOOL });

  it('Softmaxes inside If branches: each branch is checked on its own edges, and both pair layer by layer', async () => {
    // then_branch computes every side branch first (latest layer's first); else_branch goes layer by layer.
    const thenNodes = [side(2, 't_'), side(1, 't_'), side(0, 't_'), ...inLayerOrder('t_').filter((n) => n.op !== 'Neg')];
    const { plan, rewritten } = planAnyTap(ifModel(thenNodes, inLayerOrder('e_')));
    assert.deepEqual(plan.softmaxOutputs, ['attention_lens.tap/0/self/0', 'attention_lens.tap/0/self/1', 'attention_lens.tap/0/self/2']);
    assert.deepEqual(plan.layerOrder, { status: 'chain' });
    for (const branch of [true, false]) {
      const att = await runAttention(rewritten!, plan.softmaxOutputs, { cond: new ort.Tensor('bool', [branch], [1]) });
      assert.equal(att.layers, 3);
      assertClose(att.data.subarray(0, H * T * T), softmaxRows(x, T), `${branch ? 'then' : 'else'} branch: layer 0 is Softmax(x)`);
    }
    // A branch listed backwards (onnxruntime refuses unsorted subgraphs, but the tap must not pair p2 with p0)
    // and a branch whose two Softmaxes are independent.
    assert.deepEqual(planAnyTap(ifModel([...inLayerOrder('t_')].reverse(), inLayerOrder('e_'))).plan.layerOrder, { status: 'reordered' });
    const independent: NodeSpec[] = [
      { op: 'Softmax', inputs: ['x'], outputs: ['t_a'] }, { op: 'Softmax', inputs: ['x'], outputs: ['t_b'] },
      { op: 'Add', inputs: ['t_a', 't_b'], outputs: ['t_y'] },
    ];
    const both = planAnyTap(ifModel(independent, [side(0, 'e_'), ...core(0, 'e_'), side(1, 'e_'), ...core(1, 'e_')], 't_y')).plan;
    assert.deepEqual(both.layerOrder, { status: 'unordered', independent: ['t_a', 't_b'] });
  });

  it('combines checks by the least certain', () => {
    assert.deepEqual(worseOrder({ status: 'chain' }, { status: 'reordered' }), { status: 'reordered' });
    assert.deepEqual(worseOrder(undefined, { status: 'chain' }), { status: 'chain' });
    const un = { status: 'unordered', independent: ['a', 'b'] } as const;
    assert.equal(worseOrder(un, { status: 'reordered' }), un);
  });
});
