/**
 * Browser half of `npm run bench` (not a test; never asserts on time). For T = 32, 128 and 256 tokens of
 * held-out text it measures, in real Chromium on WASM, the host-side tokenizing plus the wall time from
 * delivering the panel's 'show' message to the panel's 'result', which the panel posts after its first
 * paint: the command-to-first-paint a user waits for. The first run of a page pays for fetching the
 * model and the .wasm and creating the session (cold); a second run on the same page is warm.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundledModelDir, repoRoot } from '../support/model';
import { closeSharedBrowsers, deliver, launch, openWebview, tokenize } from './browser';
import { startServer } from './serve';

const ms = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(0)} ms`);

async function main(): Promise<void> {
  const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
  const ctx: number = config.n_positions;
  const heldout = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8');
  const server = await startServer(repoRoot);
  const browser = await launch({ webgpu: false });
  console.log('In brackets: the panel\'s own load / inference / first-paint times for that run.');
  console.log('| T | tokenize (host) | cold: show → first paint | warm: show → first paint |');
  console.log('|---|---|---|---|');
  try {
    for (const T of [32, 128, 256]) {
      if (T > ctx) { console.log(`| ${T} | — | — | skipped: longer than the model's context of ${ctx} tokens |`); continue; }
      const t0 = performance.now();
      const all = tokenize(bundledModelDir, heldout.slice(0, T * 8));
      const tokens = all.slice(0, T);
      const tokenizeMs = performance.now() - t0;
      const text = heldout.slice(0, tokens[T - 1].end);
      const page = await openWebview(browser, `${server.origin}/panel.html`);
      const times: number[] = [];
      const stages: { loadMs?: number; inferenceMs?: number; firstPaintMs?: number }[] = [];
      for (const runId of [1, 2]) {
        const msg = {
          type: 'show', runId, documentLabel: 'bench', text, tokens,
          model: { name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: ctx, extraInputs: [] },
          backend: 'wasm', notices: [], timings: { tokenizeMs },
        };
        const start = performance.now();
        await deliver(page, msg);
        // Polls only for the message's arrival (cheap), so the clock does not include copying the result out.
        await page.waitForFunction((id) => (globalThis as any).__posted.some((m: any) => m.type === 'result' && m.runId === id),
          runId, { timeout: 120_000, polling: 5 });
        times.push(performance.now() - start);
        stages.push(await page.evaluate((id) => (globalThis as any).__posted
          .find((m: any) => m.type === 'result' && m.runId === id).timings, runId));
      }
      await page.close();
      const [cold, warm] = stages.map((t) => `${ms(t.loadMs)} / ${ms(t.inferenceMs)} / ${ms(t.firstPaintMs)}`);
      console.log(`| ${T} | ${tokenizeMs.toFixed(1)} ms | ${(tokenizeMs + times[0]).toFixed(0)} ms (${cold}) | ` +
        `${(tokenizeMs + times[1]).toFixed(0)} ms (${warm}) |`);
    }
  } finally {
    await browser.close();
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
