import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { inductionProbe, inductionScores, LABEL_THRESHOLDS, labelHead, stackMetrics, type HeadMetricValues } from '../../src/shared/head-labels';
import { bundledModelDir, readBundledOnnx } from '../support/model';
import { openTapped, runTapped, type TappedSession } from '../support/run-tapped';

// The extension's own labelling code on the shipped default model: the heads its measurements
// (head_scores.json, written when the model was trained; its prev-token and sink columns measured in PyTorch on
// the ONNX weights by models/recipe/measure_onnx_heads.py) put over the card's thresholds must get the label.
const ort = require('onnxruntime-node');
const scores = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'head_scores.json'), 'utf8'));
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

/** Heads "L<l> H<h>" whose per-head score in head_scores.json passes the file's own threshold. */
function expected(metric: 'prev_token' | 'induction' | 'sink'): string[] {
  const t: number = scores.thresholds[metric];
  return (scores.per_head[metric] as number[][]).flatMap((row, l) => row.flatMap((v, h) => (v >= t ? [`L${l} H${h}`] : [])));
}
const named = (rows: HeadMetricValues[], label: string) => rows.filter((r) => labelHead(r).includes(label as never)).map((r) => `L${r.layer} H${r.head}`);

describe('labels on the shipped default model (lens-gpt)', function () {
  this.timeout(120000);
  let s: TappedSession;
  let rows: HeadMetricValues[];
  before(async () => {
    s = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
    // The probe the worker runs: [r, r] within the context.
    const probe = inductionProbe(config.vocab_size, config.n_positions)!;
    const p = await runTapped(ort, s, probe.ids);
    const induction = inductionScores(p.attention, probe.period);
    // Per-input metrics on held-out text windows, averaged like the card's measurements.
    const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {});
    const ids = tok.encode(fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8'), { add_special_tokens: false }).ids;
    const ctx: number = config.n_positions;
    const acc: HeadMetricValues[][] = [];
    for (let o = 0; o + ctx <= ids.length && acc.length < 8; o += ctx) {
      const w = ids.slice(o, o + ctx);
      const r = await runTapped(ort, s, w);
      acc.push(stackMetrics(r.attention, w, induction));
    }
    const mean = (k: 'previousToken' | 'sink' | 'entropy' | 'self' | 'distance', i: number) => acc.reduce((a, m) => a + m[i][k], 0) / acc.length;
    rows = acc[0].map((r, i) => ({ ...r, previousToken: mean('previousToken', i), sink: mean('sink', i), entropy: mean('entropy', i),
      self: mean('self', i), distance: mean('distance', i), duplicate: null }));
    for (const r of rows) {
      console.log(`      L${r.layer} H${r.head}: prev ${r.previousToken.toFixed(3)} sink ${r.sink.toFixed(3)} ind ${r.induction!.toFixed(3)} ` +
        `entropy ${r.entropy.toFixed(3)} dist ${r.distance.toFixed(2)} → ${labelHead(r).join(', ') || '—'}`);
    }
  });

  it('uses the thresholds the model card was measured with', () => {
    assert.equal(LABEL_THRESHOLDS.previousToken, scores.thresholds.prev_token);
    assert.equal(LABEL_THRESHOLDS.induction, scores.thresholds.induction);
    assert.equal(LABEL_THRESHOLDS.sink, scores.thresholds.sink);
  });

  it('labels previous-token exactly the heads head_scores.json puts over the threshold (L0 H2 on the card)', () => {
    const want = expected('prev_token');
    assert.ok(want.length > 0);
    assert.deepEqual(named(rows, 'previous-token'), want);
  });

  it('labels induction exactly the heads head_scores.json puts over the threshold (L1 H2, L1 H0 on the card)', () => {
    const want = expected('induction');
    assert.ok(want.length > 0);
    assert.deepEqual(named(rows, 'induction'), want);
  });

  it('labels sink exactly the heads head_scores.json puts over the threshold (none on the card)', () => {
    assert.deepEqual(named(rows, 'sink'), expected('sink'));
  });
});
