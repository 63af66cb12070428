import assert from 'node:assert/strict';
import { deadlineReason, DeadlineError, stepWithFallback, withDeadline, type Backend } from '../../src/shared/backend-fallback';

/** A promise that never settles: a WebGPU step that hangs. */
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

describe('WebGPU → WASM fallback', () => {
  it('a step that never settles is given up at its deadline, and one that settles keeps its value', async () => {
    await assert.rejects(withDeadline(never(), 5), (e: unknown) => e instanceof DeadlineError && /did not finish within 5 ms/.test(e.message));
    assert.equal(await withDeadline(Promise.resolve(7), 5), 7);
    await assert.rejects(withDeadline(Promise.reject(new Error('boom')), 5), /boom/);
    assert.match(new DeadlineError(60_000).message, /within 60 s$/);
    assert.equal(deadlineReason(new DeadlineError(60_000)), 'WebGPU did not finish within 60 s, so the panel restarted its inference worker and ran on WASM');
  });

  it('retries a failed or hung WebGPU step on WASM and says why; WASM failures are not retried', async () => {
    const tried: Backend[] = [];
    const failing = (b: Backend) => { tried.push(b); return b === 'webgpu' ? Promise.reject(new Error('device lost')) : Promise.resolve('ok'); };
    const told: string[] = [];
    const r = await stepWithFallback('webgpu', failing, { doing: 'run the model', onFallback: (why) => told.push(why) });
    assert.deepEqual([r.value, r.backend, r.fallbackReason], ['ok', 'wasm', 'WebGPU failed to run the model (device lost); ran on WASM']);
    assert.deepEqual(tried, ['webgpu', 'wasm']);
    assert.deepEqual(told, [r.fallbackReason]);

    const hung = await stepWithFallback('webgpu', (b) => (b === 'webgpu' ? never<string>() : Promise.resolve('wasm result')),
      { doing: 'start', deadlineMs: 5 });
    assert.deepEqual([hung.value, hung.backend, hung.fallbackReason], ['wasm result', 'wasm', 'WebGPU failed to start (did not finish within 5 ms); ran on WASM']);

    const onWasm = await stepWithFallback('wasm', () => Promise.resolve(1), { doing: 'start' });
    assert.deepEqual([onWasm.backend, onWasm.fallbackReason], ['wasm', undefined]);
    await assert.rejects(stepWithFallback('wasm', () => Promise.reject(new Error('bad graph')), { doing: 'start' }), /bad graph/);
    const fine = await stepWithFallback('webgpu', (b) => Promise.resolve(b), { doing: 'start', deadlineMs: 1000 });
    assert.deepEqual([fine.value, fine.backend, fine.fallbackReason], ['webgpu', 'webgpu', undefined]);
  });
});
