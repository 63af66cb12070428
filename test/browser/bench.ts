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
import { deliver, launch, openWebview, tokenize, waitForPosted } from './browser';
import { startServer } from './serve';

async function main(): Promise<void> {
  const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
  const ctx: number = config.n_positions;
  const heldout = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8');
  const server = await startServer(repoRoot);
  const browser = await launch({ webgpu: false });
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
      for (const runId of [1, 2]) {
        const msg = {
          type: 'show', runId, documentLabel: 'bench', text, tokens,
          model: { name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: ctx, extraInputs: [] },
          backend: 'wasm', notices: [], timings: { tokenizeMs },
        };
        const start = performance.now();
        await deliver(page, msg);
        await waitForPosted(page, 'result', runId);
        times.push(performance.now() - start);
      }
      await page.close();
      console.log(`| ${T} | ${tokenizeMs.toFixed(1)} ms | ${(tokenizeMs + times[0]).toFixed(0)} ms | ${(tokenizeMs + times[1]).toFixed(0)} ms |`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
