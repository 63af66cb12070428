import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { inductionScore, meanNextTokenLoss, previousTokenScore } from '../../src/shared/head-metrics';
import { headView } from '../../src/shared/attention';
import { bundledModelDir, readBundledOnnx } from '../support/model';
import { measureSink } from '../support/measure-sink';
import { openTapped, runTapped, type TappedSession } from '../support/run-tapped';

// Property checks of the artifact we ship (issue: bundled models). Computed here, through the tap and
// onnxruntime-node, from the shipped ONNX, on held-out text and on seeded random token strings.
const ort = require('onnxruntime-node');
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;

/** Deterministic PRNG (mulberry32) so the probe is the same on every run. */
function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mean of a per-head score over several runs: returns [L][H]. */
async function meanScores(s: TappedSession, inputs: number[][], score: (a: Float32Array, t: number) => number) {
  const acc = Array.from({ length: L }, () => new Array<number>(H).fill(0));
  for (const ids of inputs) {
    const { attention } = await runTapped(ort, s, ids);
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) acc[l][h] += score(headView(attention, l, h), ids.length) / inputs.length;
  }
  return acc;
}

const best = (m: number[][]) => m.flatMap((row, l) => row.map((v, h) => ({ l, h, v }))).sort((a, b) => b.v - a.v)[0];

describe('the shipped default model has the heads its card lists', function () {
  this.timeout(300000);
  let session: TappedSession;
  before(async () => { session = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 }); });

  it('has a previous-token head: mean weight on position i−1 ≥ 0.5 on held-out natural text', async () => {
    const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {});
    const text = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8');
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const ctx: number = config.n_positions;
    const windows: number[][] = [];
    for (let o = 0; o + ctx <= ids.length && windows.length < 16; o += ctx) windows.push(ids.slice(o, o + ctx));
    assert.ok(windows.length >= 8, `held-out text gives ${windows.length} windows of ${ctx} tokens`);
    const top = best(await meanScores(session, windows, previousTokenScore));
    console.log(`      best previous-token head L${top.l} H${top.h}: ${top.v.toFixed(3)}`);
    assert.ok(top.v >= 0.5, `best previous-token score ${top.v}`);
  });

  it('has an induction head on [r, r] (score ≥ 0.3) and copies: second-copy loss ≤ half the first', async () => {
    const rand = mulberry32(20261122);
    const period = 50;
    const inputs: number[][] = [];
    for (let b = 0; b < 8; b++) {
      const r = Array.from({ length: period }, () => 1 + Math.floor(rand() * (config.vocab_size - 1)));
      inputs.push([...r, ...r]);
    }
    const top = best(await meanScores(session, inputs, (a, t) => inductionScore(a, t, period)));
    let first = 0;
    let second = 0;
    for (const ids of inputs) {
      const { logits, vocab } = await runTapped(ort, session, ids);
      first += meanNextTokenLoss(logits, vocab, ids, 0, period - 1) / inputs.length;
      second += meanNextTokenLoss(logits, vocab, ids, period, 2 * period - 1) / inputs.length;
    }
    console.log(`      best induction head L${top.l} H${top.h}: ${top.v.toFixed(3)}; loss first copy ${first.toFixed(2)}, second ${second.toFixed(2)}`);
    assert.ok(top.v >= 0.3, `best induction score ${top.v}`);
    assert.ok(second <= first / 2, `second-copy loss ${second} vs first ${first}`);
  });

  it('has the first-token (sink) scores head_scores.json and the card list: sinkScore on heldout.txt through the ONNX', async () => {
    const scores = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'head_scores.json'), 'utf8'));
    const m = await measureSink(ort);
    assert.equal(scores.sink_measurement.text, `reference/heldout.txt, ${m.windows} windows of ${m.ctx} tokens`);
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const want: number = scores.per_head.sink[l][h];
        assert.ok(Math.abs(m.sink[l][h] - want) <= 1e-5, `L${l} H${h}: sink ${m.sink[l][h]} vs head_scores.json ${want}`);
      }
    }
    // The previous-token head (L0 H2) scores ~0 under the new definition; under the old one, row 1 alone gave it ~1/127.
    assert.ok(m.sink[0][2] < 0.002 && m.oldSink[0][2] > 0.005, `L0 H2 sink ${m.sink[0][2]}, old ${m.oldSink[0][2]}`);
    const card = fs.readFileSync(path.join(bundledModelDir, 'MODEL_CARD.md'), 'utf8');
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const row = card.split('\n').find((r) => r.startsWith(`| L${l} H${h} |`));
        assert.equal(row?.split('|')[3].trim(), m.sink[l][h].toFixed(3), `card's first-token column for L${l} H${h}`);
      }
    }
  });
});
