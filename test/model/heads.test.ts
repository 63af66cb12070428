import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { headView } from '../../src/shared/attention';
import { inductionScore, previousTokenScore, sinkScore } from '../../src/shared/head-metrics';
import { bundledModelDir, readBundledOnnx } from '../support/model';
import { meanNextTokenLoss } from '../support/next-token-loss';
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

/**
 * Every whole window of n_positions tokens of reference/heldout.txt, encoded by the extension's tokenizer
 * library, as models/recipe/measure_onnx_heads.py takes them (that script encodes with the native library).
 */
function heldoutWindows(): { ids: number[]; windows: number[][] } {
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {});
  const text = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8');
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  const ctx: number = config.n_positions;
  const windows: number[][] = [];
  for (let o = 0; o + ctx <= ids.length; o += ctx) windows.push(ids.slice(o, o + ctx));
  return { ids, windows };
}

const best = (m: number[][]) => m.flatMap((row, l) => row.map((v, h) => ({ l, h, v }))).sort((a, b) => b.v - a.v)[0];

describe('the shipped default model has the heads its card lists', function () {
  this.timeout(300000);
  let session: TappedSession;
  before(async () => { session = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 }); });

  // Previous-token and first-token scores of every head on the held-out windows, through the tap (computed once).
  let heldout: Promise<{ prev: number[][]; sink: number[][] }> | undefined;
  const heldoutScores = () => (heldout ??= (async () => {
    const { windows } = heldoutWindows();
    return { prev: await meanScores(session, windows, previousTokenScore), sink: await meanScores(session, windows, sinkScore) };
  })());

  it('has a previous-token head: mean weight on position i−1 ≥ 0.5 on held-out natural text', async () => {
    const top = best((await heldoutScores()).prev);
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
    // The loss helper itself: uniform logits over 4 classes cost ln 4 per position.
    assert.ok(Math.abs(meanNextTokenLoss(new Float32Array(3 * 4), 4, [0, 1, 2], 0, 2) - Math.log(4)) < 1e-12);
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

  // Golden values from PyTorch, not from the extension: models/recipe/measure_onnx_heads.py loads the ONNX
  // weights into the recipe's model and scores the same windows with probes.py. The extension's metrics on
  // the tapped ONNX must agree within 1e-5, the bound the faithfulness tests put on every attention weight
  // (a mean of weights cannot be further off); measured ≤ 3e-8.
  it('scores previous-token and first-token (sink) per head as PyTorch does on heldout.txt (head_scores.json, the card)', async () => {
    const scores = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'head_scores.json'), 'utf8'));
    const golden = scores.heldout_scores;
    const { ids, windows } = heldoutWindows();
    assert.equal(golden.text, `reference/heldout.txt, ${windows.length} windows of ${config.n_positions} tokens`);
    assert.deepEqual(golden.columns, ['prev_token', 'sink']);
    assert.equal(ids.length, golden.tokens, 'the same number of tokens as the native tokenizer gave');
    assert.equal(createHash('sha256').update(ids.join(',')).digest('hex'), golden.ids_sha256, 'the same token ids as the native tokenizer gave');
    const m = await heldoutScores();
    const card = fs.readFileSync(path.join(bundledModelDir, 'MODEL_CARD.md'), 'utf8');
    const worst = { prev: 0, sink: 0 };
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const prev: number = scores.per_head.prev_token[l][h];
        const sink: number = scores.per_head.sink[l][h];
        worst.prev = Math.max(worst.prev, Math.abs(m.prev[l][h] - prev));
        worst.sink = Math.max(worst.sink, Math.abs(m.sink[l][h] - sink));
        assert.ok(Math.abs(m.prev[l][h] - prev) <= 1e-5, `L${l} H${h}: previousTokenScore ${m.prev[l][h]} vs PyTorch ${prev}`);
        assert.ok(Math.abs(m.sink[l][h] - sink) <= 1e-5, `L${l} H${h}: sinkScore ${m.sink[l][h]} vs PyTorch ${sink}`);
        const row = card.split('\n').find((r) => r.startsWith(`| L${l} H${h} |`))?.split('|').map((c) => c.trim());
        assert.deepEqual(row?.slice(2, 4), [prev.toFixed(3), sink.toFixed(3)], `card's prev-token and first-token columns for L${l} H${h}`);
      }
    }
    console.log(`      max |extension − PyTorch|: previous-token ${worst.prev.toExponential(1)}, first-token ${worst.sink.toExponential(1)}`);
  });
});
