/**
 * `npm run bench -- --scale`: the panel at real attention shapes. A GPT-2-shaped random model (12 layers ×
 * 12 heads, context 1 024, small width: test/models/recipe/build_scale.py, cached in .cache/scale/) runs in
 * the real panel page in Chromium (WASM) at T = 128, 512 and 1 024, and this prints, measured in one run:
 * show → result, result → first paint, Model grid until every thumbnail is drawn, the longest main-thread
 * task after the result, heatmap and tokens hover median / p95 (mousemove → the exact weight shown; the row comes
 * from the worker), peak renderer memory (RSS of Chromium's renderer processes, sampled), and the bytes the panel
 * posts to the host per run and per editor hover. Beside it, inference in onnxruntime-node with 1 and 2 threads on
 * the same tapped model. The targets are printed under the table. Figures, never assertions. Node only.
 */
import path from 'node:path';
import { closeSharedBrowsers, deliver, launch, openWebview } from './browser';
import { startServer } from './serve';
import { ensureScaleModel, fmt, heatmapHovers, median, quantile, samplePeak, scaleIds, scaleShow, tokenHovers } from './bench-measure';
import { repoRoot } from '../support/model';
import { openTestModel, readTestOnnx, runOpenedTestModel, testModelsDir } from '../support/test-models';

/** Long tasks seen by the page, from a PerformanceObserver installed before its scripts. */
const LONG_TASKS = `
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push({ start: e.startTime, ms: e.duration }); })
    .observe({ type: 'longtask', buffered: true });
`;

/** Median onnxruntime-node inference (tap included) over 3 runs after a warm-up, with `threads` intra-op threads, per T. */
async function nodeInference(dir: string, lengths: readonly number[], ids: (T: number) => number[], threads: number): Promise<Map<number, number>> {
  const ort = require('onnxruntime-node');
  const m = readTestOnnx(path.relative(testModelsDir, dir));
  const session = await openTestModel(ort, m, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const out = new Map<number, number>();
  for (const T of lengths) {
    await runOpenedTestModel(ort, session, m, ids(T));
    const ms: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      await runOpenedTestModel(ort, session, m, ids(T));
      ms.push(performance.now() - t0);
    }
    out.set(T, median(ms));
  }
  await session.release?.();
  return out;
}

async function main(): Promise<void> {
  const model = ensureScaleModel('gpt2-12x12');
  const { dir, config } = model;
  const lengths = [128, 512, 1024];
  const idsOf = (T: number) => scaleIds(model, T);
  const node1 = await nodeInference(dir, lengths, idsOf, 1);
  const node2 = await nodeInference(dir, lengths, idsOf, 2);
  const server = await startServer(repoRoot, [model.rel]);
  const browser = await launch({ webgpu: false });
  const stackMiB = (T: number) => (config.n_layer * config.n_head * T * T * 4) / 2 ** 20;
  console.log(`Panel at real attention shapes: ${config.n_layer} layers × ${config.n_head} heads (random weights, width ${config.n_embd}), WASM 1 thread, one run each.`);
  console.log('| T | inference: node 1 thread / node 2 threads / WASM (panel) | result → first paint | grid: all thumbnails | longest task after result | ' +
    'hover median / p95: heatmap, tokens | peak renderer RSS (one stack) | to host: per run, per hover |');
  console.log('|---|---|---|---|---|---|---|---|');
  const rows = new Map<number, { inference: number; paint: number; longest: number; heat95: number; tok95: number; runBytes: number; rss: number }>();
  try {
    for (const T of lengths) {
      const p = await openWebview(browser, `${server.origin}/panel.html`);
      await p.evaluate(LONG_TASKS);
      const peak = samplePeak();
      const msg = scaleShow(model, server.origin, T);
      await deliver(p, msg);
      await p.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'result' || m.type === 'runError'), undefined, { timeout: 600_000, polling: 50 });
      const posted = await p.evaluate(() => {
        const m = (globalThis as any).__posted.find((x: any) => x.type === 'result' || x.type === 'runError');
        if (m.type === 'runError') return { error: m.message };
        const bytes = new TextEncoder().encode(JSON.stringify(m)).length;
        return { bytes, firstPaintMs: m.timings.firstPaintMs, inferenceMs: m.timings.inferenceMs, at: performance.now() };
      });
      if ('error' in posted) { console.log(`| ${T} | run failed: ${posted.error} |`); await p.close(); continue; }
      // What an editor hover costs the host: the panel answers its question with one row.
      const hoverBytes: number = await p.evaluate(async () => {
        const g = globalThis as any;
        g.postMessage({ type: 'query', id: 77, runId: 1, query: { kind: 'row', head: { stack: 'self', layer: 0, head: 'mean' }, query: 5 } }, '*');
        for (;;) {
          const a = g.__posted.find((m: any) => m.type === 'answer' && m.id === 77);
          const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x)).length;
          if (a) return (a.answer?.weights?.byteLength ?? 0) + json({ ...a, answer: { ...a.answer, weights: null } });
          await new Promise((r) => g.requestAnimationFrame(r));
        }
      });
      const g0 = Date.now();
      await p.locator('#tab-grid').click();
      await p.waitForFunction(() => (globalThis as any).document.getElementById('grid').dataset.pending === '0', undefined, { timeout: 600_000, polling: 50 });
      const gridMs = Date.now() - g0;
      await p.locator('#tab-heatmap').click();
      await p.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0, undefined, { timeout: 120_000 });
      const heat = await heatmapHovers(p, T);
      await p.locator('#tab-tokens').click();
      const tok = await tokenHovers(p, T);
      const rss = peak.stop();
      const tasks: { start: number; ms: number }[] = await p.evaluate(() => (globalThis as any).__long);
      const longest = Math.max(0, ...tasks.filter((e) => e.start >= posted.at).map((e) => e.ms));
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify(tasks.map((e) => [Math.round(e.start), Math.round(e.ms)])), posted.at);
      rows.set(T, { inference: posted.inferenceMs, paint: posted.firstPaintMs, longest, heat95: quantile(heat, 0.95), tok95: quantile(tok, 0.95),
        runBytes: posted.bytes, rss });
      console.log(`| ${T} | ${fmt(node1.get(T))} / ${fmt(node2.get(T))} / ${fmt(posted.inferenceMs)} (${(posted.inferenceMs / node2.get(T)!).toFixed(1)}× node 2) | ` +
        `${fmt(posted.firstPaintMs)} | ${fmt(gridMs)} | ${fmt(longest)} | ${fmt(quantile(heat, 0.5))} / ${fmt(quantile(heat, 0.95))}, ` +
        `${fmt(quantile(tok, 0.5))} / ${fmt(quantile(tok, 0.95))} | ${(rss / 2 ** 20).toFixed(0)} MiB (${stackMiB(T).toFixed(0)} MiB) | ` +
        `${(posted.bytes / 1024).toFixed(1)} KiB, ${(hoverBytes / 1024).toFixed(1)} KiB |`);
      await p.close();
    }
    const [a, b] = [rows.get(128), rows.get(1024)];
    if (a && b) {
      console.log('');
      console.log(`Targets at T = 1024: panel overhead ${fmt(b.paint)} = ${((100 * b.paint) / b.inference).toFixed(1)} % of inference (target ≤ 10 %); ` +
        `longest task ${fmt(b.longest)} (target ≤ 100 ms); hover p95 vs T = 128: heatmap ${(b.heat95 / a.heat95).toFixed(1)}×, tokens ` +
        `${(b.tok95 / a.tok95).toFixed(1)}× (target ≤ 2×); to the host ${(b.runBytes / 1024).toFixed(1)} KiB per run (target ≤ 1 MB); ` +
        `renderer RSS ${(b.rss / 2 ** 20).toFixed(0)} MiB = ${(b.rss / 2 ** 20 / stackMiB(1024)).toFixed(2)}× one stack (target: JS heap ≤ 1.25×; RSS also holds ` +
        'the WASM heap with the model and onnxruntime\'s own copy of the outputs).');
    }
  } finally {
    await browser.close();
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
