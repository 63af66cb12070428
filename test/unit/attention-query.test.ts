import assert from 'node:assert/strict';
import { rollout, topK, type Attention } from '../../src/shared/attention';
import { AttentionStore, type AttentionQuery } from '../../src/shared/attention-query';
import { AttentionAsker, QueryCancelledError } from '../../src/host/attention-asker';
import { mulberry32, type HeadMetricValues } from '../../src/shared/head-labels';
import type { AnswerMessage, HeadRef, QueryMessage } from '../../src/shared/protocol';

/** A random stack with real head counts: rows are softmaxes of random scores (causal: keys ≤ query only). */
function randomStack(kind: Attention['kind'], layers: number, heads: number, queries: number, keys: number, causal: boolean, seed: number): Attention {
  const rnd = mulberry32(seed);
  const data = new Float32Array(layers * heads * queries * keys);
  for (let m = 0; m < layers * heads; m++) {
    for (let i = 0; i < queries; i++) {
      const base = (m * queries + i) * keys;
      const end = causal ? i + 1 : keys;
      let z = 0;
      for (let j = 0; j < end; j++) z += (data[base + j] = Math.exp(4 * rnd() * rnd()));
      for (let j = 0; j < end; j++) data[base + j] /= z;
    }
  }
  return { kind, layers, heads, queries, keys, causal, data };
}

// Direct computations on the full stack, by index arithmetic, written here apart from the store's helpers.
const at = (a: Attention, l: number, h: number, i: number, j: number) => a.data[((l * a.heads + h) * a.queries + i) * a.keys + j];
const directRow = (a: Attention, l: number, head: number | 'mean' | 'max', i: number): number[] => Array.from({ length: a.keys }, (_, j) => {
  if (typeof head === 'number') return at(a, l, head, i, j);
  const vals = Array.from({ length: a.heads }, (_, h) => at(a, l, h, i, j));
  return head === 'max' ? Math.max(...vals) : vals.reduce((s, v) => s + v, 0) / a.heads;
});
const directJsd = (p: ArrayLike<number>, q: ArrayLike<number>) => {
  let s = 0;
  for (let j = 0; j < p.length; j++) {
    const m = (p[j] + q[j]) / 2;
    if (p[j] > 0) s += 0.5 * p[j] * Math.log2(p[j] / m);
    if (q[j] > 0) s += 0.5 * q[j] * Math.log2(q[j] / m);
  }
  return s;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let k = 0; k < a.length; k++) d = Math.max(d, Math.abs(a[k] - b[k]));
  return d;
};

describe('attention queries: the worker answers from the stacks it owns', () => {
  const L = 12, H = 12, T = 160;
  const self = randomStack('self', L, H, T, T, true, 7);
  const store = new AttentionStore([self]);
  const ref = (layer: number, head: HeadRef['head']): HeadRef => ({ stack: 'self', layer, head });
  const ask = (q: AttentionQuery) => store.answer(q).answer;

  it('serves rows of heads, means and maxima equal to the stack read directly, and zeros above the diagonal', () => {
    for (const [l, head, i] of [[0, 0, 0], [3, 7, 80], [11, 11, T - 1], [5, 'mean', 42], [9, 'max', 150]] as const) {
      const a = ask({ kind: 'row', head: ref(l, head), query: i });
      assert.ok(a.kind === 'row');
      const got = new Float32Array(a.weights);
      assert.ok(maxDiff(got, directRow(self, l, head, i)) <= 1e-7, `L${l} ${head} row ${i}`);
      assert.ok(got.subarray(i + 1).every((v) => v === 0), 'causal: nothing above the diagonal');
      if (head !== 'max') assert.ok(Math.abs(got.reduce((s, v) => s + v, 0) - 1) <= 1e-5, 'the row sums to 1');
    }
  });

  it('serves columns ("attended by"): the weight every query puts on one key, zeros before it in a causal head', () => {
    for (const [l, head, j] of [[2, 5, 40], [11, 'mean', 0], [4, 'max', T - 1]] as const) {
      const a = ask({ kind: 'column', head: ref(l, head), key: j });
      assert.ok(a.kind === 'column');
      const got = new Float32Array(a.weights);
      const want = Array.from({ length: T }, (_, i) => directRow(self, l, head, i)[j]);
      assert.ok(maxDiff(got, want) <= 1e-7, `L${l} ${head} column ${j}`);
      assert.ok(got.subarray(0, j).every((v) => v === 0), 'queries before the key cannot attend to it');
    }
    assert.throws(() => store.answer({ kind: 'column', head: ref(0, 0), key: T }), /no key 160 of 160/);
  });

  it('serves rollout rows for every layer, asked in any order, equal to rollout computed from scratch', () => {
    for (const l of [4, 0, 11, 7]) {
      const want = rollout(self, l);
      for (const i of [0, 63, T - 1]) {
        const a = ask({ kind: 'row', head: ref(l, 'rollout'), query: i });
        assert.ok(a.kind === 'row');
        assert.ok(maxDiff(new Float32Array(a.weights), want.subarray(i * T, (i + 1) * T)) <= 1e-7, `rollout L${l} row ${i}`);
      }
    }
  });

  it('serves the top-k of a row largest first, as a full sort of the row gives', () => {
    for (const [l, head, i, k] of [[2, 3, 100, 10], [11, 'mean', T - 1, 5], [0, 0, 1, 10]] as const) {
      const a = ask({ kind: 'topk', head: ref(l, head), query: i, k });
      const row = directRow(self, l, head, i);
      const want = row.map((w, j) => [w, j] as const).filter(([w]) => w > 0).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, k);
      assert.ok(a.kind === 'topk');
      assert.deepEqual(a.keys, want.map(([, j]) => j));
      assert.ok(maxDiff(a.weights, want.map(([w]) => w)) <= 1e-7);
    }
    assert.deepEqual(topK([0.1, 0.3, 0.3, 0, 0.2], 3), [1, 2, 4], 'ties: the earlier key first');
    assert.deepEqual(topK([0.5, 0.2, 0.2], 2), [0, 1], 'a tie at the cut keeps the earlier key');
    assert.deepEqual(topK([0, -1, 0], 2), [], 'zero and negative weights are never top');
  });

  it('serves a head at display size: full when it fits, else each cell the max of its block (masked blocks NaN), with the scale of the full matrix', () => {
    const full = ask({ kind: 'matrix', head: ref(6, 5) });
    assert.ok(full.kind === 'matrix' && !full.pooled && full.rows === T && full.cols === T);
    const m = new Float32Array(full.data);
    assert.equal(maxDiff(m, Array.from({ length: T * T }, (_, k) => at(self, 6, 5, Math.floor(k / T), k % T))), 0);
    const visible = Array.from({ length: T * T }, (_, k) => at(self, 6, 5, Math.floor(k / T), k % T)).filter((_, k) => k % T <= Math.floor(k / T));
    const sorted = visible.sort((x, y) => x - y);
    assert.equal(full.scale, sorted[Math.ceil(0.99 * sorted.length) - 1], 'the 99th percentile of the visible weights, as sorting gives');

    const side = 48;
    const pooled = ask({ kind: 'matrix', head: ref(6, 5), maxSide: side });
    assert.ok(pooled.kind === 'matrix' && pooled.pooled && pooled.rows === side && pooled.cols === side && pooled.scale === full.scale);
    const p = new Float32Array(pooled.data);
    for (let bi = 0; bi < side; bi++) {
      for (let bj = 0; bj < side; bj++) {
        let want = -Infinity;
        for (let i = Math.floor((bi * T) / side); i < Math.floor(((bi + 1) * T) / side); i++) {
          for (let j = Math.floor((bj * T) / side); j < Math.floor(((bj + 1) * T) / side); j++) if (j <= i) want = Math.max(want, at(self, 6, 5, i, j));
        }
        const got = p[bi * side + bj];
        if (want === -Infinity) assert.ok(Number.isNaN(got), `block (${bi}, ${bj}) is all masked`);
        else assert.equal(got, Math.fround(want), `block (${bi}, ${bj})`);
      }
    }
  });

  it('ranks the nearest heads of the same stack by mean row JS divergence, leaving the head itself out', () => {
    const target = Array.from({ length: T }, (_, i) => directRow(self, 3, 4, i));
    const all: { layer: number; head: number; jsd: number }[] = [];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        if (l === 3 && h === 4) continue;
        let s = 0;
        for (let i = 0; i < T; i++) s += directJsd(target[i], directRow(self, l, h, i));
        all.push({ layer: l, head: h, jsd: s / T });
      }
    }
    all.sort((a, b) => a.jsd - b.jsd);
    const a = ask({ kind: 'nearest', head: ref(3, 4), count: 4 });
    assert.ok(a.kind === 'nearest');
    assert.deepEqual(a.heads.map((x) => `L${x.head.layer} H${x.head.head}`), all.slice(0, 4).map((x) => `L${x.layer} H${x.head}`));
    a.heads.forEach((x, k) => assert.ok(Math.abs(x.meanJsd - all[k].jsd) <= 1e-6));
  });

  it('reads decoder and cross heads from their own stacks; cross has no rollout, so the mean stands in', () => {
    const enc = randomStack('encoder', 2, 3, 5, 5, false, 1);
    const dec = randomStack('decoder', 2, 3, 4, 4, true, 2);
    const cross = randomStack('cross', 2, 3, 4, 5, false, 3);
    const s = new AttentionStore([enc, dec, cross]);
    const row = (head: HeadRef, i: number) => {
      const a = s.answer({ kind: 'row', head, query: i }).answer;
      assert.ok(a.kind === 'row');
      return Array.from(new Float32Array(a.weights));
    };
    assert.deepEqual(row({ stack: 'cross', layer: 1, head: 2 }, 3), directRow(cross, 1, 2, 3).map(Math.fround));
    assert.deepEqual(row({ stack: 'decoder', layer: 0, head: 1 }, 2), directRow(dec, 0, 1, 2).map(Math.fround));
    assert.deepEqual(row({ stack: 'self', layer: 1, head: 0 }, 4), directRow(enc, 1, 0, 4).map(Math.fround), "'self' names the encoder");
    assert.ok(maxDiff(row({ stack: 'cross', layer: 1, head: 'rollout' }, 0), directRow(cross, 1, 'mean', 0)) <= 1e-7);
  });

  it('serves every head\'s metrics as computed head by head on the stack, and none for cross-attention', () => {
    const ids = Array.from({ length: T }, (_, i) => (i * 37) % 50);
    const a = ask({ kind: 'metrics', stack: 'self', ids });
    if (a.kind !== 'metrics') throw new Error(`a ${a.kind} answer`);
    assert.equal(a.rows.length, L * H);
    // previous-token score read straight from the stack: mean over i ≥ 1 of A[i, i-1].
    for (const [l, h] of [[0, 0], [7, 3], [11, 11]]) {
      let prev = 0;
      for (let i = 1; i < T; i++) prev += at(self, l, h, i, i - 1);
      const row: HeadMetricValues = a.rows[l * H + h];
      assert.deepEqual([row.layer, row.head], [l, h]);
      assert.ok(Math.abs(row.previousToken - prev / (T - 1)) <= 1e-6, `L${l} H${h} previous-token ${row.previousToken} vs ${prev / (T - 1)}`);
      assert.equal(row.induction, null, 'induction comes from the probe, not the input');
    }
    assert.throws(() => store.answer({ kind: 'metrics', stack: 'self', ids: ids.slice(1) }), /159 token ids for 160 queries/);
    // A worker asks in slices: with no time budget each call adds one head, and the last call returns the same rows.
    const sliced = new AttentionStore([self]);
    let calls = 1;
    let got = sliced.metricsStep('self', ids, 0);
    for (; !got; calls++) got = sliced.metricsStep('self', ids, 0);
    assert.equal(calls, L * H, 'one head per call');
    assert.deepEqual(got, a.rows);
    const s2 = new AttentionStore([randomStack('encoder', 1, 2, 3, 3, false, 4), randomStack('cross', 1, 2, 2, 3, false, 5)]);
    const cross = s2.answer({ kind: 'metrics', stack: 'cross', ids: [1, 2] }).answer;
    assert.ok(cross.kind === 'metrics' && cross.rows.length === 0);
  });

  it('serves the most probable next tokens from the logits it keeps, as a softmax and a full sort give', () => {
    const vocab = 40;
    const rnd = mulberry32(11);
    const logits = Float32Array.from({ length: 3 * vocab }, () => 6 * rnd());
    const s2 = new AttentionStore([self], { data: logits, vocab });
    const a = s2.answer({ kind: 'predictions', query: 1, k: 4 }).answer;
    const row = Array.from(logits.subarray(vocab, 2 * vocab));
    const z = row.reduce((acc, v) => acc + Math.exp(v), 0);
    const want = row.map((v, id) => ({ id, p: Math.exp(v) / z })).sort((x, y) => y.p - x.p).slice(0, 4);
    assert.ok(a.kind === 'predictions');
    assert.deepEqual(a.predictions.map((x) => x.id), want.map((x) => x.id));
    a.predictions.forEach((x, k) => assert.ok(Math.abs(x.p - want[k].p) <= 1e-6));
    assert.throws(() => store.answer({ kind: 'predictions', query: 0, k: 5 }), /no logits/);
  });

  it('refuses what the run does not have with a RangeError saying what', () => {
    assert.throws(() => store.answer({ kind: 'row', head: ref(L, 0), query: 0 }), /no head 0 in layer 12 of 12×12/);
    assert.throws(() => store.answer({ kind: 'row', head: ref(0, H), query: 0 }), /no head 12/);
    assert.throws(() => store.answer({ kind: 'row', head: ref(0, 0), query: T }), /no query 160 of 160/);
    assert.throws(() => store.answer({ kind: 'row', head: { stack: 'cross', layer: 0, head: 0 }, query: 0 }), /no cross attention/);
    assert.throws(() => store.answer({ kind: 'bogus' } as unknown as AttentionQuery), /Unknown attention query "bogus"/);
  });
});

describe('the host asks the panel, and matches answers by id', () => {
  const stack = randomStack('self', 2, 2, 6, 6, true, 9);
  const store = new AttentionStore([stack]);
  /** A panel that answers on a later turn from the store (or lets the test answer by hand). */
  const panel = (answerWith?: (q: QueryMessage) => Partial<AnswerMessage>) => {
    const sent: QueryMessage[] = [];
    const asker: AttentionAsker = new AttentionAsker((m) => {
      sent.push(m);
      setImmediate(() => asker.receive({ type: 'answer', id: m.id, runId: m.runId, ...(answerWith ? answerWith(m) : { answer: store.answer(m.query).answer }) }));
      return true;
    });
    return { asker, sent };
  };

  it('assembles a whole stack head by head, equal to the worker\'s', async () => {
    const { asker, sent } = panel();
    const got = await asker.stack(1, stack);
    assert.deepEqual(got.data, stack.data);
    assert.equal(sent.length, 4, 'one query per head');
    assert.equal(new Set(sent.map((m) => m.id)).size, 4, 'each with its own id');
  });

  it('rejects on the panel\'s error, a malformed answer, a stale run, and queries cancelled by a new run', async () => {
    await assert.rejects(panel(() => ({ error: 'no such head' })).asker.ask(1, { kind: 'row', head: { stack: 'self', layer: 0, head: 0 }, query: 0 }), /no such head/);
    await assert.rejects(panel(() => ({ answer: { kind: 'row', weights: [1, 2] } as never })).asker.ask(1, { kind: 'row', head: { stack: 'self', layer: 0, head: 0 }, query: 0 }),
      /malformed row/);
    await assert.rejects(panel(() => ({ answer: { kind: 'topk', keys: [1], weights: [] } })).asker.ask(1, { kind: 'row', head: { stack: 'self', layer: 0, head: 0 }, query: 0 }),
      /answered a row query with something else/);
    await assert.rejects(panel(() => ({ stale: true, error: 'Run 1 is no longer held' })).asker.ask(1, { kind: 'topk', head: { stack: 'self', layer: 0, head: 0 }, query: 0, k: 2 }),
      (e: Error) => e instanceof QueryCancelledError && /no longer held/.test(e.message));
    const silent = new AttentionAsker(() => true); // a panel that never answers
    const old = silent.ask(1, { kind: 'row', head: { stack: 'self', layer: 0, head: 0 }, query: 0 });
    const kept = silent.ask(2, { kind: 'row', head: { stack: 'self', layer: 0, head: 0 }, query: 0 });
    silent.cancelOthers(2, 'Run 2 replaced it.');
    await assert.rejects(old, (e: Error) => e instanceof QueryCancelledError && /Run 2 replaced it/.test(e.message));
    silent.receive({ type: 'answer', id: 1, runId: 1, answer: { kind: 'row', weights: new ArrayBuffer(24) } }); // too late: ignored
    silent.receive({ type: 'answer', id: 2, runId: 1, answer: { kind: 'row', weights: new ArrayBuffer(24) } }); // wrong run for id 2: ignored
    silent.cancelOthers(undefined, 'The panel closed.');
    await assert.rejects(kept, /panel closed/);
    await assert.rejects(new AttentionAsker(() => false).ask(1, { kind: 'nearest', head: { stack: 'self', layer: 0, head: 0 }, count: 1 }), /not open/);
  });
});
