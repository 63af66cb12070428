/**
 * `npm run bench -- --scale`: the panel at real attention shapes. A GPT-2-shaped random model (12 layers ×
 * 12 heads, context 1 024, small width: test/models/recipe/build_scale.py, cached in .cache/scale/) runs in
 * the real panel page in Chromium (WASM) at T = 128, 512 and 1 024, and this prints, measured in one run:
 * show → result, result → first paint, Model grid until every thumbnail is drawn, the longest main-thread
 * task after the result, heatmap hover median / p95 (mousemove → tooltip with the exact weight), and the
 * bytes the panel posted to the host with the result. Figures, never assertions. Node only.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { closeSharedBrowsers, deliver, launch, openWebview } from './browser';
import { startServer } from './serve';
import { repoRoot } from '../support/model';

const SCALE_DIR = path.join('.cache', 'scale', 'gpt2-12x12');

/** Builds the scale model once (Debian's python3-torch), unless it is cached. */
function ensureModel(): string {
  const dir = path.join(repoRoot, SCALE_DIR);
  if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) {
    execFileSync('/usr/bin/python3', ['build_scale.py', dir], { cwd: path.join(repoRoot, 'test', 'models', 'recipe'), stdio: 'inherit' });
  }
  return dir;
}

/** Long tasks seen by the page, from a PerformanceObserver installed before its scripts. */
const LONG_TASKS = `
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push({ start: e.startTime, ms: e.duration }); })
    .observe({ type: 'longtask', buffered: true });
`;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const fmt = (ms: number | undefined) => (ms === undefined ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

async function main(): Promise<void> {
  const dir = ensureModel();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const server = await startServer(repoRoot, [SCALE_DIR]);
  const browser = await launch({ webgpu: false });
  console.log(`Panel at real attention shapes: ${config.n_layer} layers × ${config.n_head} heads (random weights, width ${config.n_embd}), WASM, one run each.`);
  console.log('| T | show → result | result → first paint | grid: all thumbnails | longest task after result | heatmap hover median / p95 | posted to host |');
  console.log('|---|---|---|---|---|---|---|');
  try {
    for (const T of [128, 512, 1024]) {
      const p = await openWebview(browser, `${server.origin}/panel.html`);
      await p.evaluate(LONG_TASKS);
      const tokens = Array.from({ length: T }, (_, i) => ({ id: 1 + ((i * 7919) % (config.vocab_size - 1)), text: `t${i}`, start: -1, end: -1 }));
      const msg = {
        type: 'show', runId: 1, documentLabel: 'bench', text: '', tokens, backend: 'wasm', notices: [], timings: {},
        model: {
          name: 'gpt2-12x12 (random)', onnxUri: `${server.origin}/${SCALE_DIR}/onnx/model.onnx`, maxTokens: config.n_positions, context: config.n_positions,
          extraInputs: ['attention_mask', 'position_ids', ...Array.from({ length: 2 * config.n_layer }, (_, i) => `past_key_values.${i >> 1}.${i % 2 ? 'value' : 'key'}`)],
        },
      };
      const t0 = Date.now();
      await deliver(p, msg);
      await p.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'result' || m.type === 'runError'), undefined, { timeout: 600_000, polling: 50 });
      const showMs = Date.now() - t0;
      const posted = await p.evaluate(() => {
        const m = (globalThis as any).__posted.find((x: any) => x.type === 'result' || x.type === 'runError');
        if (m.type === 'runError') return { error: m.message };
        return { bytes: new TextEncoder().encode(JSON.stringify(m)).length, firstPaintMs: m.timings.firstPaintMs, at: performance.now() };
      });
      if ('error' in posted) { console.log(`| ${T} | run failed: ${posted.error} |`); await p.close(); continue; }
      const g0 = Date.now();
      await p.locator('#tab-grid').click();
      await p.waitForFunction(() => (globalThis as any).document.getElementById('grid').dataset.pending === '0', undefined, { timeout: 600_000, polling: 50 });
      const gridMs = Date.now() - g0;
      await p.locator('#tab-heatmap').click();
      await p.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0);
      // Hover: dispatch mousemoves over cells in the page and time each until the tooltip holds that cell.
      const hovers: number[] = await p.evaluate(async (T: number) => {
        const doc = (globalThis as any).document;
        const c = doc.getElementById('heatmap');
        const { x0, y0, cell } = c.dataset;
        const rect = c.getBoundingClientRect();
        const out: number[] = [];
        for (let k = 0; k < 40; k++) {
          const i = Math.floor(((k * 7919) % 997) / 997 * T);
          const j = Math.floor(((k * 104729) % 991) / 991 * (i + 1));
          const x = rect.left + Number(x0) + (j + 0.5) * Number(cell);
          const y = rect.top + Number(y0) + (i + 0.5) * Number(cell);
          const t = performance.now();
          c.dispatchEvent(new (globalThis as any).MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
          await new Promise((r) => (globalThis as any).requestAnimationFrame(() => r(undefined)));
          out.push(performance.now() - t);
        }
        return out;
      }, T);
      const tasks: { start: number; ms: number }[] = await p.evaluate(() => (globalThis as any).__long);
      const longest = Math.max(0, ...tasks.filter((e) => e.start >= posted.at).map((e) => e.ms));
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify(tasks.map((e) => [Math.round(e.start), Math.round(e.ms)])), posted.at);
      console.log(`| ${T} | ${fmt(showMs)} | ${fmt(posted.firstPaintMs)} | ${fmt(gridMs)} | ${fmt(longest)} | ${fmt(quantile(hovers, 0.5))} / ${fmt(quantile(hovers, 0.95))} | ` +
        `${(posted.bytes / 1024).toFixed(1)} KiB |`);
      await p.close();
    }
  } finally {
    await browser.close();
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
