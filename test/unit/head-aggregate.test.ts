import assert from 'node:assert/strict';
import { AGGREGATE_METRICS, fileWideText, formatMeanSpread, HeadAggregator } from '../../src/shared/head-aggregate';
import { labelHead, mulberry32, type HeadMetricValues } from '../../src/shared/head-labels';

/** W windows × (2 layers × 3 heads) of random metrics; duplicate is null in every third window (no repeated token). */
function windows(W: number, seed: number): HeadMetricValues[][] {
  const rnd = mulberry32(seed);
  return Array.from({ length: W }, (_, w) => Array.from({ length: 6 }, (_, k) => ({
    layer: Math.floor(k / 3), head: k % 3, entropy: rnd(), previousToken: rnd(), sink: rnd(), self: rnd(),
    distance: 10 * rnd(), duplicate: w % 3 === 2 ? null : rnd(), induction: null,
  })));
}

/** Two-pass mean and population sd of the non-null values, written here apart from the aggregator. */
function direct(values: (number | null)[]): { mean: number; sd: number; n: number } | null {
  const v = values.filter((x): x is number => x !== null);
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, sd: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
}

describe('head metrics aggregated over windows', () => {
  it('gives each head and metric the mean and population sd of the per-window values', () => {
    const ws = windows(17, 5);
    const agg = new HeadAggregator();
    ws.forEach((w, i) => agg.add(i, w));
    assert.equal(agg.windows, 17);
    const rows = agg.rows();
    assert.equal(rows.length, 6);
    rows.forEach((r, k) => {
      assert.deepEqual([r.layer, r.head], [Math.floor(k / 3), k % 3]);
      for (const m of AGGREGATE_METRICS) {
        const want = direct(ws.map((w) => w[k][m]));
        const got = r.metrics[m];
        assert.ok(want && got, `${m} defined`);
        assert.equal(got.n, want.n, m);
        assert.ok(Math.abs(got.mean - want.mean) < 1e-12, `${m} mean ${got.mean} vs ${want.mean}`);
        assert.ok(Math.abs(got.sd - want.sd) < 1e-12, `${m} sd ${got.sd} vs ${want.sd}`);
      }
      assert.equal(r.metrics.duplicate!.n, 12, 'windows without a repeat do not count for duplicate');
    });
  });

  it('keeps the three highest windows per head and metric, highest first', () => {
    const ws = windows(11, 9);
    const agg = new HeadAggregator(3);
    ws.forEach((w, i) => agg.add(i, w));
    for (const [k, r] of agg.rows().entries()) {
      for (const m of AGGREGATE_METRICS) {
        const want = ws.map((w, i) => ({ window: i, value: w[k][m] })).filter((s): s is { window: number; value: number } => s.value !== null)
          .sort((a, b) => b.value - a.value).slice(0, 3);
        assert.deepEqual(r.top[m], want, `L${r.layer} H${r.head} ${m}`);
      }
    }
  });

  it('labels each head from its mean metrics', () => {
    // Head 0 is previous-token in every window; head 1 only in one window of three, so its mean stays under 0.5.
    const base = { sink: 0, self: 0, distance: 1, duplicate: null, induction: null, entropy: 0.2 };
    const agg = new HeadAggregator();
    for (let w = 0; w < 3; w++) {
      agg.add(w, [{ layer: 0, head: 0, ...base, previousToken: 0.9 }, { layer: 0, head: 1, ...base, previousToken: w === 0 ? 0.9 : 0.1 }]);
    }
    const [a, b] = agg.rows();
    assert.deepEqual(a.labels, ['previous-token']);
    assert.ok(!b.labels.includes('previous-token'));
    assert.deepEqual(b.labels, labelHead({ layer: 0, head: 1, ...base, previousToken: (0.9 + 0.1 + 0.1) / 3 }));
  });

  it('refuses a window whose heads differ from the first', () => {
    const agg = new HeadAggregator();
    agg.add(0, windows(1, 1)[0]);
    assert.throws(() => agg.add(1, windows(1, 1)[0].slice(1)), RangeError);
  });

  it('writes a head\'s file-wide value for the grid, and nothing for induction or a head it lacks', () => {
    const agg = new HeadAggregator();
    agg.add(0, [{ layer: 1, head: 2, entropy: 0.5, previousToken: 0.2, sink: 0, self: 0, distance: 2, duplicate: null, induction: 0.9 }]);
    agg.add(1, [{ layer: 1, head: 2, entropy: 0.5, previousToken: 0.6, sink: 0, self: 0, distance: 2, duplicate: null, induction: 0.9 }]);
    assert.equal(fileWideText(agg.rows(), 2, 1, 2, 'previousToken'), ' (file-wide 0.400 ± 0.200 over 2 windows)');
    assert.equal(fileWideText(agg.rows(), 2, 1, 2, 'induction'), '');
    assert.equal(fileWideText(agg.rows(), 2, 0, 0, 'entropy'), '');
  });

  it('formats mean ± sd, and a dash for a metric no window defined', () => {
    assert.equal(formatMeanSpread({ mean: 0.41234, sd: 0.0311, n: 3 }, 'sink'), '0.412 ± 0.031');
    assert.equal(formatMeanSpread({ mean: 3.1, sd: 0.523, n: 3 }, 'distance'), '3.10 ± 0.52');
    assert.equal(formatMeanSpread(null, 'duplicate'), '—');
  });
});
