import assert from 'node:assert/strict';
import { BlockJob, mapJob, passOver, selectorSource, type BlockUnit, type RowSink, type RowSource } from '../../src/shared/row-blocks';
import { pagedAttention } from '../../src/shared/paged-attention';
import { selfAttention } from '../../src/shared/attention';
import { mulberry32 } from '../../src/shared/head-labels';
import type { LayerQK } from '../../src/shared/qk-attention';

// Issue 16: a job over row blocks stepped asynchronously, with blocks computed elsewhere (the worker's GPU) and
// awaited, feeds its sinks in row order, one block awaited at a time even when two drivers step it at once;
// a synchronous step while a block is awaited is refused; sources of paged heads say which head they serve.

const [T, K, BLOCK] = [10, 4, 3];
const matrix = Float32Array.from({ length: T * K }, (_, k) => k);
const source: RowSource = { rows: T, keys: K, block: (s, e) => matrix.subarray(s * K, e * K) };

/** A sink recording each block's start and first value. */
function recorder(): RowSink & { seen: [number, number][] } {
  const seen: [number, number][] = [];
  return { seen, add: (block, start) => void seen.push([start, block[0]]) };
}

/**
 * A fetch whose blocks (marked +1000) arrive only when `release` is called, newest first: were two blocks ever asked
 * for at once, the later one would be fed first.
 */
function heldBack(): { fetch: (u: BlockUnit) => Promise<Float32Array>; release: () => void; asked: number[] } {
  const pending: (() => void)[] = [];
  const asked: number[] = [];
  return {
    asked,
    fetch: (u) => {
      asked.push(u.start);
      return new Promise((resolve) => pending.push(() => resolve(u.source.block(u.start, u.end).map((v) => v + 1000))));
    },
    release: () => { while (pending.length) pending.pop()!(); },
  };
}

describe('row-block jobs stepped asynchronously', () => {
  it('feeds awaited blocks in row order, even with two drivers at once, and ends with the same result', async () => {
    const sink = recorder();
    const job = new BlockJob(passOver(source, [sink], BLOCK), Math.ceil(T / BLOCK), () => sink.seen.map((x) => x[0]));
    const f = heldBack();
    const a = job.stepAsync(0, f.fetch);
    const b = job.stepAsync(Infinity, f.fetch);
    for (let k = 0; k < 10 && job.done < job.total; k++) {
      f.release();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(await a, undefined, 'the first driver ran one block');
    assert.deepEqual(await b, [0, 3, 6, 9]);
    assert.deepEqual(sink.seen, [[0, 1000], [3, 1012], [6, 1024], [9, 1036]], 'in row order, from the fetched blocks');
    assert.deepEqual(f.asked, [0, 3, 6, 9]);
  });

  it('refuses a synchronous step while a block is awaited, and leaves units the fetch declines to their source', async () => {
    const sink = recorder();
    const job = mapJob(new BlockJob(passOver(source, [sink], BLOCK), Math.ceil(T / BLOCK), () => sink.seen.length), (n) => `${n} blocks`);
    const f = heldBack();
    const first = job.stepAsync(0, f.fetch);
    while (f.asked.length < 1) await new Promise((r) => setImmediate(r));
    assert.throws(() => job.step(0), /waiting for a block/);
    f.release();
    assert.equal(await first, undefined);
    const rest = job.stepAsync(Infinity, (u) => (u.start === 6 ? f.fetch(u) : undefined));
    while (f.asked.length < 2) await new Promise((r) => setImmediate(r));
    assert.equal(job.done, 2, 'rows 3… from the source; rows 6… awaited');
    f.release();
    assert.equal(await rest, '4 blocks');
    assert.equal(await job.stepAsync(Infinity, () => undefined), '4 blocks', 'the result stays');
    assert.deepEqual(sink.seen, [[0, 1000], [3, 12], [6, 1024], [9, 36]]);
  });

  it('marks the sources of a paged stack\'s heads, means and maxima with their origin; a held stack\'s have none', () => {
    const rnd = mulberry32(3);
    const qk: LayerQK = {
      heads: 2, kvHeads: 2, tokens: T, d: 4, form: { scale: 0.5, causal: true },
      q: Float32Array.from({ length: 2 * T * 4 }, rnd), kT: Float32Array.from({ length: 2 * 4 * T }, rnd),
    };
    const paged = pagedAttention([{ path: 'qk', qk }], 2, T);
    assert.deepEqual(selectorSource(paged, 0, 1).origin, { attention: paged, layer: 0, selector: 1 });
    assert.equal(selectorSource(paged, 0, 'max').origin?.selector, 'max');
    const held = selfAttention(1, 2, T, new Float32Array(2 * T * T), true);
    assert.equal(selectorSource(held, 0, 1).origin, undefined);
  });
});
