// npm run bench: figures measured in ONE run, printed (never asserted in tests).
//  1. Tapping a large model: memory and time of the host's tap cache (scan without weights, SHA-256, kernel
//     copy + append) and of the worker's in-memory tap, on synthetic models of growing size
//     (test/support/bench-tap.ts; each phase in its own process, peak RSS from getrusage).
//  2. onnxruntime-web WASM (1 thread, as in a webview that is not cross-origin isolated) vs onnxruntime-node
//     (2 threads), in Node, on the same tapped ONNX file and the same inputs, for several sequence lengths.
//  3. Cold (fresh Chromium), warm (same panel) and reopened (panel closed, new one opened) panel → first paint, with the
//     panel's stages (runtime, model fetch, session, inference, paint), when the browser bench (test/browser/bench) is built.
//  4. With --scale: the panel at real attention shapes (12 × 12 heads, T = 128 / 512 / 1 024; test/browser/bench-scale.ts), and
//     long contexts recomputed from Q and K (24 × 16 heads, T = 128 / 2 048 / 4 096; test/browser/bench-long.ts), and a
//     hovered row at T = 2 048 on WebGPU (SwiftShader here) vs the worker's JavaScript (test/browser/bench-gpu-rows.ts).
//  5. WebAssembly threads: the panel page cross-origin isolated in Chromium, WASM with 1 thread and with every core
//     against onnxruntime-node with the same threads, on the bundled model and (once --scale built it) the
//     GPT-2-shaped model at T = 128 and 512 (test/browser/bench-threads.ts).
//  6. Loading real tokenizer.json files (Gemma 3, Llama 3, Qwen 3): on the host's thread vs the tokenizer thread
//     (test/support/bench-tokenizer.ts).
// Usage: node scripts/bench.mjs [modelDir] [--runs N] [--mib 64,256] [--memory-only] [--scale]   (--mib: synthetic sizes in MiB)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const valueOf = (flag, fallback) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : fallback; };
const RUNS = Number(valueOf('--runs', 30));
const MIB = valueOf('--mib', '64,256');
const modelDir = path.resolve(args.find((a, i) => !a.startsWith('--') && !['--runs', '--mib'].includes(args[i - 1])) ?? path.join(root, 'models/lens-gpt'));

const built = ['out/test/support/run-tapped.js', 'out/test/support/bench-tap.js', 'out/test/support/test-models.js'].every((f) => fs.existsSync(path.join(root, f)));
if (!built) execFileSync('node', ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });

console.log('Tapping a large model (synthetic: lens-gpt plus an unused N MiB weight): the host never holds the weights;');
console.log('the worker holds the file once when it is pre-tapped (the host cache), twice while tapping an untapped one:');
execFileSync('node', [path.join(root, 'out/test/support/bench-tap.js'), '--mib', MIB], { cwd: root, stdio: 'inherit' });
if (args.includes('--memory-only')) process.exit(0);
console.log('');

console.log('Loading a tokenizer.json, once on the extension host\'s thread and once on the tokenizer thread:');
execFileSync('node', [path.join(root, 'out/test/support/bench-tokenizer.js')], { cwd: root, stdio: 'inherit' });
console.log('');

const { openTapped, runTapped } = require(path.join(root, 'out/test/support/run-tapped.js'));
const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
const ctx = config.n_positions ?? config.max_position_embeddings ?? 512;
const model = new Uint8Array(fs.readFileSync(path.join(modelDir, 'onnx', 'model.onnx')));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
async function time(ort, session, ids) {
  await runTapped(ort, session, ids); // warm-up
  const ms = [];
  for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); await runTapped(ort, session, ids); ms.push(performance.now() - t0); }
  return median(ms);
}

const ortNode = require('onnxruntime-node');
const ortWeb = require('onnxruntime-web');
ortWeb.env.wasm.numThreads = 1;
const nodeSession = await openTapped(ortNode, model, { intraOpNumThreads: 2 });
const webSession = await openTapped(ortWeb, model, { executionProviders: ['wasm'] });

console.log(`model: ${path.relative(root, modelDir)} (context ${ctx}), median of ${RUNS} runs, tap included`);
console.log('| T | onnxruntime-node (2 threads) | onnxruntime-web WASM (1 thread) | WASM / node |');
console.log('|---|---|---|---|');
for (const T of [32, 128, 256]) {
  if (T > ctx) { console.log(`| ${T} | — | — | skipped: longer than the model's context of ${ctx} tokens |`); continue; }
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (config.vocab_size - 1)));
  const n = await time(ortNode, nodeSession, ids);
  const w = await time(ortWeb, webSession, ids);
  console.log(`| ${T} | ${n.toFixed(2)} ms | ${w.toFixed(2)} ms | ${(w / n).toFixed(2)}× |`);
}

// lens-gpt's context is 128 tokens, so T = 256 runs on a test model with a longer context: the T5-shaped
// encoder (relative positions, context 512), through the same feeds and runner the worker uses.
{
  const { readTestOnnx, openTestModel, runOpenedTestModel } = require(path.join(root, 'out/test/support/test-models.js'));
  const enc = readTestOnnx('tiny-t5', 'encoder_model.onnx');
  const encConfig = JSON.parse(fs.readFileSync(path.join(root, 'test/models/tiny-t5/config.json'), 'utf8'));
  const encNode = await openTestModel(ortNode, enc, { intraOpNumThreads: 2 });
  const encWeb = await openTestModel(ortWeb, enc, { executionProviders: ['wasm'] });
  const timeEnc = async (ort, session, ids) => {
    await runOpenedTestModel(ort, session, enc, ids);
    const ms = [];
    for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); await runOpenedTestModel(ort, session, enc, ids); ms.push(performance.now() - t0); }
    return median(ms);
  };
  console.log(`\nmodel: test/models/tiny-t5 encoder_model.onnx (random weights, context ${encConfig.n_positions}), median of ${RUNS} runs, tap included`);
  console.log('| T | onnxruntime-node (2 threads) | onnxruntime-web WASM (1 thread) | WASM / node |');
  console.log('|---|---|---|---|');
  for (const T of [32, 128, 256]) {
    const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (encConfig.vocab_size - 1)));
    const n = await timeEnc(ortNode, encNode, ids);
    const w = await timeEnc(ortWeb, encWeb, ids);
    console.log(`| ${T} | ${n.toFixed(2)} ms | ${w.toFixed(2)} ms | ${(w / n).toFixed(2)}× |`);
  }
}

const browserBench = path.join(root, 'out/test/browser/bench.js');
if (fs.existsSync(browserBench)) {
  console.log('\nCold, warm and reopened panel to first paint in Chromium (panel page, real model):');
  execFileSync('node', [browserBench], { cwd: root, stdio: 'inherit' });
}

if (args.includes('--scale')) {
  console.log('');
  execFileSync('node', [path.join(root, 'out/test/browser/bench-scale.js')], { cwd: root, stdio: 'inherit' });
  execFileSync('node', [path.join(root, 'out/test/browser/bench-long.js')], { cwd: root, stdio: 'inherit' });
  execFileSync('node', [path.join(root, 'out/test/browser/bench-gpu-rows.js')], { cwd: root, stdio: 'inherit' });
}

const threadsBench = path.join(root, 'out/test/browser/bench-threads.js');
if (fs.existsSync(threadsBench)) {
  console.log('');
  execFileSync('node', [threadsBench, ...(args.includes('--scale') ? ['--scale'] : [])], { cwd: root, stdio: 'inherit' });
}
