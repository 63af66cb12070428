/**
 * `npm run bench -- --scale`, long contexts (issue 16): a GPT-2-shaped random model of 24 layers × 16 heads, context
 * 4 096, small width (test/models/recipe/build_scale.py, cached in .cache/scale/) runs in the real panel page in
 * Chromium (WASM, attentionLens.recomputeAttention 'always': attention recomputed from the tapped Q and K) at T = 128,
 * 2 048 and 4 096. Printed, measured in one run: inference, result → first paint, the heatmap's first draw, heatmap and
 * tokens hover median / p95, and the peak memory of Chromium's renderer (the page and its worker, onnxruntime's WASM
 * heap included) against what the Softmax path's [layers, heads, T, T] stack alone would need. Figures, never assertions.
 */
import { closeSharedBrowsers, deliver, launch, openWebview } from './browser';
import { startServer } from './serve';
import { ensureScaleModel, fmt, heatmapHovers, quantile, rendererRss, samplePeak, scaleShow, tokenHovers } from './bench-measure';
import { repoRoot } from '../support/model';

const GiB = 2 ** 30;

async function main(): Promise<void> {
  const model = ensureScaleModel('gpt2-24x16', ['24', '16', '4096']);
  const { config } = model;
  const lengths = (process.env.BENCH_LONG_T ?? '128,2048,4096').split(',').map(Number);
  const server = await startServer(repoRoot, [model.rel]);
  const browser = await launch({ webgpu: false });
  const stackBytes = (T: number) => config.n_layer * config.n_head * T * T * 4;
  console.log(`\nLong contexts, attention recomputed from Q and K: ${config.n_layer} layers × ${config.n_head} heads (random weights, width ${config.n_embd}), ` +
    'WASM 1 thread, one run each.');
  console.log('| T | layers recomputed | inference (WASM) | result → first paint | heatmap first draw | hover median / p95: heatmap, tokens | ' +
    'peak renderer memory (above the idle page) | the Softmax stack alone | added memory ÷ stack |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const p95 = new Map<number, { heat: number; tok: number }>();
  try {
    for (const T of lengths) {
      const p = await openWebview(browser, `${server.origin}/panel.html`);
      const idle = rendererRss(); // the page before any run: Chromium, the panel, nothing of onnxruntime yet
      const peak = samplePeak();
      await deliver(p, scaleShow(model, server.origin, T, { recompute: 'always' }));
      await p.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'result' || m.type === 'runError'), undefined, { timeout: 1_200_000, polling: 100 });
      const posted = await p.evaluate(() => {
        const m = (globalThis as any).__posted.find((x: any) => x.type === 'result' || x.type === 'runError');
        return m.type === 'runError' ? { error: m.message as string } : { paths: m.paths as { path: string }[] | undefined, timings: m.timings };
      });
      if ('error' in posted) {
        console.log(`| ${T} | run failed: ${posted.error} | | | | | ${(peak.stop() / GiB).toFixed(2)} GiB | ${(stackBytes(T) / GiB).toFixed(2)} GiB | |`);
        await p.close();
        continue;
      }
      const tok = await tokenHovers(p, T);
      const h0 = Date.now();
      await p.locator('#tab-heatmap').click();
      await p.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0, undefined, { timeout: 600_000 });
      const heatDraw = Date.now() - h0;
      const heat = await heatmapHovers(p, T);
      const rss = peak.stop();
      p95.set(T, { heat: quantile(heat, 0.95), tok: quantile(tok, 0.95) });
      const qk = posted.paths?.filter((x) => x.path === 'qk').length ?? 0;
      console.log(`| ${T} | ${qk} of ${config.n_layer} | ${fmt(posted.timings.inferenceMs)} | ${fmt(posted.timings.firstPaintMs)} | ${fmt(heatDraw)} | ` +
        `${fmt(quantile(heat, 0.5))} / ${fmt(quantile(heat, 0.95))}, ${fmt(quantile(tok, 0.5))} / ${fmt(quantile(tok, 0.95))} | ` +
        `${(rss / GiB).toFixed(2)} GiB (+${((rss - idle) / GiB).toFixed(2)} GiB) | ${(stackBytes(T) / GiB).toFixed(2)} GiB | ` +
        `${((100 * (rss - idle)) / stackBytes(T)).toFixed(1)} % |`);
      await p.close();
    }
    const [a, b] = [p95.get(128), p95.get(4096)];
    if (a && b) {
      console.log(`\nTargets at T = 4096: completes inside the WebAssembly heap (above: a row, not "run failed"); peak memory below 10 % of the stack; ` +
        `hover p95 vs T = 128: heatmap ${(b.heat / a.heat).toFixed(1)}×, tokens ${(b.tok / a.tok).toFixed(1)}× (target ≤ 3×).`);
    }
  } finally {
    await browser.close();
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
