import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/shared/head-labels';
import { PagedHeads } from '../../src/shared/paged-attention';
import { qkHead, qkRow, type LayerQK } from '../../src/shared/qk-attention';

// Rows computed elsewhere (the worker's WebGPU, gpu-paged.ts) handed to a paged stack: a provided row answers row()
// once, as a copy of its own (the store transfers it); no head is kept whole (statistics stream blocks instead).
// The stand-in "GPU" values here are marked (qkRow + 1) so an answer shows where it came from.

const [H, T, d] = [2, 9, 4];

function pages(): { pages: PagedHeads; qk: LayerQK } {
  const rnd = mulberry32(7);
  const qk: LayerQK = {
    heads: H, kvHeads: 1, tokens: T, d, form: { scale: 0.5, causal: true },
    q: Float32Array.from({ length: H * T * d }, () => 2 * rnd() - 1), kT: Float32Array.from({ length: d * T }, () => 2 * rnd() - 1),
  };
  return { pages: new PagedHeads([{ path: 'qk', qk }], H, T, 2 ** 20), qk };
}

const marked = (xs: Float32Array): Float32Array => xs.map((v) => v + 1);

describe('a paged stack answers from provided rows', () => {
  it('answers a provided row once, as its own array, then recomputes it', () => {
    const { pages: p, qk } = pages();
    const block = new Float32Array(3 * T);
    for (let r = 0; r < 3; r++) block.set(marked(qkRow(qk, 1, 4 + r)), r * T);
    p.provide(0, 1, 4, block);
    const got = p.row(0, 1, 5);
    assert.deepEqual(got, marked(qkRow(qk, 1, 5)));
    assert.equal(got.buffer.byteLength, T * 4, 'a copy of its own, not a view of the block');
    assert.deepEqual(p.row(0, 1, 5), qkRow(qk, 1, 5), 'answered once, then recomputed');
    assert.deepEqual(p.row(0, 0, 5), qkRow(qk, 0, 5), 'another head is not affected');
    assert.equal(p.holds(0, 1), false);
  });

  it('keeps no head whole: a whole head handed in answers row() once per row and rows() is recomputed; nothing stays beside Q and K', () => {
    const { pages: p, qk } = pages();
    const qkBytes = p.heldBytes();
    const head = marked(qkHead(qk, 0));
    p.provide(0, 0, 0, head);
    assert.equal(p.holds(0, 0), false, 'not kept whole');
    assert.deepEqual(p.rows(0, 0, 2, 5), qkHead(qk, 0).subarray(2 * T, 5 * T), 'a block is recomputed from Q and K');
    assert.ok(p.largestBlockBytes > 0, 'recomputed');
    assert.deepEqual(p.row(0, 0, 3), head.slice(3 * T, 4 * T), 'a row handed in answers once');
    assert.deepEqual(p.row(0, 0, 3), qkRow(qk, 0, 3), 'then recomputed');
    assert.equal(p.heldBytes(), qkBytes, 'only Q and K counted');
  });
});
