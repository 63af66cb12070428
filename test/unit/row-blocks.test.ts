import assert from 'node:assert/strict';
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32 } from '../../src/shared/tapped-run';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched } from '../../src/shared/attention-paths';
import { collectAttention } from '../../src/shared/tap-collect';
import { selfAttention, type Attention, type HeadSelector } from '../../src/shared/attention';
import { AttentionStore, type AttentionAnswer, type AttentionQuery } from '../../src/shared/attention-query';
import { wholeAnswer, wholeInduction } from '../support/whole-stats';
import { inductionScores, mulberry32 } from '../../src/shared/head-labels';
import { pagedAttention, type PagedHeads } from '../../src/shared/paged-attention';
import { valueWeightedStack } from '../../src/shared/value-weighted';
import { readBundledOnnx } from '../support/model';
import { readTestOnnx } from '../support/test-models';

// Issue 16: statistics over every row of a paged stack (recomputed from Q and K) are streamed a block of rows at a
// time. On real runs in onnxruntime-node, every statistic the store answers from the paged stack must equal the same
// statistic on a held stack, with blocks small enough that a head takes many (and the last block is short), and the
// paged stack must never have computed more than one block at a time. Two held stacks: the same run's own Softmax
// outputs (onnxruntime's attention; recomputed weights differ from them by up to ~1.5e-6 on the bundled model, so
// within the 1e-5 the Q/K path is admitted at), and the recomputed rows held whole, row by row (within 1e-6: what
// streaming by blocks may change).

const ort = require('onnxruntime-node');

/** One run of a model fetching every Softmax output and what the paged path needs: the held and the paged stack. */
async function stacksOf(bytes: Uint8Array, short: number[], long: number[], blockRows: number,
  externalData?: { path: string; data: Uint8Array }[]): Promise<{ held: Attention; recomputed: Attention; paged: Attention; pages: PagedHeads }> {
  const t = tapAll(bytes);
  const session = await ort.InferenceSession.create(t.tapped, { intraOpNumThreads: 1, ...(externalData ? { externalData } : {}) });
  const run = async (ids: readonly number[], names: readonly string[]) => {
    const feeds: Record<string, unknown> = {};
    for (const f of buildFeeds(requiredInputs(t.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const out = await session.run(feeds, [...names]);
    return (name: string) => (out[name] ? { dims: out[name].dims.map(Number) as number[], data: toFloat32(out[name]).slice() } : undefined);
  };
  const self = t.plan.softmaxOutputs.filter((_, i) => (t.plan.kinds?.[i] ?? 'self') === 'self');
  const paths = identifyPaths(self, t.sources, await run(short, identificationFetches(self, t.sources)), short.length).layers;
  assert.ok(paths.length > 0 && paths.every((p) => p.path === 'qk'), JSON.stringify(paths));
  const T = long.length;
  const get = await run(long, [...new Set([...pagedFetches(paths, t.sources), ...self])]);
  const paged = pagedFromFetched(paths, t.sources, get, T, blockRows * T * 4);
  const collected = collectAttention(self.map((name) => ({ name, dims: get(name)!.dims, data: get(name)!.data })), T);
  const held = selfAttention(collected.layers, collected.heads, T, collected.data, paged.causal);
  const rows = new Float32Array(held.data.length);
  for (let l = 0; l < held.layers; l++) {
    for (let h = 0; h < held.heads; h++) for (let i = 0; i < T; i++) rows.set(paged.pages!.row(l, h, i), ((l * held.heads + h) * T + i) * T);
  }
  const recomputed = selfAttention(held.layers, held.heads, T, rows, paged.causal);
  return { held, recomputed, paged, pages: paged.pages as PagedHeads };
}

/**
 * Every number in `a` within 1e-6 of the same place in `b` (NaN where NaN), recursively; relative past 1 (the mean
 * distance is in tokens: Σ A[i, j]·|i − j| carries each weight's rounding times up to T).
 */
const close = (a: unknown, b: unknown, path = '', tol = 1e-6): void => {
  if (a instanceof ArrayBuffer && b instanceof ArrayBuffer) return close(new Float32Array(a), new Float32Array(b), path, tol);
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) return close(Array.from(a as Float32Array), Array.from(b as Float32Array), path, tol);
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) && Number.isNaN(b)) return;
    assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${path}: ${a} vs ${b}`);
    return;
  }
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), path);
    for (const k of Object.keys(a)) close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, tol);
    return;
  }
  assert.equal(a, b, path);
};

/** Every query that needs every row of a matrix, on every layer, for heads and aggregates. */
function wholeRowQueries(a: Attention, ids: readonly number[]): AttentionQuery[] {
  const T = a.queries;
  const qs: AttentionQuery[] = [{ kind: 'metrics', stack: 'self', ids }];
  for (let l = 0; l < a.layers; l++) {
    const heads: HeadSelector[] = [...Array.from({ length: a.heads }, (_, h) => h), 'mean', 'max'];
    for (const head of heads) {
      const ref = { stack: 'self' as const, layer: l, head };
      qs.push({ kind: 'matrix', head: ref, maxSide: 17 }, { kind: 'matrix', head: ref },
        { kind: 'matrix', head: ref, region: { row: 9, col: 4, rows: T - 20, cols: T - 30 }, maxSide: 11 },
        { kind: 'matrix', head: ref, region: { row: 30, col: 25, rows: 13, cols: 9 } },
        { kind: 'column', head: ref, key: 3 }, { kind: 'nearest', head: ref, count: a.layers * a.heads });
    }
  }
  return qs;
}

/**
 * The paged store's answers against whole-matrix statistics (test/support/whole-stats.ts), and no block larger than
 * `blockRows` rows computed. A held store's answers are those whole statistics exactly: what they were before blocks.
 */
function checkStacks(s: { held: Attention; recomputed: Attention; paged: Attention; pages: PagedHeads }, ids: readonly number[], blockRows: number): void {
  const { held, recomputed, paged, pages } = s;
  const T = held.queries;
  assert.equal(paged.causal, held.causal);
  const a = new AttentionStore([paged]);
  const noScale = (x: AttentionAnswer): AttentionAnswer => (x.kind === 'matrix' ? { ...x, scale: 0 } : x);
  const queries = wholeRowQueries(held, ids);
  for (const q of queries) {
    const got = a.answer(q).answer;
    close(got, wholeAnswer(recomputed, q), JSON.stringify(q));
    // The colour scale is a quantile: on the Softmax outputs an entry of another rank may win when weights are this close.
    close(noScale(got), noScale(wholeAnswer(held, q)), `Softmax: ${JSON.stringify(q)}`, 1e-5);
  }
  for (const stack of [held, recomputed]) {
    const store = new AttentionStore([stack]);
    for (const q of queries) assert.deepEqual(store.answer(q).answer, wholeAnswer(stack, q), `held: ${JSON.stringify(q)}`);
  }
  assert.ok(pages.largestBlockBytes > 0, 'blocks were computed');
  assert.ok(pages.largestBlockBytes <= blockRows * T * 4, `largest block ${pages.largestBlockBytes} bytes, budget ${blockRows * T * 4}`);
  assert.ok(pages.largestBlockBytes < T * T * 4, 'less than one head');
  // Value-weighted views stream the same way.
  const rnd = mulberry32(5);
  const norms = Float32Array.from({ length: held.layers * held.heads * T }, () => 0.25 + rnd());
  const wa = new AttentionStore([valueWeightedStack(paged, norms)]);
  const wb = valueWeightedStack(recomputed, norms);
  for (const q of queries.filter((_, k) => k % 5 === 0)) close(wa.answer(q).answer, wholeAnswer(wb, q), `weighted ${JSON.stringify(q)}`);
}

describe('statistics streamed over row blocks of a paged stack equal those of the held Softmax stack (onnxruntime-node)', function () {
  this.timeout(240000);

  it('the bundled model at T = 100 in blocks of 7 rows (15 blocks a head, the last of 2)', async () => {
    const ids = [...Array(100)].map((_, i) => (i * 11 + 4 + ((i * i) % 7)) % 60);
    checkStacks(await stacksOf(readBundledOnnx(), [5, 9, 14, 3, 7, 5, 9, 2], ids, 7), ids, 7);
  });

  it('tiny-gpt2 at T = 45 in blocks of 4 rows, and the induction probe on [r, r]', async () => {
    const m = readTestOnnx('tiny-gpt2');
    const rnd = mulberry32(3);
    const r = Array.from({ length: 22 }, () => 1 + Math.floor(rnd() * 30));
    const ids = [...r, ...r, 7];
    const stacks = await stacksOf(m.bytes, [3, 1, 4, 1, 5, 9], ids, 4, m.externalData);
    checkStacks(stacks, ids, 4);
    const { held, paged } = stacks;
    close(inductionScores(paged, 22), wholeInduction(stacks.recomputed, 22), 'induction');
    close(inductionScores(paged, 22), wholeInduction(held, 22), 'induction vs Softmax', 1e-5);
    assert.deepEqual(inductionScores(held, 22), wholeInduction(held, 22), 'held: as before');
    assert.ok(wholeInduction(held, 22).every((v) => v > 0), 'the probe rows hold weight');
  });
});

describe('columns ("attended by") of a paged stack come from row normalisers, not row blocks (qk-columns.ts)', function () {
  this.timeout(240000);
  const cases = [
    { name: 'the bundled model, T = 60', bytes: () => readBundledOnnx(), ids: [...Array(60)].map((_, i) => (i * 7 + 3) % 50), short: [5, 9, 14, 3, 7, 5, 9, 2] },
    { name: 'tiny-gpt2, T = 40', bytes: () => readTestOnnx('tiny-gpt2').bytes, ids: [...Array(40)].map((_, i) => (i * 13 + 1) % 40), short: [3, 1, 4, 1, 5, 9] },
    // Sliding windows of 8 on two of its three layers: the check is longer than the window, so the band is read off it.
    { name: 'tiny-window, T = 40', bytes: () => readTestOnnx('tiny-window').bytes, ids: [...Array(40)].map((_, i) => (i * 5 + 2) % 30),
      short: [...Array(12)].map((_, i) => (i * 3 + 1) % 20) },
  ];
  for (const c of cases) {
    it(`${c.name}: every head's, mean's and max's columns equal the whole matrices' columns, with no row block computed`, async () => {
      const { recomputed, paged, pages } = await stacksOf(c.bytes(), c.short, c.ids, 5);
      const store = new AttentionStore([paged]);
      const T = c.ids.length;
      for (let l = 0; l < paged.layers; l++) {
        for (const head of [...Array.from({ length: paged.heads }, (_, h) => h), 'mean', 'max'] as HeadSelector[]) {
          for (const key of [0, 1, 17, T - 1]) {
            const q: AttentionQuery = { kind: 'column', head: { stack: 'self', layer: l, head }, key };
            close(store.answer(q).answer, wholeAnswer(recomputed, q), JSON.stringify(q));
          }
        }
      }
      assert.equal(pages.largestBlockBytes, 0, 'no block of rows was computed for a column');
    });
  }
});

describe('a paged cross-attention stack (decoder queries over encoder keys) streams rows of its keys', () => {
  it('answers matrices, regions, columns and nearest heads as the whole matrices give them, in blocks of 3 rows', () => {
    const [L, H, T, S] = [2, 3, 13, 21];
    const rnd = mulberry32(8);
    const data = new Float32Array(L * H * T * S);
    for (let r = 0; r < L * H * T; r++) {
      let z = 0;
      for (let j = 0; j < S; j++) z += (data[r * S + j] = Math.exp(3 * rnd()));
      for (let j = 0; j < S; j++) data[r * S + j] /= z;
    }
    const layers = Array.from({ length: L }, (_, l) => ({ path: 'softmax' as const, data: data.slice(l * H * T * S, (l + 1) * H * T * S) }));
    const paged = pagedAttention(layers, H, T, 3 * S * 4, S);
    const held: Attention = { kind: 'cross', layers: L, heads: H, queries: T, keys: S, causal: false, data };
    assert.equal(paged.kind, 'cross');
    const store = new AttentionStore([paged]);
    const queries: AttentionQuery[] = [];
    for (let l = 0; l < L; l++) {
      for (const head of [0, 2, 'mean', 'max'] as const) {
        const ref = { stack: 'cross' as const, layer: l, head };
        queries.push({ kind: 'matrix', head: ref, maxSide: 5 }, { kind: 'matrix', head: ref }, { kind: 'matrix', head: ref, region: { row: 2, col: 7, rows: 9, cols: 11 }, maxSide: 4 },
          { kind: 'column', head: ref, key: S - 1 }, { kind: 'nearest', head: ref, count: L * H });
      }
    }
    for (const q of queries) close(store.answer(q).answer, wholeAnswer(held, q), JSON.stringify(q), 0);
    assert.deepEqual(store.answer({ kind: 'metrics', stack: 'cross', ids: [] }).answer, { kind: 'metrics', rows: [] });
  });
});

describe('rollout on a paged stack', () => {
  it('is refused past its byte limit, saying that it multiplies whole layer matrices, while a head\'s row is still served', () => {
    const T = 8200; // 2 layers of Float64 T × T products: just over 1 GiB
    const layer = { path: 'qk' as const, qk: { heads: 1, kvHeads: 1, tokens: T, d: 1, q: new Float32Array(T).fill(1), kT: new Float32Array(T).fill(1),
      form: { scale: 1, causal: true } } };
    const store = new AttentionStore([pagedAttention([layer, layer], 1, T)]);
    assert.throws(() => store.answer({ kind: 'row', head: { stack: 'self', layer: 1, head: 'rollout' }, query: 5 }),
      /Rollout multiplies whole 8200 × 8200 layer matrices, which cannot be streamed by rows: it would keep 1\.0 GiB/);
    const row = store.answer({ kind: 'row', head: { stack: 'self', layer: 1, head: 0 }, query: 3 }).answer;
    assert.ok(row.kind === 'row');
    assert.deepEqual(Array.from(new Float32Array(row.weights).subarray(0, 5)), [0.25, 0.25, 0.25, 0.25, 0], 'equal scores: uniform over the 4 visible keys');
  });
});
