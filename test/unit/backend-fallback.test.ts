import assert from 'node:assert/strict';
import { deadlineReason, DeadlineError, stepWithFallback, type Backend } from '../../src/shared/backend-fallback';

describe('WebGPU → WASM fallback', () => {
  it('says how long a WebGPU run was given when the panel gives up on it', () => {
    assert.match(new DeadlineError(5).message, /did not finish within 5 ms$/);
    assert.match(new DeadlineError(60_000).message, /within 60 s$/);
    assert.equal(deadlineReason(new DeadlineError(60_000)), 'WebGPU did not finish within 60 s, so the panel restarted its inference worker and ran on WASM');
  });

  it('retries a failed WebGPU step on WASM and says why; WASM failures are not retried', async () => {
    const tried: Backend[] = [];
    const failing = (b: Backend) => { tried.push(b); return b === 'webgpu' ? Promise.reject(new Error('device lost')) : Promise.resolve('ok'); };
    const told: string[] = [];
    const r = await stepWithFallback('webgpu', failing, { doing: 'run the model', onFallback: (why) => told.push(why) });
    assert.deepEqual([r.value, r.backend, r.fallbackReason], ['ok', 'wasm', 'WebGPU failed to run the model (device lost); ran on WASM']);
    assert.deepEqual(tried, ['webgpu', 'wasm']);
    assert.deepEqual(told, [r.fallbackReason]);

    const onWasm = await stepWithFallback('wasm', () => Promise.resolve(1), { doing: 'start' });
    assert.deepEqual([onWasm.backend, onWasm.fallbackReason], ['wasm', undefined]);
    await assert.rejects(stepWithFallback('wasm', () => Promise.reject(new Error('bad graph')), { doing: 'start' }), /bad graph/);
    const fine = await stepWithFallback('webgpu', (b) => Promise.resolve(b), { doing: 'start' });
    assert.deepEqual([fine.value, fine.backend, fine.fallbackReason], ['webgpu', 'webgpu', undefined]);
  });
});
