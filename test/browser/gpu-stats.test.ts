/**
 * Statistics over row blocks on WebGPU (issue 16), in a real Chromium on SwiftShader: the worker's query driver
 * (held-runs.ts) answers head metrics, nearest heads, pooled thumbnails (a head's and a layer mean's), a region, a
 * layer max's column and a whole head of a paged run from blocks computed on the GPU (gpu-paged.ts `blocks`), and each
 * equals the same answer from the JavaScript rows (the WASM setting) and the whole-matrix oracle (test/support/
 * whole-stats.ts over heads from qk-attention.ts qkHead) within 1e-5, on real Q and Kᵀ of the bundled model and
 * tiny-gpt2. GPU answers say computedOn 'webgpu' and JavaScript computes nothing; the WASM setting and a layer over the
 * device's limits answer 'js'. A hovered row asked during a metrics job is answered before the job ends.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { readBundledOnnx, repoRoot } from '../support/model';
import { readTestOnnx } from '../support/test-models';
import { idsOf, softmaxModelLayers } from '../support/qk-layers';
import { wholeAnswer } from '../support/whole-stats';
import { qkHead, type LayerQK } from '../../src/shared/qk-attention';
import type { AttentionAnswer, AttentionQuery } from '../../src/shared/attention-query';
import { launch, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { buildGpuRowsPage, GPU_ROWS_PAGE } from './gpu-rows-page';

const TOLERANCE = 1e-5;
/** Rows per block: several blocks per head at T = 64 and 100. */
const BLOCK_ROWS = 16;

/** The questions asked of every run, in order (the region comes after its head's thumbnail, so its scale is known). */
function questionsOf(layers: number, ids: number[]): AttentionQuery[] {
  const last = layers - 1;
  return [
    { kind: 'metrics', stack: 'self', ids },
    { kind: 'nearest', head: { stack: 'self', layer: last, head: 1 }, count: 1000 },
    { kind: 'matrix', head: { stack: 'self', layer: 0, head: 2 }, maxSide: 16 },
    { kind: 'matrix', head: { stack: 'self', layer: 0, head: 2 }, region: { row: 5, col: 0, rows: 20, cols: 12 } },
    { kind: 'matrix', head: { stack: 'self', layer: last, head: 'mean' }, maxSide: 16 },
    { kind: 'column', head: { stack: 'self', layer: last, head: 'max' }, key: 3 },
    { kind: 'matrix', head: { stack: 'self', layer: 1, head: 0 } },
  ];
}

/** What one run answered: per question its answer (buffers as arrays) and computedOn, and what the run computed where. */
interface RunAnswers {
  answers: { answer: any; on?: string; progress: number }[];
  jsBlockBytes: number;
  gpuMaxRows: number;
  heldBytes: number;
  qkBytes: number;
}

/**
 * In the page: a paged stack over `layers` kept by a HeldRuns (slice 0: one block a slice) whose GpuPagedRun has
 * `device` ('gpu': the shared device; 'small': a copy limited under one layer's Q; 'wasm': none), answering `questions`.
 */
async function answersIn(page: Page, layers: LayerQK[], questions: AttentionQuery[], device: 'gpu' | 'small' | 'wasm'): Promise<RunAnswers> {
  const plain = layers.map((x) => ({ ...x, q: Array.from(x.q), kT: Array.from(x.kT) }));
  return page.evaluate(async ({ plain, questions, device, blockRows }) => {
    const L = (globalThis as any).__lens;
    const xs = plain.map((p: any) => ({ ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT) }));
    const [H, T] = [xs[0].heads, xs[0].tokens];
    const shared = await L.gpuRows();
    if (!shared) throw new Error('no WebGPU device in the page');
    const gpu = device === 'gpu' ? shared : device === 'small' ? new L.GpuRows(shared.device, xs[0].q.byteLength - 4) : undefined;
    let gpuMaxRows = 0;
    if (gpu) {
      const rows = gpu.rows.bind(gpu);
      gpu.rows = (layer: unknown, h: number, s: number, e: number) => { gpuMaxRows = Math.max(gpuMaxRows, e - s); return rows(layer, h, s, e); };
    }
    const stack = L.pagedAttention(xs.map((qk: unknown) => ({ path: 'qk', qk })), H, T, blockRows * T * 4);
    const run = await L.GpuPagedRun.create(gpu, stack.pages, 'the backend setting is WASM');
    const posted: any[] = [];
    const waiting = new Map<number, (m: any) => void>();
    const held = new L.HeldRuns((m: any) => {
      posted.push(m);
      if (m.type === 'answer') waiting.get(m.id)?.(m);
    }, 0);
    held.keep(1, [stack], undefined, false, run);
    const qkBytes = stack.pages.heldBytes();
    const answers = [];
    for (let k = 0; k < questions.length; k++) {
      const id = k + 1;
      const got = new Promise<any>((resolve) => waiting.set(id, resolve));
      held.answer({ type: 'query', id, runId: 1, query: questions[k] });
      const m = await got;
      if (m.error) throw new Error(m.error);
      const a = { ...m.answer };
      for (const f of ['data', 'weights']) if (a[f] instanceof ArrayBuffer) a[f] = Array.from(new Float32Array(a[f]));
      answers.push({ answer: a, on: m.computedOn, progress: posted.filter((p) => p.type === 'queryProgress' && p.id === id).length });
    }
    run.release();
    return { answers, jsBlockBytes: stack.pages.largestBlockBytes, gpuMaxRows, heldBytes: stack.pages.heldBytes(), qkBytes };
  }, { plain, questions, device, blockRows: BLOCK_ROWS });
}

/** The largest |a − b| over two answers of the same kind (NaN cells must match), throwing on any difference in shape. */
function answerDiff(a: any, b: any): number {
  assert.equal(a.kind, b.kind);
  const nums = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
    assert.equal(x.length, y.length, 'same length');
    let worst = 0;
    for (let k = 0; k < x.length; k++) {
      const [u, v] = [x[k] ?? NaN, y[k] ?? NaN]; // NaN travels as null from the page
      if (Number.isNaN(u) || Number.isNaN(v)) assert.ok(Number.isNaN(u) && Number.isNaN(v), `cell ${k}: ${u} vs ${v}`);
      else worst = Math.max(worst, Math.abs(u - v));
    }
    return worst;
  };
  switch (a.kind) {
    case 'metrics': {
      assert.equal(a.rows.length, b.rows.length);
      const fields = ['entropy', 'previousToken', 'sink', 'self', 'distance', 'duplicate'];
      return Math.max(...a.rows.map((r: any, k: number) => {
        assert.deepEqual([r.layer, r.head], [b.rows[k].layer, b.rows[k].head]);
        return nums(fields.map((f) => r[f]), fields.map((f) => b.rows[k][f]));
      }));
    }
    case 'nearest': {
      // Compared head by head: two heads equally near within rounding may swap places.
      const byHead = (x: any) => new Map<string, number>(x.heads.map((n: any) => [`${n.head.layer},${n.head.head}`, n.meanJsd]));
      const [p, q] = [byHead(a), byHead(b)];
      assert.deepEqual([...p.keys()].sort(), [...q.keys()].sort(), 'the same heads');
      return Math.max(...[...p].map(([k, v]) => Math.abs(v - q.get(k)!)));
    }
    case 'matrix':
      assert.deepEqual([a.rows, a.cols, a.pooled, a.causal], [b.rows, b.cols, b.pooled, b.causal]);
      return Math.max(nums(a.data, b.data), Math.abs(a.scale - b.scale));
    case 'column':
      return nums(a.weights, b.weights);
    default:
      throw new Error(`no comparison for ${a.kind}`);
  }
}

/** The whole-matrix oracle's answer: the layers' heads computed whole in JavaScript (qkHead), held as one stack. */
function oracleAnswers(layers: LayerQK[], questions: AttentionQuery[]): AttentionAnswer[] {
  const [H, T] = [layers[0].heads, layers[0].tokens];
  const data = new Float32Array(layers.length * H * T * T);
  layers.forEach((x, l) => { for (let h = 0; h < H; h++) data.set(qkHead(x, h), (l * H + h) * T * T); });
  const a = { kind: 'self' as const, layers: layers.length, heads: H, queries: T, keys: T, causal: layers[0].form.causal, data };
  return questions.map((q) => {
    const w: any = wholeAnswer(a, q);
    for (const f of ['data', 'weights']) if (w[f] instanceof ArrayBuffer) w[f] = Array.from(new Float32Array(w[f]));
    return w;
  });
}

describe('statistics over row blocks on WebGPU equal the JavaScript ones (Chromium, SwiftShader)', function () {
  this.timeout(300000);
  let browser: Browser;
  let server: TestServer;
  let page: Page;

  before(async () => {
    await buildGpuRowsPage();
    browser = await launch({ webgpu: true });
    server = await startServer(repoRoot, [GPU_ROWS_PAGE]);
    page = await browser.context.newPage();
    await page.goto(`${server.origin}/${GPU_ROWS_PAGE}/index.html`);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const models: [string, () => Promise<LayerQK[]>, number][] = [
    ['the bundled model (3 × 4, T = 100)', () => softmaxModelLayers(readBundledOnnx(), idsOf(100)), 100],
    ['tiny-gpt2 (T = 64)', () => softmaxModelLayers(readTestOnnx('tiny-gpt2').bytes, idsOf(64)), 64],
  ];
  for (const [name, layersOf, T] of models) {
    it(`${name}: metrics, nearest heads, thumbnails, a region, a column and a head from GPU blocks equal JavaScript's and the whole-matrix oracle within 1e-5`, async () => {
      const layers = await layersOf();
      assert.ok(layers.length >= 2 && layers.every((x) => x.tokens === T), 'every layer recomputed from Q and K');
      const questions = questionsOf(layers.length, idsOf(T));
      const gpu = await answersIn(page, layers, questions, 'gpu');
      const js = await answersIn(page, layers, questions, 'wasm');
      const oracle = oracleAnswers(layers, questions);
      let worstJs = 0;
      let worstOracle = 0;
      questions.forEach((q, k) => {
        const [g, j] = [gpu.answers[k], js.answers[k]];
        assert.equal(g.on, 'webgpu', `${q.kind} #${k} computed on WebGPU`);
        assert.equal(j.on, 'js', `${q.kind} #${k} under the WASM setting: JavaScript`);
        const dj = answerDiff(g.answer, j.answer);
        const dOracle = answerDiff(g.answer, oracle[k]);
        assert.ok(dj <= TOLERANCE, `${q.kind} #${k}: |WebGPU − JavaScript| = ${dj}`);
        assert.ok(dOracle <= TOLERANCE, `${q.kind} #${k}: |WebGPU − whole-matrix oracle| = ${dOracle}`);
        assert.ok(answerDiff(j.answer, oracle[k]) <= TOLERANCE, `${q.kind} #${k}: JavaScript vs oracle`);
        worstJs = Math.max(worstJs, dj);
        worstOracle = Math.max(worstOracle, dOracle);
      });
      assert.equal(gpu.answers[2].answer.pooled, true, 'the thumbnail is pooled');
      assert.ok(gpu.answers[0].progress > 0, 'metrics reported progress between blocks');
      assert.equal(gpu.jsBlockBytes, 0, 'on WebGPU no block was computed in JavaScript');
      assert.ok(gpu.gpuMaxRows > 0 && gpu.gpuMaxRows <= BLOCK_ROWS, `the GPU computed at most ${gpu.gpuMaxRows} rows at a time (block ${BLOCK_ROWS}, T ${T})`);
      assert.equal(gpu.heldBytes, gpu.qkBytes, 'nothing kept beside Q and K');
      assert.ok(js.jsBlockBytes > 0 && js.jsBlockBytes <= BLOCK_ROWS * T * 4, 'the WASM setting computed its blocks in JavaScript');
      console.log(`    max |WebGPU − JavaScript| = ${worstJs.toExponential(2)}, |WebGPU − oracle| = ${worstOracle.toExponential(2)}`);
    });
  }

  it('a layer over the device\'s limits streams its blocks from JavaScript and says so', async () => {
    const layers = await softmaxModelLayers(readTestOnnx('tiny-gpt2').bytes, idsOf(64));
    const questions = questionsOf(layers.length, idsOf(64)).slice(0, 3);
    const [small, js] = [await answersIn(page, layers, questions, 'small'), await answersIn(page, layers, questions, 'wasm')];
    questions.forEach((q, k) => {
      assert.equal(small.answers[k].on, 'js', `${q.kind}: JavaScript`);
      assert.equal(answerDiff(small.answers[k].answer, js.answers[k].answer), 0, `${q.kind}: the JavaScript answer, exactly`);
    });
    assert.equal(small.gpuMaxRows, 0, 'nothing asked of the GPU');
  });

  it('a hovered row asked while metrics stream on the GPU is answered before the metrics', async () => {
    const layers = await softmaxModelLayers(readBundledOnnx(), idsOf(100));
    const plain = layers.map((x) => ({ ...x, q: Array.from(x.q), kT: Array.from(x.kT) }));
    const r = await page.evaluate(async ({ plain, blockRows, ids }) => {
      const L = (globalThis as any).__lens;
      const xs = plain.map((p: any) => ({ ...p, q: Float32Array.from(p.q), kT: Float32Array.from(p.kT) }));
      const [H, T] = [xs[0].heads, xs[0].tokens];
      const stack = L.pagedAttention(xs.map((qk: unknown) => ({ path: 'qk', qk })), H, T, blockRows * T * 4);
      const run = await L.GpuPagedRun.create(await L.gpuRows(), stack.pages);
      const order: any[] = [];
      let finish: () => void;
      const both = new Promise<void>((resolve) => { finish = resolve; });
      const held = new L.HeldRuns((m: any) => {
        if (m.type === 'answer') order.push({ id: m.id, on: m.computedOn, error: m.error ?? null });
        if (order.length === 2) finish();
      }, 0);
      held.keep(1, [stack], undefined, false, run);
      held.answer({ type: 'query', id: 1, runId: 1, query: { kind: 'metrics', stack: 'self', ids } });
      held.answer({ type: 'query', id: 2, runId: 1, query: { kind: 'row', head: { stack: 'self', layer: 2, head: 1 }, query: 40 } });
      await both;
      run.release();
      return order;
    }, { plain, blockRows: BLOCK_ROWS, ids: idsOf(100) });
    assert.deepEqual(r, [{ id: 2, on: 'webgpu', error: null }, { id: 1, on: 'webgpu', error: null }]);
  });
});
