/**
 * Browser half of `npm run bench` (not a test; never asserts on time). For T = 32 and 128 tokens of held-out
 * text it measures, in real Chromium on WASM, the host-side tokenizing plus the wall time from opening the
 * panel page (as Show Attention does) to the panel's 'result', which the panel posts after its first paint:
 * - cold: the first panel in a fresh browser (nothing cached: the runtime is downloaded and compiled);
 * - warm: a second Show Attention in the same panel (runtime, model and session kept);
 * - reopen: that panel closed and a new one opened in the same browser (what closing and reopening costs).
 * Each row also prints the panel's own stages for that run: runtime, model fetch, session, inference, first paint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { bundledModelDir, repoRoot } from '../support/model';
import { BASE_FLAGS, deliver, openWebview, tokenize, type Browser } from './browser';
import { startServer } from './serve';

const ms = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(0)} ms`);

/** A fresh Chromium (own profile, empty caches) as the bench's Browser. */
async function freshBrowser(): Promise<Browser & { quit(): Promise<void> }> {
  const b = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: BASE_FLAGS });
  const context = await b.newContext({ viewport: { width: 960, height: 760 }, deviceScaleFactor: 2 });
  return { context, close: async () => undefined, quit: () => b.close() };
}

async function main(): Promise<void> {
  const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
  const ctx: number = config.n_positions;
  const heldout = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8');
  const server = await startServer(repoRoot);
  console.log('Panel open → show → first paint (WASM); in brackets the panel\'s stages: runtime / model fetch / session / inference / paint.');
  console.log('| T | tokenize (host) | cold: open + show → first paint | warm: show → first paint | reopen: open + show → first paint |');
  console.log('|---|---|---|---|---|');
  try {
    for (const T of [32, 128]) {
      if (T > ctx) { console.log(`| ${T} | — | — | — | skipped: longer than the model's context of ${ctx} tokens |`); continue; }
      const t0 = performance.now();
      const tokens = tokenize(bundledModelDir, heldout.slice(0, T * 8)).slice(0, T);
      const tokenizeMs = performance.now() - t0;
      const text = heldout.slice(0, tokens[T - 1].end);
      const browser = await freshBrowser();
      const cells: string[] = [];
      try {
        let page: Page;
        const show = async (runId: number, opened: number): Promise<void> => {
          const msg = {
            type: 'show', runId, documentLabel: 'bench', text, tokens,
            model: { name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: ctx, extraInputs: [] },
            backend: 'wasm', notices: [], timings: { tokenizeMs },
          };
          await deliver(page, msg);
          // Polls only for the message's arrival (cheap), so the clock does not include copying the result out.
          await page.waitForFunction((id) => (globalThis as any).__posted.some((m: any) => m.type === 'result' && m.runId === id),
            runId, { timeout: 300_000, polling: 5 });
          const wall = tokenizeMs + performance.now() - opened;
          const t = await page.evaluate((id) => (globalThis as any).__posted.find((m: any) => m.type === 'result' && m.runId === id).timings, runId);
          const parts = [t.runtimeMs, t.fetchMs, t.sessionMs ?? t.loadMs, t.inferenceMs, t.firstPaintMs].map(ms).join(' / ');
          cells.push(`${wall.toFixed(0)} ms (${parts})`);
        };
        let opened = performance.now();
        page = await openWebview(browser, `${server.origin}/panel.html`);
        await show(1, opened);
        await show(2, performance.now());
        await page.close();
        opened = performance.now();
        page = await openWebview(browser, `${server.origin}/panel.html`);
        await show(3, opened);
      } finally {
        await browser.quit();
      }
      console.log(`| ${T} | ${tokenizeMs.toFixed(1)} ms | ${cells.join(' | ')} |`);
    }
  } finally {
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
