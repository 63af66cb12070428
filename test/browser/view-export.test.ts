/**
 * Exporting the view as SVG and as a self-contained HTML page, end to end with the real panel and worker in
 * Chromium: the panel's "Save SVG…" / "Save HTML…" describe the view (theme colours as resolved from the
 * --vscode-* variables in effect), the host's writers (run here in Node, asking the page's worker as the host
 * does) write the files, and the files are read back: every SVG cell's colour is recomputed here from the weight
 * the worker serves, and the HTML page, opened in Chromium with every request intercepted, shows on hover the
 * weights the worker serves, without a single network request.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { formatWeight } from '../../src/shared/attention';
import type { ViewSpec } from '../../src/shared/view-spec';
import { AttentionStore } from '../../src/shared/attention-query';
import { mulberry32 } from '../../src/shared/head-labels';
import { HTML_MAX_SIDE, writeHtmlExport } from '../../src/host/html-export';
import { writeSvgExport } from '../../src/host/svg-export';
import type { MatrixAsk } from '../../src/host/view-export';
import { bundledModelDir, loadReference, repoRoot } from '../support/model';
import { deliver, launch, nextFrames, openWebview, postedOfType, setTheme, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { askPage, checkCells, close, mix, parseSvg, rgbOf, themeOf } from './view-export-helpers';

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const never = { progress: () => undefined, cancelled: () => false };

describe('exporting the view as SVG and HTML (real panel and worker in Chromium)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-view-export-'));
  const ref = loadReference()[1];
  const runId = 7;
  const [L, H, T] = ref.attentionShape;
  const ask = (weighted = false): MatrixAsk => (q) => askPage(page, runId, q, weighted);
  const meta = { model: 'lens-gpt', document: 'reference.txt' };

  /** Clicks a toolbar button and returns the exportView message it posted. */
  async function exportClick(id: string): Promise<{ format: string; spec: ViewSpec }> {
    const before = (await postedOfType(page, 'exportView')).length;
    await page.waitForFunction((id) => !(globalThis as any).document.getElementById(id).hasAttribute('disabled'), id);
    await page.locator(`#${id}`).click();
    await page.waitForFunction((n) => (globalThis as any).__posted.filter((m: any) => m.type === 'exportView').length > n, before);
    return (await postedOfType(page, 'exportView')).at(-1);
  }

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    await deliver(page, {
      type: 'show', runId, documentLabel: 'reference.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text),
      model: { name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: config.n_ctx ?? 128, extraInputs: [],
        tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json` },
      backend: 'wasm', notices: [], timings: {},
    });
    await waitForPosted(page, 'result', runId);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the heatmap as SVG in the light theme\'s colours, each cell the colour of the weight the worker serves', async () => {
    await setTheme(page, 'vscode-light');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => +(globalThis as any).document.getElementById('heatmap').dataset.cell > 0);
    const msg = await exportClick('save-svg');
    const theme = themeOf('vscode-light');
    assert.equal(msg.format, 'svg');
    const { spec } = msg;
    assert.deepEqual([spec.view, spec.queries, spec.keys, spec.layers, spec.heads, spec.causal], ['heatmap', T, T, L, H, true]);
    for (const k of ['bg', 'fg', 'accent', 'focus'] as const) {
      assert.ok(close([spec.theme[k].r, spec.theme[k].g, spec.theme[k].b], [theme[k].r, theme[k].g, theme[k].b], 0), `${k} is the CSS variable's colour`);
    }
    const file = path.join(dir, 'heatmap.svg');
    await writeSvgExport(ask(), spec, meta, file, never);
    const svg = await parseSvg(page, fs.readFileSync(file, 'utf8'));
    assert.equal(svg.error, null, 'well-formed XML');
    assert.equal(svg.root, 'svg');
    assert.deepEqual(rgbOf(svg.background), mix(theme.bg, theme.bg, 0), 'the background is --vscode-editor-background');
    assert.ok(close(rgbOf(svg.hatch), theme.hatch), 'masked cells are hatched in the panel\'s hatch colour');
    assert.equal(svg.groups.length, 1);
    const served = await askPage(page, runId, { kind: 'matrix', head: spec.head });
    assert.equal(served.pooled, false, `${T} tokens are exported cell by cell`);
    checkCells(svg.groups[0], served, theme, `heatmap ${JSON.stringify(spec.head)}`);
    assert.deepEqual(svg.labels, spec.labels, 'every query token is labelled as in the panel');
    const view = await browser.context.newPage();
    // Shown as an image, as a document or a slide would show it.
    await view.setContent(`<body style="margin:0"><img src="data:image/svg+xml;base64,${fs.readFileSync(file).toString('base64')}"></body>`);
    await view.waitForFunction(() => (globalThis as any).document.images[0].complete && (globalThis as any).document.images[0].naturalWidth > 0);
    await shot(view, 'export-svg-heatmap-light.png');
    await view.close();
  });

  it('writes the model grid as SVG in the dark theme: every head and each layer\'s mean, the selected head outlined in the focus colour', async () => {
    await setTheme(page, 'vscode-dark');
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('grid').dataset.pending === '0');
    const { spec } = await exportClick('save-svg');
    const theme = themeOf('vscode-dark');
    assert.equal(spec.view, 'grid');
    const file = path.join(dir, 'grid.svg');
    await writeSvgExport(ask(), spec, meta, file, never);
    const svg = await parseSvg(page, fs.readFileSync(file, 'utf8'));
    assert.equal(svg.error, null);
    assert.deepEqual(rgbOf(svg.background), [theme.bg.r, theme.bg.g, theme.bg.b]);
    assert.deepEqual(rgbOf(svg.selected), [theme.focus.r, theme.focus.g, theme.focus.b], 'the selected head is outlined in --vscode-focusBorder');
    assert.equal(svg.groups.length, L * (H + 1));
    // The notes on each thumbnail are the grid's: its metric's value as the grid shows it, and its label badges.
    const drawn = await page.$eval('#grid', (c: any) => ({ metric: c.dataset.metric, values: c.dataset.values, labels: c.dataset.labels }));
    const raw = new Map((drawn.values as string).split('; ').map((e) => e.split(': ') as [string, string]));
    const wantValues = Array.from({ length: L * H }, (_, k) => {
      const v = raw.get(`L${Math.floor(k / H)} H${k % H}`);
      return v === undefined || v === '—' ? '—' : (+v).toFixed(drawn.metric === 'distance' ? 1 : 2);
    });
    assert.deepEqual(spec.notes!.map((n) => n.value ?? '—'), wantValues, `the ${drawn.metric} values the grid writes`);
    assert.ok(svg.values.length > 0 && svg.values.every((v: string) => wantValues.includes(v)), `chips in the SVG: ${svg.values.join(', ')}`);
    const badgeCount = (drawn.labels as string).split('; ').filter(Boolean).reduce((n, e) => n + e.split(': ')[1].split(', ').length, 0);
    assert.equal(svg.badges.length, badgeCount, 'one badge per label the grid shows');
    console.log(`    grid SVG: ${svg.values.length} value chips, badges ${svg.badges.join(', ') || 'none'}`);
    const view = await browser.context.newPage();
    await view.setContent(`<body style="margin:0"><img src="data:image/svg+xml;base64,${fs.readFileSync(file).toString('base64')}"></body>`);
    await view.waitForFunction(() => (globalThis as any).document.images[0].complete && (globalThis as any).document.images[0].naturalWidth > 0);
    await shot(view, 'export-svg-grid-dark.png');
    await view.close();
    for (const g of svg.groups) {
      const head = g.head === 'mean' ? 'mean' : +g.head;
      const served = await askPage(page, runId, { kind: 'matrix', head: { stack: 'self', layer: g.layer, head }, maxSide: g.rows });
      checkCells(g, served, theme, `grid L${g.layer} ${g.head}`);
    }
  });

  it('exports the value-weighted view (α·‖v‖) when the panel shows it: the host\'s queries ask the worker for the weighted stack', async () => {
    await page.locator('#tab-heatmap').click();
    await page.locator('#value-weighted').click();
    await page.waitForFunction(() => /scaled by ‖v‖/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
    const { spec } = await exportClick('save-svg');
    assert.equal(spec.valueWeighted, true);
    const file = path.join(dir, 'weighted.svg');
    await writeSvgExport(ask(spec.valueWeighted), spec, meta, file, never);
    const svg = await parseSvg(page, fs.readFileSync(file, 'utf8'));
    const weighted = await askPage(page, runId, { kind: 'matrix', head: spec.head }, true);
    const alpha = await askPage(page, runId, { kind: 'matrix', head: spec.head });
    const [w, a] = [new Float32Array(weighted.data), new Float32Array(alpha.data)];
    assert.ok(w.some((x, k) => Math.abs(x - a[k]) > 1e-3), 'the panel forwards the flag: the weighted matrix differs from α');
    checkCells(svg.groups[0], weighted, themeOf('vscode-dark'), 'value-weighted heatmap');
    await page.locator('#value-weighted').click();
    await page.waitForFunction(() => !/scaled by ‖v‖/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
  });

  it('describes the heatmap when the palette asks for SVG while another view is on show', async () => {
    await page.locator('#tab-tokens').click();
    const before = (await postedOfType(page, 'exportView')).length;
    await deliver(page, { type: 'exportView', format: 'svg' });
    await page.waitForFunction((n) => (globalThis as any).__posted.filter((m: any) => m.type === 'exportView').length > n, before);
    const msg = (await postedOfType(page, 'exportView')).at(-1);
    assert.deepEqual([msg.format, msg.spec.view, msg.spec.runId], ['svg', 'heatmap', runId]);
    assert.equal(await page.locator('#save-svg').getAttribute('disabled'), '', 'the toolbar offers SVG on canvas views only');
  });

  it('writes a self-contained HTML page whose hover shows the weights the worker serves, with no network request', async () => {
    const { spec } = await exportClick('save-html');
    const file = path.join(dir, 'view.html');
    const viewer = fs.readFileSync(path.join(repoRoot, 'dist', 'export-viewer.js'), 'utf8');
    await writeHtmlExport(ask(), spec, meta, viewer, file, never);
    const html = fs.readFileSync(file, 'utf8');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    const viewPage = await browser.context.newPage();
    const requests: string[] = [];
    viewPage.on('request', (r) => requests.push(r.url()));
    await viewPage.route('**/*', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort()));
    await viewPage.addInitScript(() => {
      const g = globalThis as any;
      g.__csp = [];
      g.document.addEventListener('securitypolicyviolation', (e: any) => g.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const pageErrors: string[] = [];
    viewPage.on('pageerror', (e) => pageErrors.push(String(e)));
    await viewPage.goto(`file://${file}`);
    await viewPage.waitForFunction(() => +(globalThis as any).document.getElementById('matrix').dataset.cell > 0);
    const [layer, head] = [1, 2];
    await viewPage.selectOption('#layer', String(layer));
    await viewPage.selectOption('#head', String(head));
    const full = new Float32Array((await askPage(page, runId, { kind: 'matrix', head: { stack: 'self', layer, head } })).data);
    const { cell, x0, y0 } = await viewPage.locator('#matrix').evaluate((c: any) => ({ cell: +c.dataset.cell, x0: +c.dataset.x0, y0: +c.dataset.y0 }));
    assert.ok(x0 > 0 && y0 > 0, `${T} tokens: the page labels them on both axes`);
    // Masked cells are hatched over their fill, as in the panel: two colours inside one; a weight's cell is one colour.
    const coloursIn = (i: number, j: number) => viewPage.locator('#matrix').evaluate((c: any, a: number[]) => {
      const [i, j, x0, y0, cell] = a;
      const k = c.width / c.clientWidth;
      const px = c.getContext('2d').getImageData(Math.ceil((x0 + j * cell) * k) + 1, Math.ceil((y0 + i * cell) * k) + 1,
        Math.floor(cell * k) - 2, Math.floor(cell * k) - 2).data;
      const seen = new Set<string>();
      for (let p = 0; p < px.length; p += 4) seen.add(`${px[p]},${px[p + 1]},${px[p + 2]}`);
      return seen.size;
    }, [i, j, x0, y0, cell]);
    assert.ok(await coloursIn(2, 7) >= 2, 'a masked cell is hatched');
    assert.equal(await coloursIn(7, 2), 1, 'a weight\'s cell is one colour');
    for (const [i, j] of [[2, 7], [T - 1, 3], [5, 5], [T - 1, 0]]) {
      await viewPage.locator('#matrix').hover({ position: { x: x0 + (j + 0.5) * cell, y: y0 + (i + 0.5) * cell } });
      const tip = await viewPage.locator('#tip').evaluate((t: any) => ({ ...t.dataset, text: t.textContent, hidden: t.hidden }));
      assert.deepEqual([tip.hidden, +tip.row, +tip.col], [false, i, j]);
      if (j > i) {
        assert.equal(tip.weight, 'masked');
        continue;
      }
      assert.ok(Math.abs(+tip.weight - full[i * T + j]) <= 1e-5, `cell (${i}, ${j}): ${tip.weight} vs ${full[i * T + j]}`);
      assert.ok(tip.text.includes(formatWeight(full[i * T + j])), `the tip reads ${formatWeight(full[i * T + j])}: ${tip.text}`);
    }
    const q = T - 2;
    await viewPage.locator(`.token[data-index="${q}"]`).hover();
    const shown = await viewPage.$$eval('.token', (s: any[]) => s.map((x) => x.dataset.weight));
    for (let j = 0; j < T; j++) {
      if (j > q) assert.equal(shown[j], 'masked');
      else assert.ok(Math.abs(+shown[j] - full[q * T + j]) <= 1e-5, `token ${j} of row ${q}: ${shown[j]} vs ${full[q * T + j]}`);
    }
    assert.match((await viewPage.locator('#row-readout').textContent())!, /attends most to/);
    await nextFrames(viewPage);
    await shot(viewPage, 'export-html.png');
    assert.equal(await viewPage.locator('#tip').evaluate((t: any) => t.hidden), true,
      'the cell tip went with the pointer, and a redraw (the screenshot resizes) leaves it gone');
    assert.deepEqual(requests, [`file://${file}`], 'the page asked for nothing but itself');
    assert.deepEqual([await viewPage.evaluate(() => (globalThis as any).__csp), pageErrors], [[], []], 'no CSP violation, no error');
    await viewPage.close();
    // Chromium asks the test server for /favicon.ico on its own and logs the 404 without a URL.
    assert.deepEqual(errors.filter((e) => !(/status of 404/.test(e) && server.notFound.length > 0)), []);
  });

  it('pools a long input\'s heads to the page\'s cap, and its hover shows each block\'s largest weight as the worker pools it', async () => {
    // 300 tokens of causal attention (random rows summing to 1), answered by the worker's own AttentionStore.
    const [n, layers, heads] = [300, 1, 2];
    const rnd = mulberry32(11);
    const stackData = new Float32Array(layers * heads * n * n);
    for (let m = 0; m < layers * heads; m++) {
      for (let i = 0; i < n; i++) {
        const row = stackData.subarray((m * n + i) * n, (m * n + i) * n + i + 1);
        for (let j = 0; j <= i; j++) row[j] = rnd() ** 4;
        const sum = row.reduce((a, b) => a + b);
        for (let j = 0; j <= i; j++) row[j] /= sum;
      }
    }
    const store = new AttentionStore([{ kind: 'self', layers, heads, queries: n, keys: n, causal: true, data: stackData }]);
    const storeAsk: MatrixAsk = async (q) => store.answer(q).answer as any;
    const labels = Array.from({ length: n }, (_, i) => `w${i}`);
    const { spec } = await exportClick('save-html');
    const big: ViewSpec = { ...spec, runId: 1, head: { stack: 'self', layer: 0, head: 1 }, layers, heads, queries: n, keys: n, labels, keyLabels: labels };
    const file = path.join(dir, 'long.html');
    await writeHtmlExport(storeAsk, big, meta, fs.readFileSync(path.join(repoRoot, 'dist', 'export-viewer.js'), 'utf8'), file, never);
    const served = store.answer({ kind: 'matrix', head: big.head, maxSide: HTML_MAX_SIDE }).answer as any;
    assert.deepEqual([served.rows, served.pooled], [HTML_MAX_SIDE, true]);
    const pooledValues = new Float32Array(served.data);
    const viewPage = await browser.context.newPage();
    await viewPage.goto(`file://${file}`);
    await viewPage.waitForFunction(() => +(globalThis as any).document.getElementById('matrix').dataset.cell > 0);
    await viewPage.selectOption('#head', '1');
    const g = await viewPage.locator('#matrix').evaluate((c: any) => ({ cell: +c.dataset.cell, x0: +c.dataset.x0, y0: +c.dataset.y0, rows: +c.dataset.rows }));
    assert.deepEqual([g.rows, g.x0], [HTML_MAX_SIDE, 0], 'pooled to the cap, no axis labels');
    for (const [r, c] of [[100, 40], [127, 0], [64, 64], [10, 90]]) {
      await viewPage.locator('#matrix').hover({ position: { x: (c + 0.5) * g.cell, y: (r + 0.5) * g.cell } });
      const tip = await viewPage.locator('#tip').evaluate((t: any) => ({ ...t.dataset, text: t.textContent }));
      const v = pooledValues[r * HTML_MAX_SIDE + c];
      if (Number.isNaN(v)) assert.equal(tip.weight, 'masked', `block (${r}, ${c}) has no visible weight`);
      else assert.ok(Math.abs(+tip.weight - v) <= 1e-5 && /largest weight/.test(tip.text), `block (${r}, ${c}): ${tip.weight} vs ${v}`);
    }
    // Token 250's row: each key shows the largest weight of the block (of rows and of keys) it falls in, as poolMax blocks them.
    const block = (i: number) => { let b = 0; while (Math.floor(((b + 1) * n) / HTML_MAX_SIDE) <= i) b++; return b; };
    await viewPage.locator('.token[data-index="250"]').scrollIntoViewIfNeeded();
    await viewPage.locator('.token[data-index="250"]').hover();
    const shown = await viewPage.$$eval('.token', (s: any[]) => s.map((x) => x.dataset.weight));
    for (let j = 0; j < n; j++) {
      const v = pooledValues[block(250) * HTML_MAX_SIDE + block(j)];
      if (Number.isNaN(v)) assert.equal(shown[j], 'masked', `key ${j}`);
      else assert.ok(Math.abs(+shown[j] - v) <= 1e-5, `key ${j}: ${shown[j]} vs ${v}`);
    }
    await viewPage.close();
  });
});
