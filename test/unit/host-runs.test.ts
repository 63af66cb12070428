import assert from 'node:assert/strict';
import { RunStore } from '../../src/host/runs';
import type { StackShape } from '../../src/shared/attention-query';

const fields = { documentUri: 'file:///a.txt', documentOffset: 0, text: 'a', tokens: [], notices: [], timings: {} };
const shapes: StackShape[] = [{ kind: 'self', layers: 1, heads: 1, queries: 1, keys: 1, causal: true }];

describe('host run store', () => {
  it('numbers runs and keeps the latest', () => {
    const s = new RunStore();
    assert.equal(s.latest(), undefined);
    const a = s.begin(fields);
    const b = s.begin(fields);
    assert.equal(b.runId, a.runId + 1);
    assert.equal(s.latest()?.runId, b.runId);
    assert.match(s.get(a.runId)?.error ?? '', /Cancelled/, 'a pending run is cancelled by a newer one');
  });

  it('waitFor(id) resolves on result or error, at once when already finished', async () => {
    const s = new RunStore();
    const a = s.begin(fields);
    const p = s.waitFor(a.runId);
    s.update(a.runId, { shapes });
    assert.equal((await p).shapes, shapes);
    assert.equal((await s.waitFor(a.runId)).runId, a.runId);
    await assert.rejects(s.waitFor(0), /unknown/, 'a run id that was never started');
  });

  it('waitFor() waits for the pending latest run, else for the next run', async () => {
    const s = new RunStore();
    const a = s.begin(fields);
    const pending = s.waitFor();
    s.update(a.runId, { error: 'boom' });
    assert.equal((await pending).runId, a.runId);

    const next = s.waitFor();
    let settled = false;
    void next.then(() => { settled = true; });
    s.update(a.runId, { stale: true }); // an update to an older, finished run does not count
    await Promise.resolve();
    assert.equal(settled, false);
    const b = s.begin(fields);
    s.update(b.runId, { shapes });
    assert.equal((await next).runId, b.runId);
  });

  it('rejects waiters on dispose', async () => {
    const s = new RunStore();
    const p = s.waitFor();
    s.dispose();
    await assert.rejects(p, /deactivated/);
  });
});
