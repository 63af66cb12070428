import assert from 'node:assert/strict';
import { type Attention } from '../../src/shared/attention';
import { AttentionStore, type AttentionQuery } from '../../src/shared/attention-query';
import { mulberry32 } from '../../src/shared/head-labels';
import { pagedAttention, type LayerSource } from '../../src/shared/paged-attention';
import { valueWeightedStack } from '../../src/shared/value-weighted';

// A paged stack (issue 16: heads recomputed from Q and K on demand) must answer every query as the same stack held
// whole does. The whole stack here is built by a direct softmax of s·q·k written in this test, not by the module.

const L = 3;
const H = 4;
const T = 37;
const d = 6;

/** Random Q [H, T, d] and Kᵀ [H/2, d, T] per layer (grouped keys), one layer left as a tapped Softmax output. */
function build(causal: boolean, seed: number): { paged: Attention; whole: Attention } {
  const rnd = mulberry32(seed);
  const whole = new Float32Array(L * H * T * T);
  const layers: LayerSource[] = [];
  for (let l = 0; l < L; l++) {
    const q = Float32Array.from({ length: H * T * d }, () => 2 * rnd() - 1);
    const kT = Float32Array.from({ length: (H / 2) * d * T }, () => 2 * rnd() - 1);
    const scale = 1 / Math.sqrt(d);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const z: number[] = [];
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[(h * T + i) * d + c] * kT[(Math.floor(h / 2) * d + c) * T + j];
          z.push(causal && j > i ? -Infinity : dot * scale);
        }
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((a, b) => a + b, 0);
        e.forEach((v, j) => (whole[((l * H + h) * T + i) * T + j] = v / sum));
      }
    }
    layers.push(l === 1
      ? { path: 'softmax', data: whole.slice(l * H * T * T, (l + 1) * H * T * T) }
      : { path: 'qk', qk: { heads: H, kvHeads: H / 2, tokens: T, d, q, kT, form: { scale, causal } } });
  }
  return { paged: pagedAttention(layers, H, T, 2 * T * T * 4), whole: { kind: 'self', layers: L, heads: H, queries: T, keys: T, causal, data: whole } };
}

const close = (a: unknown, b: unknown, path = ''): void => {
  if (a instanceof ArrayBuffer && b instanceof ArrayBuffer) return close(new Float32Array(a), new Float32Array(b), path);
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) && Number.isNaN(b)) return;
    assert.ok(Math.abs(a - b) <= 1e-6, `${path}: ${a} vs ${b}`);
    return;
  }
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    const keys = Object.keys(a);
    assert.deepEqual(keys.sort(), Object.keys(b).sort(), path);
    for (const k of keys) close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  assert.equal(a, b, path);
};

describe('a paged stack answers every query as the whole stack does', () => {
  for (const causal of [true, false]) {
    it(`${causal ? 'causal' : 'unmasked'}: rows, columns, top-k, matrices, regions, nearest heads and metrics`, () => {
      const { paged, whole } = build(causal, causal ? 3 : 4);
      assert.equal(paged.causal, causal);
      const a = new AttentionStore([paged]);
      const b = new AttentionStore([whole]);
      const ids = Array.from({ length: T }, (_, i) => i % 9);
      const queries: AttentionQuery[] = [];
      for (let l = 0; l < L; l++) {
        for (const head of [0, 3, 'mean', 'max', 'rollout'] as const) {
          const ref = { stack: 'self' as const, layer: l, head };
          queries.push({ kind: 'row', head: ref, query: 20 }, { kind: 'column', head: ref, key: 5 }, { kind: 'topk', head: ref, query: 30, k: 5 },
            { kind: 'matrix', head: ref, maxSide: 10 }, { kind: 'matrix', head: ref, region: { row: 4, col: 2, rows: 9, cols: 11 } });
        }
        queries.push({ kind: 'nearest', head: { stack: 'self', layer: l, head: 1 }, count: 4 });
      }
      queries.push({ kind: 'metrics', stack: 'self', ids });
      for (const q of queries) close(a.answer(q).answer, b.answer(q).answer, JSON.stringify(q));
    });
  }

  it('stays paged when weighted by value norms, and the weighted answers match the whole stack weighted', () => {
    const { paged, whole } = build(true, 9);
    const rnd = mulberry32(2);
    const norms = Float32Array.from({ length: L * H * T }, () => 0.5 + rnd());
    const wp = valueWeightedStack(paged, norms);
    assert.ok(wp.pages && wp.data.length === 0);
    const a = new AttentionStore([wp]);
    const b = new AttentionStore([valueWeightedStack(whole, norms)]);
    for (const q of [{ kind: 'row', head: { stack: 'self', layer: 2, head: 1 }, query: 33 }, { kind: 'matrix', head: { stack: 'self', layer: 0, head: 'mean' }, maxSide: 12 }] as AttentionQuery[]) {
      close(a.answer(q).answer, b.answer(q).answer, JSON.stringify(q));
    }
  });

  it('keeps no recomputed head: statistics stream row blocks no larger than its block budget', () => {
    const { paged } = build(false, 5);
    const pages = (paged as ReturnType<typeof pagedAttention>).pages;
    const qkBytes = pages.heldBytes();
    const store = new AttentionStore([paged]);
    store.answer({ kind: 'metrics', stack: 'self', ids: Array.from({ length: T }, (_, i) => i % 5) });
    store.answer({ kind: 'nearest', head: { stack: 'self', layer: 0, head: 2 }, count: 3 });
    assert.equal(pages.heldBytes(), qkBytes, 'nothing kept beside Q and K');
    assert.ok(pages.largestBlockBytes > 0 && pages.largestBlockBytes <= 2 * T * T * 4, `largest block ${pages.largestBlockBytes} bytes`);
  });
});
