import assert from 'node:assert/strict';
import { checkResult } from '../../src/host/run-result';
import type { RunSnapshot } from '../../src/host/runs';
import { MAX_AUTO_WASM_THREADS, threadsLabel, wasmThreadCount } from '../../src/shared/wasm-threads';

describe('WebAssembly thread count (attentionLens.wasmThreads)', () => {
  it('runs one thread unless the context is cross-origin isolated, whatever the setting and cores', () => {
    for (const setting of [undefined, 0, 1, 4, 64]) assert.equal(wasmThreadCount(setting, 16, false), 1);
  });

  it('auto (0 or absent) takes every core up to the cap; an explicit value is capped by the cores', () => {
    assert.deepEqual([1, 2, 4, 8, 16, 64].map((c) => wasmThreadCount(0, c, true)), [1, 2, 4, 8, 8, 8]);
    assert.equal(wasmThreadCount(undefined, 6, true), 6);
    assert.equal(MAX_AUTO_WASM_THREADS, 8);
    assert.deepEqual([1, 3, 12, 100].map((s) => wasmThreadCount(s, 12, true)), [1, 3, 12, 12]);
    assert.equal(wasmThreadCount(16, 4, true), 4);
    assert.equal(wasmThreadCount(2.9, 4, true), 2);
  });

  it('treats unusable settings as auto and unusable core counts as one core', () => {
    for (const s of [-3, Number.NaN, Number.POSITIVE_INFINITY, 0.5]) assert.equal(wasmThreadCount(s, 4, true), 4, `setting ${s}`);
    for (const c of [undefined, 0, -1, Number.NaN]) assert.equal(wasmThreadCount(4, c, true), 1, `cores ${c}`);
  });

  it('words the count for the header', () => {
    assert.deepEqual([1, 2, 8].map(threadsLabel), ['1 thread', '2 threads', '8 threads']);
  });

  it('keeps a WASM result\'s thread count on the host, and drops one that is not a whole number in range or not from WASM', () => {
    const run: RunSnapshot = { runId: 1, documentUri: 'file:///a', documentOffset: 0, text: 'ab', notices: [], timings: {}, stale: false,
      tokens: [{ id: 1, text: 'a', start: 0, end: 1 }, { id: 2, text: 'b', start: 1, end: 2 }] };
    const shapes = [{ kind: 'self' as const, layers: 1, heads: 1, queries: 2, keys: 2, causal: true }];
    const threadsOf = (backendUsed: 'wasm' | 'webgpu', threads: unknown) => {
      const c = checkResult(run, { type: 'result', runId: 1, backendUsed, shapes, timings: {}, threads: threads as number });
      assert.ok(!('error' in c));
      return c.patch.threads;
    };
    assert.equal(threadsOf('wasm', 4), 4);
    assert.equal(threadsOf('wasm', 1), 1);
    for (const bad of [0, 1.5, 65, '4', undefined]) assert.equal(threadsOf('wasm', bad), undefined, `threads ${String(bad)}`);
    assert.equal(threadsOf('webgpu', 4), undefined);
  });
});
