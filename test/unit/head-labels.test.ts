import assert from 'node:assert/strict';
import { selfAttention } from '../../src/shared/attention';
import {
  describeLabels, inductionProbe, inductionScores, LABEL_MEANINGS, LABEL_THRESHOLDS, labelHead, labelRules, mulberry32, PROBE_PERIOD, probePeriod,
  sortMetrics, stackMetrics,
  type HeadMetricValues,
} from '../../src/shared/head-labels';

/** Builds a T×T matrix from a function of (i, j), then normalises each row. */
function matrix(t: number, f: (i: number, j: number) => number): Float32Array {
  const a = new Float32Array(t * t);
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let j = 0; j < t; j++) s += (a[i * t + j] = f(i, j));
    for (let j = 0; j < t; j++) a[i * t + j] /= s;
  }
  return a;
}
const close = (x: number, y: number, eps = 1e-6) => assert.ok(Math.abs(x - y) <= eps, `${x} ≉ ${y}`);

describe('head labels from per-head metrics', () => {
  const T = 8;
  const previous = matrix(T, (i, j) => (i === 0 ? (j === 0 ? 1 : 0) : j === i - 1 ? 1 : 0));
  const uniform = matrix(T, (i, j) => (j <= i ? 1 : 0));
  const sink = matrix(T, (_i, j) => (j === 0 ? 1 : 0));
  const self = matrix(T, (i, j) => (i === j ? 1 : 0));
  const stack = new Float32Array([...previous, ...uniform, ...sink, ...self]);
  const ids = [1, 2, 3, 4, 5, 6, 7, 8];

  it('computes every metric of every head of a [1, 4, T, T] stack, layer-major', () => {
    const m = stackMetrics(selfAttention(1, 4, ids.length, stack, true), ids);
    assert.deepEqual(m.map((x) => [x.layer, x.head]), [[0, 0], [0, 1], [0, 2], [0, 3]]);
    close(m[0].previousToken, 1);
    close(m[0].entropy, 0);
    close(m[0].distance, (T - 1) / T);
    close(m[1].entropy, 1);
    close(m[2].sink, 1);
    assert.equal(m[0].sink, 0, 'a pure previous-token head has no first-token score');
    close(m[3].self, 1);
    assert.equal(m[0].duplicate, null, 'no token repeats');
    assert.equal(m[0].induction, null, 'not probed');
  });

  it('labels a pure previous-token head previous-token (not sink, not local), uniform broad, first-token sink, self local', () => {
    const m = stackMetrics(selfAttention(1, 4, ids.length, stack, true), ids);
    assert.deepEqual(labelHead(m[0]), ['previous-token']);
    assert.deepEqual(labelHead(m[1]), ['broad']);
    assert.ok(labelHead(m[2]).includes('sink'));
    assert.deepEqual(labelHead(m[3]), ['local']);
  });

  it('labels induction from the probe scores and duplicate from repeated ids', () => {
    const period = 4;
    const ind = matrix(T, (i, j) => (i >= period ? (j === i - period + 1 ? 1 : 0) : j === 0 ? 1 : 0));
    const scores = inductionScores(selfAttention(1, 2, T, new Float32Array([...ind, ...previous]), true), period);
    close(scores[0], 1);
    close(scores[1], 0);
    const rep = [5, 6, 7, 8, 5, 6, 7, 8];
    const dup = matrix(T, (i, j) => (i >= period ? (j === i - period ? 1 : 0) : j === i ? 1 : 0));
    const m = stackMetrics(selfAttention(1, 2, rep.length, new Float32Array([...ind, ...dup]), true), rep, scores);
    assert.ok(labelHead(m[0]).includes('induction'));
    close(m[1].duplicate!, 1);
    assert.ok(labelHead(m[1]).includes('duplicate'));
    assert.ok(!labelHead(m[1]).includes('induction'));
  });

  it('applies the exported thresholds exactly at the boundary', () => {
    const base: HeadMetricValues = { layer: 0, head: 0, entropy: 0.5, previousToken: 0, sink: 0, self: 0, distance: 5, duplicate: null, induction: null };
    assert.deepEqual(labelHead({ ...base, previousToken: LABEL_THRESHOLDS.previousToken }), ['previous-token']);
    assert.deepEqual(labelHead({ ...base, previousToken: LABEL_THRESHOLDS.previousToken - 1e-9 }), []);
    assert.deepEqual(labelHead({ ...base, induction: LABEL_THRESHOLDS.induction }), ['induction']);
    assert.deepEqual(labelHead({ ...base, entropy: LABEL_THRESHOLDS.broadEntropy }), ['broad']);
    assert.equal(labelRules().length, 6);
    assert.ok(labelRules().every((r) => /\d/.test(r.rule)), 'every rule names its threshold');
  });

  it('builds a reproducible [r, r] probe within the context', () => {
    const p = inductionProbe(2048, 128)!;
    assert.equal(p.period, 64);
    assert.equal(p.ids.length, 128);
    assert.deepEqual(p.ids.slice(0, 64), p.ids.slice(64));
    assert.ok(p.ids.every((id) => id >= 1 && id < 2048 && Number.isInteger(id)));
    assert.deepEqual(inductionProbe(2048, 128)!.ids, p.ids);
    assert.equal(inductionProbe(2048, 20)!.period, 10);
    assert.equal(inductionProbe(2048, 3), undefined);
  });

  it('has a fixed probe length: 2·PROBE_PERIOD tokens whatever the context above it, half a shorter context', () => {
    assert.equal(PROBE_PERIOD, 64);
    const at128 = inductionProbe(2048, 128)!;
    // A long context (or a long input) does not lengthen the probe: the same ids as at context 128.
    for (const context of [129, 512, 1024, 32768]) {
      assert.equal(probePeriod(context), 64, `context ${context}`);
      assert.deepEqual(inductionProbe(2048, context)!.ids, at128.ids, `context ${context}`);
    }
    assert.equal(probePeriod(101), 50);
    assert.equal(inductionProbe(2048, 101)!.ids.length, 100);
    assert.equal(inductionProbe(2048, Number.NaN), undefined);
    const r = mulberry32(1);
    const xs = Array.from({ length: 1000 }, r);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    close(xs.reduce((a, b) => a + b) / xs.length, 0.5, 0.05);
  });

  it('sorts by a column, nulls last, ties by layer and head', () => {
    const rows = stackMetrics(selfAttention(2, 2, ids.length, stack, true), ids, [0.1, 0.9, 0.5, 0.9]);
    assert.deepEqual(sortMetrics(rows, 'induction', true).map((r) => `${r.layer}.${r.head}`), ['0.1', '1.1', '1.0', '0.0']);
    assert.deepEqual(sortMetrics(rows, 'induction', false).map((r) => `${r.layer}.${r.head}`), ['0.0', '1.0', '0.1', '1.1']);
    assert.deepEqual(sortMetrics(rows, 'head', true).map((r) => `${r.layer}.${r.head}`), ['1.1', '1.0', '0.1', '0.0']);
    const withNull = stackMetrics(selfAttention(2, 2, ids.length, stack, true), ids);
    assert.equal(sortMetrics(withNull, 'duplicate', true)[0].layer, 0);
  });
});

describe('head labels in plain words', () => {
  it('gives every label one short sentence, and every rule its label', () => {
    const labels = labelRules().map((r) => r.label);
    assert.deepEqual(Object.keys(LABEL_MEANINGS).sort(), [...labels].sort());
    for (const l of labels) {
      const m = LABEL_MEANINGS[l];
      assert.match(m, /^[A-Z][^.]*\.$/, `${l}: one sentence`);
      assert.ok(m.length <= 160, `${l}: short (${m.length})`);
      assert.ok(!/A\[|≥|≤/.test(m), `${l}: words, not a formula`);
    }
    assert.equal(describeLabels(['previous-token', 'sink']),
      'previous-token: looks at the token just before each token. sink: parks most of its attention on the first token when nothing ' +
      'else stands out (an attention sink).');
  });
});
