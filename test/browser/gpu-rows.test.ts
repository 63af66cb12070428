/**
 * Attention rows on WebGPU (webview/worker/gpu-rows.ts), in a real Chromium on SwiftShader: on real Q and Kᵀ of the
 * bundled model, tiny-gpt2, tiny-bert (not causal), a grouped-query model (tiny-fused ms-gqa, 2 kv heads for 4
 * heads), sliding windows (tiny-window, tiny-fused ms-gqa-window) and ALiBi (tiny-bloom: a per-head, per-key bias the
 * kernel adds), every row of every head equals qk-attention.ts `qkRow` (Float64 in JavaScript) within 1e-5, keys after
 * a causal query or before its window are exactly 0, and every row sums to 1 within 1e-5. The seam (gpu-paged.ts)
 * answers a paged store from the GPU, and a layer over the device's limits (or no device) answers from JavaScript,
 * identically to qkRow.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { readBundledOnnx } from '../support/model';
import { readTestOnnx } from '../support/test-models';
import { fusedModelLayers, idsOf, softmaxModelLayers } from '../support/qk-layers';
import type { LayerQK } from '../../src/shared/qk-attention';
import type { Browser } from './browser';
import type { TestServer } from './serve';
import { openGpuRowsPage } from './gpu-rows-page';

const TOLERANCE = 1e-5;
/** A layer as plain arrays, for page.evaluate. */
const plain = (x: LayerQK) => ({ ...x, q: Array.from(x.q), kT: Array.from(x.kT), bias: x.bias && Array.from(x.bias) });

/** In the page: every row of every head on the GPU (one block per head, and single rows) against qkRow. */
async function compareLayer(page: Page, x: LayerQK): Promise<{ worst: number; worstSum: number; nonZeroMasked: number; rows: number }> {
  return page.evaluate(async (p) => {
    const L = (globalThis as any).__lens;
    const x = { ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT), ...(p.bias ? { bias: Float32Array.from(p.bias) } : {}) };
    const gpu = await L.gpuRows();
    if (!gpu) throw new Error('no WebGPU device in the page');
    const layer = await gpu.upload(x);
    if (typeof layer === 'string') throw new Error(layer);
    const t = x.tokens;
    let worst = 0;
    let worstSum = 0;
    let nonZeroMasked = 0;
    let rows = 0;
    try {
      for (let h = 0; h < x.heads; h++) {
        const block = await gpu.rows(layer, h, 0, t);
        const singles = await Promise.all([t - 1, Math.floor(t / 2), 1].map((i) => gpu.rows(layer, h, i, i + 1)));
        for (let i = 0; i < t; i++) {
          const want = L.qkRow(x, h, i);
          const got = block.subarray(i * t, (i + 1) * t);
          let sum = 0;
          for (let j = 0; j < t; j++) {
            worst = Math.max(worst, Math.abs(got[j] - want[j]));
            sum += got[j];
            if (!L.isVisible(i, j, x.form) && got[j] !== 0) nonZeroMasked++;
          }
          worstSum = Math.max(worstSum, Math.abs(sum - 1));
          rows++;
        }
        [t - 1, Math.floor(t / 2), 1].forEach((i, k) => {
          const want = L.qkRow(x, h, i);
          for (let j = 0; j < t; j++) worst = Math.max(worst, Math.abs(singles[k][j] - want[j]));
        });
      }
    } finally {
      layer.release();
    }
    return { worst, worstSum, nonZeroMasked, rows };
  }, plain(x));
}

describe('attention rows on WebGPU equal the JavaScript rows (Chromium, SwiftShader)', function () {
  this.timeout(240000);
  let browser: Browser;
  let server: TestServer;
  let page: Page;

  before(async () => {
    ({ browser, server, page } = await openGpuRowsPage());
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const models: [string, () => Promise<LayerQK[]>, boolean][] = [
    ['the bundled model (3 × 4, T = 100)', () => softmaxModelLayers(readBundledOnnx(), idsOf(100)), true],
    ['tiny-gpt2 (T = 64)', () => softmaxModelLayers(readTestOnnx('tiny-gpt2').bytes, idsOf(64)), true],
    ['tiny-bert, not causal (T = 40)', () => softmaxModelLayers(readTestOnnx('tiny-bert').bytes, idsOf(40)), false],
    ['tiny-fused ms-gqa, grouped-query: 4 heads on 2 kv heads (T = 26, its rotary cache)', () => fusedModelLayers(readTestOnnx('tiny-fused', 'ms-gqa.onnx').bytes, idsOf(26)), true],
    ['tiny-window, sliding window of 8 on layers 0 and 2 (T = 64, checked on 16)', () => softmaxModelLayers(readTestOnnx('tiny-window').bytes, idsOf(64), 16), true],
    ['tiny-fused ms-gqa-window, local window of 5 (T = 26)', () => fusedModelLayers(readTestOnnx('tiny-fused', 'ms-gqa-window.onnx').bytes, idsOf(26)), true],
    ['tiny-bloom, ALiBi: a per-head, per-key bias on the scores (T = 32, checked on 6)', () => softmaxModelLayers(readTestOnnx('tiny-bloom').bytes, idsOf(32), 6), true],
  ];
  for (const [name, layersOf, causal] of models) {
    it(`${name}: every row of every head within 1e-5 of qkRow, masked keys exactly 0, rows sum to 1`, async () => {
      const layers = await layersOf();
      assert.ok(layers.length > 0, 'some layer recomputed from Q and K');
      let worst = 0;
      for (const x of layers) {
        assert.equal(x.form.causal, causal);
        if (name.includes('grouped')) assert.ok(x.kvHeads < x.heads, `kv heads ${x.kvHeads} of ${x.heads}`);
        if (name.includes('window')) assert.ok(layers.some((y) => y.form.window !== undefined), 'some layer has a sliding window');
        const r = await compareLayer(page, x);
        assert.equal(r.rows, x.heads * x.tokens);
        assert.equal(r.nonZeroMasked, 0, 'masked keys (after a causal query, or before its window) are exactly 0');
        assert.ok(r.worstSum <= TOLERANCE, `a row sums to 1 ± ${r.worstSum}`);
        assert.ok(r.worst <= TOLERANCE, `max |WebGPU − qkRow| = ${r.worst}`);
        worst = Math.max(worst, r.worst);
      }
      console.log(`    max |WebGPU − qkRow| = ${worst.toExponential(2)} over ${layers.length} layers`);
    });
  }

  it('a head over one buffer\'s limit is computed in several dispatches, equal to one dispatch', async () => {
    const layers = await softmaxModelLayers(readTestOnnx('tiny-gpt2').bytes, idsOf(64));
    const x = layers[1];
    // tiny-gpt2: Q and Kᵀ are 8 KiB each at T = 64, a whole head 16 KiB: a device limited to 8 KiB takes 32 rows a dispatch.
    assert.equal(x.q.byteLength, 8192);
    const r = await page.evaluate(async (p) => {
      const L = (globalThis as any).__lens;
      const x = { ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT) };
      const shared = await L.gpuRows();
      const small = new L.GpuRows(shared.device, 8192);
      const [a, b] = [await shared.upload(x), await small.upload(x)];
      if (typeof a === 'string' || typeof b === 'string') throw new Error(String(typeof a === 'string' ? a : b));
      let worst = 0;
      let differ = 0;
      for (let h = 0; h < x.heads; h++) {
        const [one, split] = [await shared.rows(a, h, 0, x.tokens), await small.rows(b, h, 0, x.tokens)];
        for (let k = 0; k < one.length; k++) if (one[k] !== split[k]) differ++;
        for (let i = 0; i < x.tokens; i++) {
          const want = L.qkRow(x, h, i);
          for (let j = 0; j < x.tokens; j++) worst = Math.max(worst, Math.abs(split[i * x.tokens + j] - want[j]));
        }
      }
      a.release();
      b.release();
      return { worst, differ };
    }, plain(x));
    assert.equal(r.differ, 0, 'the same Float32 values either way');
    assert.ok(r.worst <= TOLERANCE, `split head vs qkRow: ${r.worst}`);
  });

  it('a paged store answers from the GPU; a layer over the limits, or no device, answers from JavaScript, identically to qkRow', async () => {
    const [x] = await softmaxModelLayers(readBundledOnnx(), idsOf(50));
    const r = await page.evaluate(async (p) => {
      const L = (globalThis as any).__lens;
      const x = { ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT) };
      const t = x.tokens;
      const storeOf = () => {
        const stack = L.pagedAttention([{ path: 'qk', qk: x }], x.heads, t, 0);
        return { pages: stack.pages, store: new L.AttentionStore([stack]) };
      };
      const shared = await L.gpuRows();
      const ask = async (gpu: any, h: number, i: number) => {
        const { pages, store } = storeOf();
        const run = await L.GpuPagedRun.create(gpu, pages);
        const query = { kind: 'row', head: { stack: 'self', layer: 0, head: h }, query: i };
        const on = await run.prefetch(store, query);
        const row = new Float32Array(store.answer(query).answer.weights);
        run.release();
        return { on, layerOn: run.on(0), reason: run.reason(0), row: Array.from(row) };
      };
      // A layer's mean row takes row i of every head from the GPU.
      const { pages, store } = storeOf();
      const run = await L.GpuPagedRun.create(shared, pages);
      const meanQuery = { kind: 'row', head: { stack: 'self', layer: 0, head: 'mean' }, query: 23 };
      const meanOn = await run.prefetch(store, meanQuery);
      const meanRow = new Float32Array(store.answer(meanQuery).answer.weights);
      run.release();
      const want = new Float64Array(t);
      for (let h = 0; h < x.heads; h++) L.qkRow(x, h, 23).forEach((v: number, j: number) => (want[j] += v / x.heads));
      const mean = { on: meanOn, diff: Math.max(...Array.from(meanRow, (v, j) => Math.abs(v - want[j]))) };
      const small = new L.GpuRows(shared.device, x.q.byteLength - 4); // Q is one float over this copy's limit
      const out: any[] = [];
      for (const [h, i] of [[0, t - 1], [3, 17], [1, 0]]) {
        out.push({ want: Array.from(L.qkRow(x, h, i)), gpu: await ask(shared, h, i), over: await ask(small, h, i), none: await ask(undefined, h, i) });
      }
      return { out, mean };
    }, plain(x));
    assert.equal(r.mean.on, 'webgpu', 'a mean row from the GPU');
    assert.ok(r.mean.diff <= TOLERANCE, `mean row vs qkRow's mean: ${r.mean.diff}`);
    for (const { want, gpu, over, none } of r.out) {
      assert.equal(gpu.on, 'webgpu');
      assert.equal(gpu.layerOn, 'webgpu');
      const diff = Math.max(...gpu.row.map((v: number, j: number) => Math.abs(v - want[j])));
      assert.ok(diff <= TOLERANCE, `store row from the GPU vs qkRow: ${diff}`);
      assert.equal(over.on, 'js');
      assert.equal(over.layerOn, 'js');
      assert.match(over.reason, /over the device's .* MiB per buffer/);
      assert.deepEqual(over.row, want, 'over the limits: the JavaScript row, exactly');
      assert.equal(none.on, 'js', 'no device: JavaScript rows');
      assert.equal(none.reason, 'there is no WebGPU device in the worker');
      assert.deepEqual(none.row, want, 'no device: the JavaScript row, exactly');
    }
  });

  it('tiny-bloom: a paged store answers an ALiBi layer\'s row from the GPU (the bias in the kernel), within 1e-5 of qkRow', async () => {
    const layers = await softmaxModelLayers(readTestOnnx('tiny-bloom').bytes, idsOf(32), 6);
    assert.equal(layers.length, 2);
    assert.ok(layers.every((x) => x.bias), 'both layers carry their ALiBi bias');
    const r = await page.evaluate(async (p) => {
      const L = (globalThis as any).__lens;
      const x = { ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT), bias: Float32Array.from(p.bias!) };
      const gpu = await L.gpuRows();
      const stack = L.pagedAttention([{ path: 'qk', qk: x }], x.heads, x.tokens, 0);
      const store = new L.AttentionStore([stack]);
      const run = await L.GpuPagedRun.create(gpu, stack.pages);
      const query = { kind: 'row', head: { stack: 'self', layer: 0, head: 2 }, query: x.tokens - 1 };
      const on = await run.prefetch(store, query);
      const row = Array.from(new Float32Array(store.answer(query).answer.weights));
      const reason = run.reason(0);
      run.release();
      return { on, reason, row, want: Array.from<number>(L.qkRow(x, 2, x.tokens - 1)) };
    }, plain(layers[1]));
    assert.equal(r.on, 'webgpu', r.reason);
    const d = Math.max(...r.row.map((v, j) => Math.abs(v - r.want[j])));
    assert.ok(d <= TOLERANCE, `the GPU row with the bias: max |Δ| = ${d}`);
  });
});
