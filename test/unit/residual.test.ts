/**
 * The Residual view's numbers on real test models, checked against what onnxruntime-node itself computes: each
 * layer's residual Add is found here by its node name (not by the walk under test), its two inputs are tapped, and
 * the heads' outputs through W_O (plus the bias) must add up to the block's output, and ‖residual‖ must be the
 * norm of the Add's other input.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { appendSuffix, encodeExtraOutputs, float16ToFloat32, planTap, requiredInputs, scanOnnx } from '../../src/shared/onnx-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { isResidualSource, planResidualTaps, residualTapNames } from '../../src/shared/residual-tap';
import { headOutput, residualAnswer, type FetchedFloat } from '../../src/shared/residual-norms';
import { readTestOnnx, testModelsDir, type TestOnnx } from '../support/test-models';
import { buildModel } from '../support/onnx-builder';
import { readBundledOnnx, loadReference } from '../support/model';

const ort = require('onnxruntime-node');

/** Float32 data of an onnxruntime-node tensor (fp16 converted). */
function floats(t: { type: string; data: unknown; dims: readonly number[] }): FetchedFloat {
  const data = t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : Float32Array.from(t.data as ArrayLike<number>);
  return { dims: t.dims.map(Number), data };
}

/** Runs `m` on `ids` fetching `names` (declared as extra outputs here). */
async function fetch(m: TestOnnx, ids: number[], names: string[]): Promise<Map<string, FetchedFloat>> {
  const bytes = appendSuffix(m.bytes, encodeExtraOutputs(names.filter((n) => !m.summary.outputs.some((o) => o.name === n)), 0));
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, ...(m.externalData ? { externalData: m.externalData } : {}) });
  try {
    const feeds: Record<string, unknown> = {};
    for (const f of buildFeeds(requiredInputs(m.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const out = await session.run(feeds, names);
    return new Map(names.map((n) => [n, floats(out[n])]));
  } finally {
    await session.release();
  }
}

const norm = (v: ArrayLike<number>, from: number, n: number): number => {
  let s = 0;
  for (let k = from; k < from + n; k++) s += v[k] * v[k];
  return Math.sqrt(s);
};

/** The models, the names of their residual Adds (inputs: [residual stream, attention block output]) and the tolerance. */
const CASES: { name: string; load: () => TestOnnx; adds: string[]; eps: number }[] = [
  { name: 'tiny-gpt2', load: () => readTestOnnx('tiny-gpt2'), adds: ['/blocks.0/Add', '/blocks.1/Add'], eps: 1e-5 },
  { name: 'tiny-gpt2 fp16', load: () => readTestOnnx('tiny-gpt2', 'model_fp16.onnx'), adds: ['/blocks.0/Add', '/blocks.1/Add'], eps: 5e-3 },
  { name: 'tiny-bert (post-LN encoder)', load: () => readTestOnnx('tiny-bert'), adds: ['/blocks.0/Add', '/blocks.1/Add'], eps: 1e-5 },
  { name: 'tiny-distilbert (external weights)', load: () => readTestOnnx('tiny-distilbert'), adds: ['/blocks.0/Add', '/blocks.1/Add'], eps: 1e-5 },
  { name: 'tiny-bloom (baddbmm layout, no bias)', load: () => readTestOnnx('tiny-bloom'), adds: ['Add_48', 'Add_79'], eps: 1e-5 },
  {
    name: 'bundled lens-gpt (W_O as a Transpose of the weight)',
    load: () => { const bytes = readBundledOnnx(); const summary = scanOnnx(bytes); return { bytes, summary, plan: planTap(summary) }; },
    adds: ['/blocks.0/Add', '/blocks.1/Add', '/blocks.2/Add'], eps: 1e-5,
  },
];

describe('Residual view: each head’s write into the residual stream', () => {
  for (const c of CASES) {
    it(`${c.name}: Σ heads through W_O + bias = the graph's block output; ‖residual‖ = ‖the Add's other input‖`, async () => {
      const m = c.load();
      const ids = c.name.startsWith('bundled') ? loadReference()[0].ids.slice(0, 12) : [3, 17, 5, 9, 1, 22, 8, 14, 2];
      const T = ids.length;
      const plans = planResidualTaps(m.summary, m.plan.softmaxOutputs);
      assert.equal(plans.length, c.adds.length);
      assert.ok(plans.every(isResidualSource), JSON.stringify(plans));
      const addNodes = c.adds.map((n) => m.summary.nodes.find((x) => x.name === n)!);
      const oracle = addNodes.flatMap((n) => n.inputs);
      const got = await fetch(m, ids, [...new Set([...residualTapNames(plans), ...oracle])]);
      let heads = 0;
      plans.forEach((p, l) => {
        const s = p;
        const pv = got.get(s.pv)!;
        const w = got.get(s.weight)!;
        const d = pv.dims[pv.dims.length - 1];
        heads = pv.data.length / (T * d);
        const D = w.dims[1];
        const block = got.get(addNodes[l].inputs[1])!.data;
        const residual = got.get(addNodes[l].inputs[0])!.data;
        const bias = s.bias ? got.get(s.bias)!.data : new Float32Array(D);
        let worst = 0;
        for (let i = 0; i < T; i++) {
          const sum = Float64Array.from(bias);
          for (let h = 0; h < heads; h++) headOutput(pv.data, T, d, w.data, D, h, i).forEach((x, k) => { sum[k] += x; });
          for (let k = 0; k < D; k++) worst = Math.max(worst, Math.abs(sum[k] - block[i * D + k]));
        }
        if (process.env.RESIDUAL_LOG) console.log(`${c.name} layer ${l}: max |Σ heads + bias − block output| = ${worst.toExponential(1)}`);
        assert.ok(worst <= c.eps, `layer ${l}: Σ heads + bias differs from the block output by ${worst}`);
        const answer = residualAnswer({ type: 'residual', id: 1, runId: 1 }, [p], (n) => got.get(n), T, heads);
        assert.deepEqual(answer.reasons, [null]);
        const hn = new Float32Array(answer.headNorms!);
        const rn = new Float32Array(answer.residualNorms!);
        for (let i = 0; i < T; i++) {
          assert.ok(Math.abs(rn[i] - norm(residual, i * D, D)) <= 1e-4 * Math.max(1, rn[i]), `‖residual_${i}‖`);
          for (let h = 0; h < heads; h++) {
            const o = headOutput(pv.data, T, d, w.data, D, h, i);
            assert.ok(Math.abs(hn[h * T + i] - norm(o, 0, D)) <= 1e-5 * Math.max(1, hn[h * T + i]), `‖head ${h} at ${i}‖`);
          }
        }
      });
      assert.ok(heads > 1);
    });
  }

  it('tiny-gpt2: every head’s output norm and the residual norm equal PyTorch’s (test/models/recipe/residual_oracle.py)', async function () {
    const ids = [3, 17, 5, 9, 1, 22, 8, 14, 2];
    this.timeout(60000);
    // The oracle's output is stored with the model, so machines without python3-torch check against it too; where
    // PyTorch is installed, the stored output must be what the oracle computes now.
    const stored = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-gpt2', 'reference', 'torch-residual.json'), 'utf8')) as
      { ids: number[]; layers: { heads: number[][]; residual: number[] }[] };
    assert.deepEqual(stored.ids, ids);
    const torch = stored;
    let hasTorch = true;
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    } catch {
      hasTorch = false; // Debian's python3-torch (test/models/README.md)
    }
    if (hasTorch) {
      const script = path.join(testModelsDir, 'recipe', 'residual_oracle.py');
      const fresh = JSON.parse(execFileSync('/usr/bin/python3', [script, testModelsDir, ...ids.map(String)], { cwd: path.dirname(script), encoding: 'utf8' })) as
        typeof stored;
      assert.deepEqual(fresh.layers, stored.layers, 'the stored PyTorch norms are what the oracle computes now');
    }
    const m = readTestOnnx('tiny-gpt2');
    const plans = planResidualTaps(m.summary, m.plan.softmaxOutputs);
    const got = await fetch(m, ids, residualTapNames(plans));
    const answer = residualAnswer({ type: 'residual', id: 1, runId: 1 }, plans, (n) => got.get(n), ids.length, 4);
    assert.deepEqual(answer.reasons, [null, null]);
    const hn = new Float32Array(answer.headNorms!);
    const rn = new Float32Array(answer.residualNorms!);
    const T = ids.length;
    let worst = 0;
    torch.layers.forEach((layer, l) => {
      layer.heads.forEach((norms, h) => norms.forEach((x, i) => { worst = Math.max(worst, Math.abs(hn[(l * 4 + h) * T + i] - x)); }));
      layer.residual.forEach((x, i) => { worst = Math.max(worst, Math.abs(rn[l * T + i] - x)); });
    });
    if (process.env.RESIDUAL_LOG) console.log(`max |ours − PyTorch| = ${worst.toExponential(1)}`);
    assert.ok(worst <= 1e-5, `differs from PyTorch by ${worst}`);
  });

  it('says the heads are misread when their outputs do not add up to the graph’s projection', () => {
    // H = 2, T = 1, d = 1, D = 2: head 0 writes (1, 0), head 1 writes (0, 2); their sum is (1, 2).
    const pv = { dims: [1, 2, 1, 1], data: new Float32Array([1, 2]) };
    const w = { dims: [2, 2], data: new Float32Array([1, 0, 0, 1]) };
    const residual = { dims: [1, 1, 2], data: new Float32Array([3, 4]) };
    const tensors = new Map([['pv', pv], ['w', w], ['r', residual], ['good', { dims: [1, 1, 2], data: new Float32Array([1, 2]) }],
      ['swapped', { dims: [1, 1, 2], data: new Float32Array([2, 1]) }]]);
    const plan = (projection: string) => [{ softmax: 's', pv: 'pv', weight: 'w', projection, residual: 'r' }];
    const good = residualAnswer({ type: 'residual', id: 1, runId: 1 }, plan('good'), (n) => tensors.get(n), 1, 2);
    assert.deepEqual(good.reasons, [null]);
    assert.deepEqual(Array.from(new Float32Array(good.headNorms!)), [1, 2]);
    assert.deepEqual(Array.from(new Float32Array(good.residualNorms!)), [5]);
    const bad = residualAnswer({ type: 'residual', id: 1, runId: 1 }, plan('swapped'), (n) => tensors.get(n), 1, 2);
    assert.match(bad.reasons![0]!, /do not add up to the graph’s projection/);
    assert.ok(Number.isNaN(new Float32Array(bad.headNorms!)[0]));
  });

  it('says why where W_O is quantized, a graph input or a Gemm, instead of failing', () => {
    const q = readTestOnnx('tiny-gpt2', 'model_quantized.onnx');
    const plans = planResidualTaps(q.summary, q.plan.softmaxOutputs);
    assert.equal(plans.length, 2);
    for (const p of plans) assert.match(isResidualSource(p) ? '' : p.missing, /quantized .*DequantizeLinear/);
    const graph = (proj: { op: string; inputs: string[] }) => buildModel([
      { op: 'Softmax', inputs: ['s'], outputs: ['p'] },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['pv'] },
      { op: 'Transpose', inputs: ['pv'], outputs: ['t'] },
      { op: 'Reshape', inputs: ['t', 'shape'], outputs: ['x'] },
      { op: proj.op, inputs: proj.inputs, outputs: ['o'] },
      { op: 'Add', inputs: ['r', 'o'], outputs: ['y'] },
    ], ['s', 'v', 'shape', 'w', 'r'], ['y']);
    const missing = (bytes: Uint8Array) => {
      const [p] = planResidualTaps(scanOnnx(bytes), ['p']);
      return isResidualSource(p) ? '' : p.missing;
    };
    assert.match(missing(graph({ op: 'MatMul', inputs: ['x', 'w'] })), /W_O is a graph input/);
    assert.match(missing(graph({ op: 'Gemm', inputs: ['x', 'w'] })), /output projection is Gemm/);
    assert.match(missing(graph({ op: 'Relu', inputs: ['x'] })), /go to Relu, not to an output projection/);
  });
});
