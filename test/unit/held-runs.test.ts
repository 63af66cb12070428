import assert from 'node:assert/strict';
import { AttentionStore } from '../../src/shared/attention-query';
import { mulberry32 } from '../../src/shared/head-labels';
import { pagedAttention } from '../../src/shared/paged-attention';
import type { WorkerToPanel } from '../../src/shared/protocol';
import type { Attention } from '../../src/shared/attention';
import type { QueryMessage } from '../../src/shared/protocol';

/** The worker's HeldRuns, required so the type check does not follow its imports into the worker's DOM-typed modules. */
const { HeldRuns } = require('../../webview/worker/held-runs') as {
  HeldRuns: new (post: (m: WorkerToPanel) => void, sliceMs?: number) => {
    keep(runId: number, stacks: readonly Attention[]): void;
    answer(msg: QueryMessage): void;
  };
};
import { ProgressLine, queryProgressText } from '../../webview/panel/load-progress';

// The worker answers a query over every row of a paged stack a slice of row blocks at a time (issue 16): it reports
// progress after each slice, answers a hover's row asked meanwhile first, and its answer is the one the store gives.

const L = 2, H = 3, T = 30, d = 4;

/** A paged stack of random Q and K, in blocks of 4 rows (8 blocks a head, the last of 2). */
function paged(seed: number) {
  const rnd = mulberry32(seed);
  const layers = Array.from({ length: L }, () => ({
    path: 'qk' as const,
    qk: { heads: H, kvHeads: H, tokens: T, d, q: Float32Array.from({ length: H * T * d }, () => 2 * rnd() - 1),
      kT: Float32Array.from({ length: H * d * T }, () => 2 * rnd() - 1), form: { scale: 0.5, causal: true } },
  }));
  return pagedAttention(layers, H, T, 4 * T * 4);
}

/** Resolves once `sent` has a message matching `f`. */
async function until(sent: WorkerToPanel[], f: (m: WorkerToPanel) => boolean): Promise<void> {
  while (!sent.some(f)) await new Promise((r) => setTimeout(r, 0));
}

describe('the worker answers queries over row blocks a slice at a time', () => {
  it('reports each slice\'s progress, answers a row asked meanwhile first, then the metrics the store gives', async () => {
    const sent: WorkerToPanel[] = [];
    const row = { type: 'query', id: 11, runId: 1, query: { kind: 'row', head: { stack: 'self', layer: 1, head: 2 }, query: 17 } } as const;
    const held = new HeldRuns((m) => {
      sent.push(m);
      // A hover's question arrives as a message (a task of its own) once the metrics are under way.
      if (m.type === 'queryProgress' && m.done === 1) setTimeout(() => held.answer(row), 0);
    }, 0); // one block a slice
    held.keep(1, [paged(3)]);
    const ids = Array.from({ length: T }, (_, i) => i % 7);
    held.answer({ type: 'query', id: 10, runId: 1, query: { kind: 'metrics', stack: 'self', ids } });
    await until(sent, (m) => m.type === 'answer' && m.id === 10);
    const order = sent.filter((m) => m.type === 'answer').map((m) => (m as { id: number }).id);
    assert.deepEqual(order, [11, 10], 'the row is answered while the metrics are under way');
    const progress = sent.filter((m): m is Extract<WorkerToPanel, { type: 'queryProgress' }> => m.type === 'queryProgress');
    const total = L * H * Math.ceil(T / 4);
    assert.ok(progress.every((p) => p.id === 10 && p.kind === 'metrics' && p.total === total));
    assert.deepEqual(progress.map((p) => p.done), [...Array.from({ length: total - 1 }, (_, k) => k + 1), total], 'one report a block, then done');
    assert.ok(sent.indexOf(progress[progress.length - 1]) < sent.findIndex((m) => m.type === 'answer' && m.id === 10), 'done before the answer');
    const answer = sent.find((m) => m.type === 'answer' && m.id === 10) as Extract<WorkerToPanel, { type: 'answer' }>;
    assert.deepEqual(answer.answer, new AttentionStore([paged(3)]).answer({ kind: 'metrics', stack: 'self', ids }).answer);
  });

  it('answers a query of one block (a held stack) at once, with no progress', () => {
    const sent: WorkerToPanel[] = [];
    const held = new HeldRuns((m) => sent.push(m), 0);
    const rows = new Float32Array(L * H * T * T).map((_, k) => (k % T <= Math.floor(k / T) % T ? 1 : 0));
    held.keep(1, [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true, data: rows }]);
    held.answer({ type: 'query', id: 1, runId: 1, query: { kind: 'column', head: { stack: 'self', layer: 0, head: 1 }, key: 3 } });
    assert.deepEqual(sent.map((m) => m.type), ['answer']);
  });
});

describe('the panel\'s progress line shows a query\'s progress over row blocks', () => {
  it('shows the latest unfinished query while no run loads, and hides when the last finishes', () => {
    const shown: (string | undefined)[] = [];
    const line = new ProgressLine((text) => shown.push(text));
    line.query(1, queryProgressText('metrics', 3, 12));
    line.query(2, queryProgressText('nearest', 1, 4));
    line.query(2, queryProgressText('nearest', 4, 4));
    line.query(1, queryProgressText('metrics', 12, 12));
    assert.deepEqual(shown, ['Computing head metrics from Q and K: 25 %…', 'Finding the nearest heads from Q and K: 25 %…',
      'Computing head metrics from Q and K: 25 %…', undefined]);
    const update = line.startRun();
    update({ stage: 'inference' });
    const during = shown.length;
    line.query(3, queryProgressText('matrix', 1, 2));
    assert.equal(shown.length, during, 'a loading run keeps the line');
  });
});
