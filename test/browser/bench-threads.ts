/**
 * `npm run bench`: onnxruntime-web WASM in the real panel page (Chromium, served with COOP/COEP so the page is
 * cross-origin isolated, as VS Code started with `--enable-coi`) with one thread and with every core
 * (attentionLens.wasmThreads 1 and auto), against onnxruntime-node on the same ONNX file with the same thread
 * counts. WASM time is the worker's own inference time (session.run and collecting the tapped attention, as
 * the panel reports it), node's the same for its session; the two alternate run by run, medians of warm runs. Bundled model at
 * T = 32 and 128; with `--scale` (or once .cache/scale holds it) also the GPT-2-shaped 12 × 12 model at
 * T = 128 and 512. Figures, never assertions. Node only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledModelDir, repoRoot } from '../support/model';
import { buildFeeds } from '../../src/shared/feeds';
import { tapAll, type FullyTapped } from '../../src/shared/full-tap';
import { collectAttention, requiredInputs } from '../../src/shared/onnx-tap';
import { MAX_AUTO_WASM_THREADS } from '../../src/shared/wasm-threads';
import { closeSharedBrowsers, deliver, launch, openWebview, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const ortNode = require('onnxruntime-node');

const SCALE_DIR = path.join('.cache', 'scale', 'gpt2-12x12');

interface BenchModel {
  readonly label: string;
  /** Folder relative to the repository root (served by the test server). */
  readonly dir: string;
  readonly lengths: readonly number[];
  /** Warm runs per measurement (after one cold run that loads the model). */
  readonly runs: number;
  readonly extraInputs: readonly string[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`);
const idsFor = (T: number, vocab: number): number[] => Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (vocab - 1)));

/**
 * onnxruntime-node on the graph the worker runs (tapAll: attention and the score taps), fetching what the worker
 * fetches (every attention Softmax and the logits) and collecting the attention as it does.
 */
async function nodeRun(session: any, m: FullyTapped, ids: readonly number[]): Promise<void> {
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(m.summary), ids)) feeds[f.name] = new ortNode.Tensor(f.type, f.data, f.dims);
  const names = [...m.plan.softmaxOutputs, ...m.summary.outputs.filter((o) => o.name === 'logits').map((o) => o.name)];
  const out = await session.run(feeds, names);
  collectAttention(m.plan.softmaxOutputs.map((n) => ({ name: n, dims: out[n].dims.map(Number), data: out[n].data as Float32Array })), ids.length);
}

/** One measurement: WASM in the panel's worker and onnxruntime-node, both with `threads`, run alternately. */
interface Pair {
  readonly wasm: number;
  readonly node: number;
  /** The threads the panel reported. */
  readonly ran: number;
}

/**
 * Median warm inference times of the panel's worker (attentionLens.wasmThreads = `threads`) and of onnxruntime-node
 * with as many intra-op threads, on the same file and ids. The two runs alternate, so a busy machine slows both alike.
 */
async function measure(browser: Browser, server: TestServer, m: BenchModel, onnx: FullyTapped, config: any, T: number, threads: number): Promise<Pair> {
  const page = await openWebview(browser, `${server.origin}/panel.html`);
  const session = await ortNode.InferenceSession.create(onnx.tapped, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const ids = idsFor(T, config.vocab_size);
    const tokens = ids.map((id, i) => ({ id, text: `t${i}`, start: -1, end: -1 }));
    const wasm: number[] = [];
    const node: number[] = [];
    let ran = 0;
    for (let runId = 1; runId <= m.runs + 1; runId++) {
      await deliver(page, {
        type: 'show', runId, documentLabel: 'bench', text: '', tokens, backend: 'wasm', wasmThreads: threads, notices: [], timings: {},
        model: { name: m.label, onnxUri: `${server.origin}/${m.dir.split(path.sep).join('/')}/onnx/model.onnx`,
          maxTokens: config.n_positions, context: config.n_positions, extraInputs: m.extraInputs },
      });
      await page.waitForFunction((id) => (globalThis as any).__posted.some((x: any) => (x.type === 'result' || x.type === 'runError') && x.runId === id),
        runId, { timeout: 600_000, polling: 20 });
      const r = await page.evaluate((id) => {
        const x = (globalThis as any).__posted.find((p: any) => (p.type === 'result' || p.type === 'runError') && p.runId === id);
        return x.type === 'runError' ? { error: x.message as string } : { inferenceMs: x.timings.inferenceMs as number, threads: x.threads as number };
      }, runId);
      if ('error' in r) throw new Error(`${m.label}, T = ${T}, ${threads} thread(s): ${r.error}`);
      ran = r.threads;
      // Keep the page's memory flat: the posted results (and their attention) are dropped once read.
      await page.evaluate(() => { (globalThis as any).__posted.length = 0; });
      const t0 = performance.now();
      await nodeRun(session, onnx, ids);
      const nodeMs = performance.now() - t0;
      if (runId === 1) continue; // cold: WASM loaded the model, node warmed up
      wasm.push(r.inferenceMs);
      node.push(nodeMs);
    }
    return { wasm: median(wasm), node: median(node), ran };
  } finally {
    await session.release();
    await page.close();
  }
}

async function main(): Promise<void> {
  const withScale = process.argv.includes('--scale') || fs.existsSync(path.join(repoRoot, SCALE_DIR, 'onnx', 'model.onnx'));
  const models: BenchModel[] = [
    { label: 'lens-gpt (bundled)', dir: path.relative(repoRoot, bundledModelDir), lengths: [32, 128], runs: 10, extraInputs: [] },
  ];
  if (withScale && fs.existsSync(path.join(repoRoot, SCALE_DIR, 'onnx', 'model.onnx'))) {
    const layers = JSON.parse(fs.readFileSync(path.join(repoRoot, SCALE_DIR, 'config.json'), 'utf8')).n_layer as number;
    models.push({ label: 'GPT-2-shaped 12 × 12 (random)', dir: SCALE_DIR, lengths: [128, 512], runs: 3,
      extraInputs: ['attention_mask', 'position_ids', ...Array.from({ length: 2 * layers }, (_, i) => `past_key_values.${i >> 1}.${i % 2 ? 'value' : 'key'}`)] });
  }
  const server = await startServer(repoRoot, [SCALE_DIR], { crossOriginIsolated: true });
  const browser = await launch({ webgpu: false });
  try {
    const cores = await (async () => {
      const p = await openWebview(browser, `${server.origin}/panel.html`);
      const c = await p.evaluate(() => (globalThis as any).navigator.hardwareConcurrency as number);
      await p.close();
      return c;
    })();
    const all = Math.min(cores, MAX_AUTO_WASM_THREADS);
    console.log(`WebAssembly threads: the panel page cross-origin isolated in Chromium (${cores} logical cores, ${os.cpus().length} seen by Node),`);
    console.log('WASM with 1 thread and with every core against onnxruntime-node with the same threads, on the graph the worker runs;');
    console.log(`median of warm runs, alternating; load average at the start ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (1 / 5 / 15 min).`);
    console.log(`| model | T | WASM 1 thread | node 1 thread | WASM / node | WASM ${all} threads | node ${all} threads | WASM / node | WASM speed-up 1 → ${all} threads |`);
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const m of models) {
      const config = JSON.parse(fs.readFileSync(path.join(repoRoot, m.dir, 'config.json'), 'utf8'));
      const onnx = tapAll(new Uint8Array(fs.readFileSync(path.join(repoRoot, m.dir, 'onnx', 'model.onnx'))));
      for (const T of m.lengths) {
        const one = await measure(browser, server, m, onnx, config, T, 1);
        const every = await measure(browser, server, m, onnx, config, T, all);
        const ranNote = every.ran === all ? '' : ` (ran ${every.ran})`;
        console.log(`| ${m.label} | ${T} | ${fmt(one.wasm)} | ${fmt(one.node)} | ${(one.wasm / one.node).toFixed(2)}× | ${fmt(every.wasm)}${ranNote} | ` +
          `${fmt(every.node)} | ${(every.wasm / every.node).toFixed(2)}× | ${(one.wasm / every.wasm).toFixed(2)}× |`);
      }
    }
  } finally {
    await browser.close();
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
