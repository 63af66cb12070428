import assert from 'node:assert/strict';
import { attentionBytes, RunStore } from '../../src/host/runs';
import { selfAttention } from '../../src/shared/attention';

const fields = { documentUri: 'file:///a.txt', documentOffset: 0, text: 'a', tokens: [], notices: [], timings: {} };
const attention = selfAttention(1, 1, 1, new Float32Array([1]), true);

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
    s.update(a.runId, { attention });
    assert.equal((await p).attention, attention);
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
    s.update(b.runId, { attention });
    assert.equal((await next).runId, b.runId);
  });

  it('rejects waiters on dispose', async () => {
    const s = new RunStore();
    const p = s.waitFor();
    s.dispose();
    await assert.rejects(p, /deactivated/);
  });

  it('bounds the attention it keeps: older runs are forgotten beyond the byte budget, never the latest', async () => {
    const mib = (n: number) => selfAttention(1, n, 512, new Float32Array(n * 2 ** 18), true); // n heads of 512² floats: n MiB
    const s = new RunStore(3 * 2 ** 20); // older runs may hold 3 MiB together
    const ids: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r = s.begin(fields);
      ids.push(r.runId);
      s.update(r.runId, { attention: mib(1) });
    }
    // The latest run plus the three newest older ones (1 MiB each) fit; the oldest went.
    assert.deepEqual(ids.map((id) => s.get(id) !== undefined), [false, true, true, true, true]);
    assert.equal(attentionBytes(s.get(ids[4])!), 2 ** 20);
    await assert.rejects(s.waitFor(ids[0]), /no longer kept/);
    // A run larger than the whole budget is still kept while it is the latest, and pushes every older one out.
    const big = s.begin(fields);
    s.update(big.runId, { attention: mib(8) });
    assert.ok(s.get(big.runId)?.attention, 'the latest run keeps its attention');
    assert.deepEqual(ids.map((id) => s.get(id) !== undefined), [false, false, true, true, true], 'older runs within the budget stay');
    const next = s.begin(fields);
    assert.equal(s.get(big.runId), undefined, 'once older, an 8 MiB run is beyond the budget');
    assert.ok(s.get(next.runId));
  });
});
