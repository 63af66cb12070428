/**
 * The panel webview in a real Chromium: the page is the document renderPanelHtml makes (strict CSP), the
 * model runs in the blob: worker on WASM and on WebGPU (SwiftShader), and the results are checked against
 * the PyTorch reference. Then hovering, locking, the heatmap tooltip, the model grid and the host messages
 * are exercised, and screenshots are taken in dark and light themes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, loadReference, maxAbsDiff, repoRoot, type ReferenceEntry } from '../support/model';
import { deliver, launch, openWebview, postedOfType, selectDropdown, setTheme, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { formatWeight } from '../../src/shared/attention';
import { symbolLegendText, TOKEN_SYMBOLS } from '../../src/shared/token-display';
import { hoverMarkdown, markdownCode } from '../../src/host/hover-card';

/** WASM vs the PyTorch reference. */
const WASM_TOLERANCE = 1e-5;
/** WebGPU (SwiftShader) vs WASM: different kernels and summation order; measured ~1e-7 here. */
const WEBGPU_TOLERANCE = 1e-4;
/** The panel's target rule: weight > 0.01, topped up with the largest positive weights to at least 3. */
const THRESHOLD = 0.01;
const MIN_TARGETS = 3;

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

function showMessage(server: TestServer, runId: number, ref: ReferenceEntry, backend: 'auto' | 'wasm' | 'webgpu') {
  return {
    type: 'show', runId, documentLabel: 'reference.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
      maxTokens: config.n_ctx ?? config.n_positions ?? 128, extraInputs: [],
      tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
    },
    backend, notices: ['Used the reference text.'], timings: { tokenizeMs: 1.25 },
  };
}

/** Row sums and exact zeros above the diagonal of a [L,H,T,T] stack. */
function checkStochasticCausal(data: number[], T: number): void {
  const mats = data.length / (T * T);
  for (let m = 0; m < mats; m++) {
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) {
        const v = data[(m * T + i) * T + j];
        s += v;
        if (j > i) assert.equal(v, 0, `matrix ${m} row ${i} col ${j} above the diagonal is not exactly 0`);
      }
      assert.ok(Math.abs(s - 1) < 1e-5, `matrix ${m} row ${i} sums to ${s}`);
    }
  }
}

function expectedTargets(row: number[]): number[] {
  const chosen = new Set(row.flatMap((w, j) => (w > THRESHOLD ? [j] : [])));
  const order = row.map((w, j) => [w, j]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [w, j] of order) {
    if (chosen.size >= MIN_TARGETS || !(w > 0)) break;
    chosen.add(j);
  }
  return [...chosen].sort((a, b) => a - b);
}

describe('panel webview in Chromium (WASM and WebGPU)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const refs = loadReference();
  const wasmResults = new Map<number, any>();

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'panel.js')), 'run node scripts/build.mjs first');
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: true });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs every reference text on WASM and matches PyTorch', async () => {
    for (let k = 0; k < refs.length; k++) {
      const ref = refs[k];
      const msg = showMessage(server, 1 + k, ref, 'wasm');
      assert.deepEqual(msg.tokens.map((t) => t.id), ref.ids, 'the tokenizer reproduces the reference ids');
      await deliver(page, msg);
      const r = await waitForPosted(page, 'result', msg.runId);
      assert.equal(r.backendUsed, 'wasm');
      assert.equal(r.fallbackReason, undefined);
      const [L, H, T] = ref.attentionShape;
      assert.deepEqual([r.attention.layers, r.attention.heads, r.attention.queries], [L, H, T]);
      assert.equal(r.attention.causal, true);
      const diff = maxAbsDiff(r.attention.data, ref.attention);
      console.log(`    WASM vs PyTorch, T=${T}: max |Δ| = ${diff.toExponential(2)}`);
      assert.ok(diff <= WASM_TOLERANCE, `max abs diff ${diff} > ${WASM_TOLERANCE}`);
      checkStochasticCausal(r.attention.data, T);
      for (const key of ['tokenizeMs', 'loadMs', 'inferenceMs', 'firstPaintMs']) {
        assert.equal(typeof r.timings[key], 'number', `timings.${key}`);
      }
      wasmResults.set(k, r);
    }
    assert.equal(await page.locator('#backend').getAttribute('data-backend'), 'wasm');
    // Served without COOP/COEP the page is not cross-origin isolated: one WebAssembly thread (threads.test.ts has the isolated case).
    assert.equal((await page.locator('#backend').textContent())?.trim(), 'WASM · 1 thread');
    assert.ok([...wasmResults.values()].every((r) => r.threads === 1), 'every result reports one thread');
    assert.match((await page.locator('#timings').textContent()) ?? '', /tokenize .*load .*inference .*first paint/);
    assert.equal((await postedOfType(page, 'runError')).length, 0);
  });

  it('runs on WebGPU (SwiftShader) and agrees with WASM', async () => {
    for (let k = 0; k < refs.length; k++) {
      const msg = showMessage(server, 10 + k, refs[k], 'webgpu');
      await deliver(page, msg);
      const r = await waitForPosted(page, 'result', msg.runId);
      assert.equal(r.backendUsed, 'webgpu', `fell back: ${r.fallbackReason}`);
      const diff = maxAbsDiff(r.attention.data, wasmResults.get(k).attention.data);
      const vsRef = maxAbsDiff(r.attention.data, refs[k].attention);
      console.log(`    WebGPU vs WASM, T=${r.attention.queries}: max |Δ| = ${diff.toExponential(2)} (vs PyTorch ${vsRef.toExponential(2)})`);
      assert.ok(diff <= WEBGPU_TOLERANCE, `max abs diff ${diff} > ${WEBGPU_TOLERANCE}`);
      checkStochasticCausal(r.attention.data, r.attention.queries);
    }
    assert.equal(await page.locator('#backend').getAttribute('data-backend'), 'webgpu');
    assert.equal((await page.locator('#backend').textContent())?.trim(), 'WebGPU');
  });

  it('gives up on WebGPU past its deadline and runs on WASM, saying why, with the same weights', async () => {
    const k = 0;
    // A 1 ms deadline: the WebGPU run (SwiftShader) cannot finish in time, so the worker must not wait for it.
    const msg = { ...showMessage(server, 15, refs[k], 'webgpu'), webgpuDeadlineMs: 1 };
    await deliver(page, msg);
    const r = await waitForPosted(page, 'result', msg.runId);
    assert.equal(r.backendUsed, 'wasm');
    assert.match(r.fallbackReason, /^WebGPU did not finish within 1 ms, so the panel restarted its inference worker and ran on WASM$/);
    assert.ok(maxAbsDiff(r.attention.data, wasmResults.get(k).attention.data) <= 1e-6, 'the WASM result of the same input');
    assert.equal(await page.locator('#backend').getAttribute('data-backend'), 'wasm');
    assert.equal(await page.locator('#backend').getAttribute('title'), r.fallbackReason, 'the header says why');
  });

  it('speaks the hover card\'s vocabulary: the same token text, symbols, #0-based numbers and weight format', async () => {
    // Emoji split into byte fragments, a ZWJ family, accents, a tab and line breaks, tokenized as the host does.
    const text = 'Family: 👨‍👩‍👧 at home.\n\tCafé, déjà vu 😀😀 end.';
    const tokens = tokenize(bundledModelDir, text);
    const msg = { ...showMessage(server, 19, refs[0], 'wasm'), text, tokens };
    await deliver(page, msg);
    const r = await waitForPosted(page, 'result', 19);
    const T = r.attention.queries;
    const shown = await page.$$eval('#tokens .token', (els) => els.map((e: any) => ({
      i: Number(e.dataset.tokenIndex), text: e.querySelector('.tok-text').textContent, title: e.title, label: e.getAttribute('aria-label'),
    })));
    assert.equal(shown.length, tokens.length);
    let fragments = 0;
    for (const t of shown) {
      // What the editor's hover card writes for the same token (its own code, run here in Node).
      const md = hoverMarkdown(tokens, text, t.i, new Array(T).fill(0), { stack: 'self', layer: 0, head: 0 }, true);
      assert.ok(md.includes(`Token #${t.i} of ${T} (numbered from #0): ${markdownCode(t.text)}`), `token ${t.i}: panel “${t.text}”, card:\n${md}`);
      assert.match(t.label, new RegExp(`^token #${t.i}:`));
      if (t.text === TOKEN_SYMBOLS.fragment) {
        fragments++;
        assert.match(t.title, /byte fragment/, 'a fragment\'s tooltip says what it is');
      }
    }
    assert.ok(fragments >= 2, `the emoji gave byte fragments (${fragments})`);
    assert.ok(shown.some((t) => t.text.includes('⇥')) && shown.some((t) => t.text.includes('⏎')) && shown.some((t) => t.text.includes('␣')));
    const legend = await page.locator('#tokens-legend').textContent() ?? '';
    assert.ok(legend.includes(symbolLegendText()), `the legend explains the symbols: ${legend}`);
    // Weights under the targets are written as everywhere else (formatWeight), equal to the weight itself.
    const i = T - 1;
    await selectDropdown(page, 'layer-select', '0');
    await selectDropdown(page, 'head-select', '0');
    await page.locator(`#tokens .token[data-token-index="${i}"]`).hover();
    await page.waitForSelector(`#tokens .token.query[data-token-index="${i}"]`);
    await page.waitForSelector('#tokens .token.target');
    const row = r.attention.data.slice(i * T, (i + 1) * T); // layer 0, head 0
    const weights = await page.$$eval('#tokens .token.target', (els) => els.map((e: any) => [Number(e.dataset.tokenIndex),
      e.querySelector('.tok-weight').textContent, e.title]));
    assert.ok(weights.length >= 3);
    for (const [j, w, title] of weights) {
      assert.equal(w, formatWeight(row[j as number]), `weight under #${j}`);
      assert.match(w, /^\d\.\d{4}$/, 'four decimals, no percentages');
      assert.ok((title as string).endsWith(`(#${j}): ${w}`), `the tooltip gives the same number: ${title}`);
    }
    await page.mouse.move(0, 0); // leave no token hovered for the next test
  });

  it('highlights exactly the targets of the hovered token in the chosen head', async () => {
    const k = refs.length - 1;
    const msg = showMessage(server, 20, refs[k], 'wasm');
    await deliver(page, msg);
    const r = await waitForPosted(page, 'result', 20);
    const { layers: L, heads: H, queries: T } = r.attention;
    const layer = Math.min(1, L - 1);
    const head = Math.min(2, H - 1);
    await selectDropdown(page, 'layer-select', String(layer));
    await selectDropdown(page, 'head-select', String(head));
    for (const i of [T - 1, Math.floor(T / 2), 0]) {
      await page.locator(`#tokens .token[data-token-index="${i}"]`).hover();
      await page.waitForSelector(`#tokens .token.query[data-token-index="${i}"]`);
      await page.waitForSelector(`#tokens[data-shown="${i}"]`); // its row has come from the worker and is drawn
      const row = r.attention.data.slice(((layer * H + head) * T + i) * T, ((layer * H + head) * T + i + 1) * T);
      const shown = await page.$$eval('#tokens .token.target', (els) => els.map((e: any) => [Number(e.dataset.tokenIndex), e.dataset.weight]));
      assert.deepEqual(shown.map((s) => s[0]), expectedTargets(row), `targets of token ${i}`);
      for (const [j, w] of shown) assert.equal(w, row[j as number].toFixed(4), `data-weight of token ${j}`);
      const masked = await page.$$eval('#tokens .token.masked', (els) => els.map((e: any) => Number(e.dataset.tokenIndex)));
      assert.deepEqual(masked, Array.from({ length: T - 1 - i }, (_, d) => i + 1 + d), 'future tokens are masked');
      await page.waitForFunction((i) => (globalThis as any).__posted.some((m: any) => m.type === 'focus' && m.tokenIndex === i), i);
      const focus = (await postedOfType(page, 'focus')).filter((m) => m.tokenIndex === i).pop();
      assert.deepEqual(focus.head, { stack: 'self', layer, head });
      assert.equal(focus.runId, 20);
    }
    // Attended by: the hovered token's column, i.e. the weight each query puts on it; tokens before it cannot see it.
    await page.locator('#attended-by').click();
    for (const j of [0, Math.floor(T / 2)]) {
      await page.locator(`#tokens .token[data-token-index="${j}"]`).hover();
      await page.waitForSelector(`#tokens[data-direction="by"][data-shown="${j}"]`);
      const column = Array.from({ length: T }, (_, i) => r.attention.data[((layer * H + head) * T + i) * T + j] as number);
      const shown = await page.$$eval('#tokens .token.target', (els) => els.map((e: any) => [Number(e.dataset.tokenIndex), e.dataset.weight]));
      assert.deepEqual(shown.map((s) => s[0]), expectedTargets(column), `tokens attending to token ${j}`);
      for (const [i, w] of shown) assert.equal(w, column[i as number].toFixed(4), `data-weight of token ${i}`);
      const masked = await page.$$eval('#tokens .token.masked', (els) => els.map((e: any) => Number(e.dataset.tokenIndex)));
      assert.deepEqual(masked, Array.from({ length: j }, (_, d) => d), 'the tokens before it cannot attend to it');
      assert.match(await page.locator('#focus-summary').innerText(), /is attended most by/);
    }
    await page.locator('#attended-by').click();
    await page.waitForSelector('#tokens[data-direction="to"]');
  });

  it('locks with a click, moves with arrow keys, unlocks with Escape, and saves the state', async () => {
    const T = (await waitForPosted(page, 'result', 20)).attention.queries;
    await page.locator('#tokens .token[data-token-index="3"]').click();
    await page.mouse.move(5, 5);
    await page.waitForSelector('#tokens .token.locked[data-token-index="3"]');
    assert.equal(await page.locator('#tokens .token.query').getAttribute('data-token-index'), '3', 'lock survives leaving');
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('#tokens .token.locked[data-token-index="4"]');
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement.dataset.tokenIndex), '4');
    const state = await page.evaluate(() => (globalThis as any).__getState());
    assert.deepEqual(state, { view: 'tokens', layer: 1, head: 2, locked: 4, sortKey: 'head', sortDesc: false, gridMetric: 'previousToken' });
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#predictions .pred-token')?.textContent);
    const preds = await page.$$eval('#predictions .pred-token', (els) => els.map((e) => e.textContent ?? ''));
    assert.deepEqual(preds.filter((t) => /^#\d+$/.test(t)), [], 'predictions show token strings from tokenizer.json, not ids');
    await shot(page, 'panel-tokens-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'panel-tokens-light.png');
    await setTheme(page, 'vscode-dark');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !(globalThis as any).document.querySelector('#tokens .token.locked'));
    assert.ok(T > 4);
  });

  it('shows per-head bars for all heads', async () => {
    await selectDropdown(page, 'head-select', 'all');
    await page.locator('#tokens .token[data-token-index="6"]').hover();
    await page.waitForSelector('#tokens.all-heads .token.query[data-token-index="6"]');
    await page.waitForSelector('#tokens[data-bars="6"]'); // every head's row has come from the worker
    const bars = await page.$eval('#tokens .token[data-token-index="2"] .head-bars', (c: any) => ({
      visible: c.offsetWidth > 0, weights: c.dataset.headWeights,
    }));
    assert.ok(bars.visible, 'bars are visible');
    assert.match(bars.weights, /^H0 \d\.\d{4} H1 /);
    await page.locator('#tokens .token[data-token-index="6"]').click();
    await page.mouse.move(5, 5);
    await shot(page, 'panel-all-heads-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'panel-all-heads-light.png');
    await setTheme(page, 'vscode-dark');
    await page.keyboard.press('Escape');
    await selectDropdown(page, 'head-select', '2');
  });

  it('draws the heatmap and shows row, column and weight on hover', async () => {
    const r = await waitForPosted(page, 'result', 20);
    const { heads: H, queries: T } = r.attention;
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0);
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell, w: c.width, cw: c.clientWidth }));
    assert.ok(g.w >= g.cw * 2 - 1, 'canvas backing store is scaled by devicePixelRatio');
    const [i, j] = [T - 2, 3];
    const at = (i: number, j: number) => ({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
    await page.locator('#heatmap').hover(at(i, j));
    await page.waitForSelector('#heatmap-tip:not([hidden])');
    const tip = await page.$eval('#heatmap-tip', (e: any) => ({ ...e.dataset, text: e.textContent }));
    const w = r.attention.data[((1 * H + 2) * T + i) * T + j];
    assert.deepEqual([tip.row, tip.col, tip.weight], [String(i), String(j), w.toFixed(4)]);
    assert.match(tip.text, new RegExp(`query .*#${i}.*key .*#${j}.*weight ${w.toFixed(4)}`));
    await shot(page, 'panel-heatmap-dark.png');
    await setTheme(page, 'vscode-light');
    await page.locator('#heatmap').hover(at(i, j + 1));
    await shot(page, 'panel-heatmap-light.png');
    await setTheme(page, 'vscode-dark');
    // Above the diagonal: masked.
    await page.locator('#heatmap').hover(at(0, T - 1));
    await page.waitForFunction(() => /masked/.test((globalThis as any).document.getElementById('heatmap-tip').textContent));

    // Zoom: + halves the window around the cursor (the worker serves just that region); cells keep their own row, column and weight.
    await page.locator('#heatmap').hover(at(i, j));
    await page.locator('#heatmap').focus();
    await page.keyboard.press('+');
    const half = Math.max(Math.min(8, T), Math.round(T / 2));
    await page.waitForFunction((n) => (globalThis as any).document.getElementById('heatmap').dataset.rows === String(n), half);
    const z = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell, row0: +c.dataset.row0,
      col0: +c.dataset.col0, rows: +c.dataset.rows, cols: +c.dataset.cols }));
    assert.deepEqual([z.row0, z.col0, z.rows, z.cols], [Math.min(i - Math.floor(half / 2), T - half), 0, half, half], 'the window around the cursor, inside the matrix');
    assert.ok(z.cell > g.cell, `cells grow when zoomed (${z.cell} > ${g.cell})`);
    await page.locator('#heatmap').hover({ position: { x: z.x0 + (j - z.col0 + 0.5) * z.cell, y: z.y0 + (i - z.row0 + 0.5) * z.cell } });
    await page.waitForFunction(({ i, j }) => {
      const t = (globalThis as any).document.getElementById('heatmap-tip');
      return !t.hidden && t.dataset.row === String(i) && t.dataset.col === String(j);
    }, { i, j });
    assert.equal(await page.$eval('#heatmap-tip', (e: any) => e.dataset.weight), w.toFixed(4), 'the same cell, the same weight');
    assert.match(await page.locator('#heatmap-legend').innerText(), new RegExp(`zoomed: rows ${z.row0}–${z.row0 + half - 1}, columns 0–${half - 1} of ${T}×${T}`));
    await page.locator('#heatmap').focus();
    await page.keyboard.press('0');
    await page.waitForFunction((n) => (globalThis as any).document.getElementById('heatmap').dataset.rows === String(n), T);
  });

  it('saves the heatmap as a PNG of the canvas as drawn, and offers Save image only on canvas views', async () => {
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => !(globalThis as any).document.getElementById('save-image').hasAttribute('disabled'));
    await page.locator('#save-image').click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'saveImage'));
    const got = await page.evaluate(() => {
      const g = globalThis as any;
      const m = g.__posted.filter((x: any) => x.type === 'saveImage').pop();
      const b = new Uint8Array(m.png);
      const v = new DataView(m.png);
      const c = g.document.getElementById('heatmap');
      return { view: m.view, name: m.name, head: Array.from(b.subarray(0, 8)), ihdr: String.fromCharCode(...b.subarray(12, 16)),
        w: v.getUint32(16), h: v.getUint32(20), cw: c.width, ch: c.height };
    });
    assert.deepEqual(got.head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.equal(got.ihdr, 'IHDR');
    assert.deepEqual([got.view, got.w, got.h], ['heatmap', got.cw, got.ch], 'the canvas at its device-pixel size');
    assert.match(got.name, /^attention-L\d+-/);
    await page.locator('#tab-tokens').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('save-image').hasAttribute('disabled'));
  });

  it('selects a head from the model grid, by mouse and by keyboard', async () => {
    const r = await waitForPosted(page, 'result', 20);
    const { layers: L, heads: H } = r.attention;
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('grid').dataset.thumb) > 0);
    const g = await page.$eval('#grid', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, thumb: +c.dataset.thumb, gap: +c.dataset.gap }));
    const [layer, head] = [L - 1, H - 1];
    await page.locator('#grid').click({
      position: { x: g.x0 + head * (g.thumb + g.gap) + g.thumb / 2, y: g.y0 + layer * (g.thumb + g.gap) + g.thumb / 2 },
    });
    await page.waitForFunction(({ layer, head }) => (globalThis as any).document.getElementById('layer-select').value === String(layer)
      && (globalThis as any).document.getElementById('head-select').value === String(head), { layer, head });
    await page.waitForFunction(({ layer, head }) => (globalThis as any).__posted.some((m: any) => m.type === 'focus'
      && m.head.layer === layer && m.head.head === head), { layer, head });
    await shot(page, 'panel-grid-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'panel-grid-light.png');
    await setTheme(page, 'vscode-dark');
    await page.locator('#grid').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.waitForFunction(({ layer }) => (globalThis as any).document.getElementById('layer-select').value === String(layer - 1)
      && (globalThis as any).document.getElementById('head-select').value === 'mean', { layer });
  });

  it('pins heads, follows focusHead and editorHover, shows stale and error banners', async () => {
    await page.locator('#pin-head').click();
    const pins = await postedOfType(page, 'pinHead');
    assert.deepEqual(pins.pop().head.stack, 'self');
    await deliver(page, { type: 'focusHead', head: { stack: 'self', layer: 0, head: 1 } });
    await page.waitForFunction(() => (globalThis as any).document.getElementById('layer-select').value === '0'
      && (globalThis as any).document.getElementById('head-select').value === '1');
    await page.locator('#tab-tokens').click();
    await deliver(page, { type: 'editorHover', tokenIndex: 5 });
    await page.waitForSelector('#tokens .token.query[data-token-index="5"]');
    await deliver(page, { type: 'editorHover', tokenIndex: null });
    await page.waitForFunction(() => !(globalThis as any).document.querySelector('#tokens .token.query'));
    await deliver(page, { type: 'stale', reason: 'the document changed' });
    await page.waitForSelector('#stale-banner:not([hidden])');
    // One sentence, one instruction (the host's reason is a clause; the banner adds what to do once).
    assert.equal(await page.locator('#stale-banner').textContent(), 'Out of date: the document changed. Run "Attention Lens: Show Attention" again to refresh.');
    await deliver(page, { type: 'error', message: 'Something went wrong (test).' });
    await page.waitForSelector('#error[role="alert"]:not([hidden])');
    assert.equal(await page.locator('#error').textContent(), 'Something went wrong (test).');
  });

  it('shows a refused request as a banner above the result still on show, with the fix, until the next run', async () => {
    const message = 'The selection is only whitespace, so there is nothing to analyse: select some text and run "Attention Lens: Show Attention" again.';
    const tokensBefore = await page.$$eval('#tokens .token', (e) => e.length);
    await deliver(page, { type: 'refusal', message });
    await page.waitForSelector('#refusal-banner:not([hidden])');
    assert.equal(await page.locator('#refusal-banner').textContent(), `Not run: ${message}`);
    assert.equal(await page.locator('#refusal-banner').getAttribute('role'), 'alert');
    assert.ok(await page.locator('#refusal-banner').isVisible(), 'on screen, not just in the DOM');
    assert.equal(await page.$$eval('#tokens .token', (e) => e.length), tokensBefore, 'the last result stays');
    await shot(page, 'panel-refusal-dark.png');
    await deliver(page, showMessage(server, 40, refs[0], 'wasm'));
    await waitForPosted(page, 'result', 40);
    assert.equal(await page.locator('#refusal-banner').isHidden(), true, 'a new run clears it');
  });

  it('brings a view forward when the host asks (the walkthrough\'s "Open the Model Grid")', async () => {
    await deliver(page, { type: 'showView', view: 'grid' });
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.activeView === 'grid');
    assert.ok(await page.locator('#grid').isVisible(), 'the Model grid is on screen');
    assert.equal((await page.evaluate(() => (globalThis as any).__getState())).view, 'grid', 'and saved as the view');
    await deliver(page, { type: 'showView', view: 'tokens' });
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.activeView === 'tokens');
  });

  it('asks the host for the model picker from the header button, by click and by Enter', async () => {
    const asked = (n: number) => page.waitForFunction((n) =>
      (globalThis as any).__posted.filter((m: any) => m.type === 'selectModel').length === n, n);
    assert.deepEqual(await postedOfType(page, 'selectModel'), []);
    await page.locator('#change-model').click();
    await asked(1);
    await page.locator('#change-model').focus();
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'change-model', 'the button takes focus');
    await page.keyboard.press('Enter');
    await asked(2);
    assert.deepEqual(await postedOfType(page, 'selectModel'), [{ type: 'selectModel' }, { type: 'selectModel' }]);
  });

  it('has no CSP violations and no console errors', async () => {
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), []);
    // Chromium asks for /favicon.ico on its own and logs the 404 without a URL.
    assert.deepEqual(server.notFound.filter((p) => p !== '/favicon.ico'), []);
    assert.deepEqual(errors.filter((e) => !(/status of 404/.test(e) && server.notFound.length > 0)), []);
    // Once per inference worker: the plain WASM build's (the first runs ask for WASM), the JSEP build's that WebGPU
    // needs, and the plain one started after WebGPU passed its deadline.
    assert.equal(server.requests.filter((p) => p.endsWith('model.onnx')).length, 3, 'the model is fetched once per worker');
    assert.ok(server.requests.some((p) => p.endsWith('/ort-wasm-simd-threaded.wasm')), 'the plain wasm comes from dist/ort');
    assert.ok(server.requests.some((p) => p.endsWith('.jsep.wasm')), 'and so does the JSEP one');
  });
});

describe('panel webview without a WebGPU adapter', function () {
  this.timeout(120000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const refs = loadReference();

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('falls back to WASM when WebGPU is requested, and says why', async () => {
    await deliver(page, showMessage(server, 1, refs[0], 'webgpu'));
    const r = await waitForPosted(page, 'result', 1);
    assert.equal(r.backendUsed, 'wasm');
    assert.match(r.fallbackReason, /WebGPU requested but no adapter is available; ran on WASM/);
    assert.ok(maxAbsDiff(r.attention.data, refs[0].attention) <= WASM_TOLERANCE);
    assert.equal((await page.locator('#backend').textContent())?.trim(), 'WASM · 1 thread — WebGPU requested but unavailable');
  });

  it('runs on WASM without a reason when the setting is auto', async () => {
    await deliver(page, showMessage(server, 2, refs[0], 'auto'));
    const r = await waitForPosted(page, 'result', 2);
    assert.equal(r.backendUsed, 'wasm');
    assert.equal(r.fallbackReason, undefined);
  });

  it('restores the view, layer, head and locked token saved with setState', async () => {
    const restored = await openWebview(browser, `${server.origin}/panel.html`, [], { view: 'heatmap', layer: 2, head: 'mean', locked: 3 });
    try {
      await deliver(restored, showMessage(server, 1, refs[0], 'wasm'));
      await waitForPosted(restored, 'result', 1);
      await restored.waitForFunction(() => {
        const d = (globalThis as any).document;
        return d.getElementById('layer-select').value === '2' && d.getElementById('head-select').value === 'mean'
          && d.getElementById('views').activeid === 'tab-heatmap' && Number(d.getElementById('heatmap').dataset.cell) > 0;
      });
      const focus = await waitForPosted(restored, 'focus', 1);
      assert.deepEqual([focus.tokenIndex, focus.head], [3, { stack: 'self', layer: 2, head: 'mean' }]);
    } finally {
      await restored.close();
    }
  });

  it('drops a superseded run and reports a run error for an unreadable model', async () => {
    const a = showMessage(server, 3, refs[1], 'wasm');
    const b = showMessage(server, 4, refs[0], 'wasm');
    // Both in one task, so that run 4 arrives while run 3 is still in the worker.
    await page.evaluate(([a, b]) => {
      (globalThis as any).postMessage(a, '*');
      (globalThis as any).postMessage(b, '*');
    }, [a, b]);
    await waitForPosted(page, 'result', 4);
    assert.equal((await postedOfType(page, 'result')).filter((m) => m.runId === 3).length, 0, 'run 3 was dropped');
    const bad = { ...showMessage(server, 5, refs[0], 'wasm'), model: { ...a.model, onnxUri: `${server.origin}/models/lens-gpt/config.json` } };
    await deliver(page, bad);
    const err = await waitForPosted(page, 'runError', 5);
    assert.match(err.message, /ONNX|protobuf|not a valid/i);
    await page.waitForSelector('#error:not([hidden])');
  });
});
