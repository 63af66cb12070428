/**
 * Re-measures the first-token (sink) score of the shipped default model with the extension's definition
 * (sinkScore in src/shared/head-metrics.ts: mean over i ≥ 2 of A[i, 0]) through the tapped ONNX in
 * onnxruntime-node, on every whole window of n_positions tokens of models/lens-gpt/reference/heldout.txt.
 * Writes the per-head means into head_scores.json (per_head.sink, summary.best_sink[_head], sink_measurement)
 * and prints the card's first-token column next to the old definition (mean over i ≥ 1) for comparison.
 * The other columns of head_scores.json (PyTorch, measure_heads.py) are left as they are.
 * Usage: node scripts/build.mjs && node out/test/support/measure-sink.js [--dry-run]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { previousTokenScore, sinkScore } from '../../src/shared/head-metrics';
import { headView } from '../../src/shared/attention';
import { bundledModelDir, readBundledOnnx } from './model';
import { openTapped, runTapped, type OrtLike } from './run-tapped';

/** The old recipe definition, for the comparison printout only: mean over i ≥ 1 of A[i, 0]. */
function sinkFromRow1(a: ArrayLike<number>, t: number): number {
  let s = 0;
  for (let i = 1; i < t; i++) s += a[i * t];
  return s / (t - 1);
}

/** Per-head means [L][H] over the held-out windows: sink (i ≥ 2), the old sink (i ≥ 1) and previous-token. */
export interface SinkMeasurement {
  readonly windows: number;
  readonly ctx: number;
  readonly tokens: number;
  readonly sink: number[][];
  readonly oldSink: number[][];
  readonly prev: number[][];
}

/** Runs every whole n_positions window of heldout.txt through the tapped shipped ONNX and averages the scores. */
export async function measureSink(ort: OrtLike): Promise<SinkMeasurement> {
  const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
  const L: number = config.n_layer;
  const H: number = config.n_head;
  const ctx: number = config.n_positions;
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {});
  const ids = tok.encode(fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8'), { add_special_tokens: false }).ids;
  const windows: number[][] = [];
  for (let o = 0; o + ctx <= ids.length; o += ctx) windows.push(ids.slice(o, o + ctx));
  const s = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
  const zero = () => Array.from({ length: L }, () => new Array<number>(H).fill(0));
  const m = { windows: windows.length, ctx, tokens: ids.length, sink: zero(), oldSink: zero(), prev: zero() };
  for (const w of windows) {
    const { attention } = await runTapped(ort, s, w);
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const a = headView(attention, l, h);
        m.sink[l][h] += sinkScore(a, ctx) / windows.length;
        m.oldSink[l][h] += sinkFromRow1(a, ctx) / windows.length;
        m.prev[l][h] += previousTokenScore(a, ctx) / windows.length;
      }
    }
  }
  return m;
}

async function main(): Promise<void> {
  const dry = process.argv.includes('--dry-run');
  const scoresFile = path.join(bundledModelDir, 'head_scores.json');
  const scores = JSON.parse(fs.readFileSync(scoresFile, 'utf8'));
  const m = await measureSink(require('onnxruntime-node'));
  let best = { l: 0, h: 0, v: -1 };
  console.log(`${m.windows} windows of ${m.ctx} tokens from reference/heldout.txt (${m.tokens} tokens)`);
  console.log('head   sink i≥2  sink i≥1 (old, ONNX)  head_scores.json sink  prev-token ONNX / head_scores.json');
  m.sink.forEach((row, l) => row.forEach((v, h) => {
    if (v > best.v) best = { l, h, v };
    console.log(`L${l} H${h}  ${v.toFixed(3)}     ${m.oldSink[l][h].toFixed(3)}                 ${scores.per_head.sink[l][h].toFixed(3)}` +
      `                  ${m.prev[l][h].toFixed(3)} / ${scores.per_head.prev_token[l][h].toFixed(3)}`);
  }));
  console.log(`best sink L${best.l} H${best.h}: ${best.v.toFixed(4)}`);
  if (dry) return;
  scores.per_head.sink = m.sink;
  scores.summary.best_sink = Math.round(best.v * 1e4) / 1e4;
  scores.summary.best_sink_head = [best.l, best.h];
  scores.sink_measurement = {
    definition: 'mean over i >= 2 of A[i, 0] (sinkScore in src/shared/head-metrics.ts)',
    how: 'tapped models/lens-gpt/onnx/model.onnx in onnxruntime-node (test/support/measure-sink.ts)',
    text: `reference/heldout.txt, ${m.windows} windows of ${m.ctx} tokens`,
    other_columns: 'PyTorch, models/recipe/measure_heads.py, 256 windows of the validation split',
  };
  fs.writeFileSync(scoresFile, JSON.stringify(scores, null, 1));
  console.log(`wrote ${scoresFile}`);
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
