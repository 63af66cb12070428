/**
 * Exporting cross-attention of an encoder–decoder run (tiny-t5) as SVG and HTML: decoder tokens are the rows and
 * the input tokens the columns, in the file as in the panel; each SVG cell is the colour of the weight the worker
 * serves, and the HTML page's hover reads the served weight of a decoder × input cell.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { TokenInfo } from '../../src/shared/protocol';
import type { ViewSpec } from '../../src/shared/view-spec';
import { writeHtmlExport } from '../../src/host/html-export';
import { writeSvgExport } from '../../src/host/svg-export';
import type { MatrixAsk } from '../../src/host/view-export';
import { repoRoot } from '../support/model';
import { loadTestReference } from '../support/test-models';
import { deliver, launch, openWebview, postedOfType, selectDropdown, setTheme, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { askPage, checkCells, parseSvg, themeOf } from './view-export-helpers';

const never = { progress: () => undefined, cancelled: () => false };

describe('exporting cross-attention as SVG and HTML (tiny-t5 in Chromium)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-view-export-cross-'));
  const ref = loadTestReference('tiny-t5')[0];
  const runId = 41;
  const ask: MatrixAsk = (q) => askPage(page, runId, q);
  const meta = { model: 'tiny-t5', document: 'tiny-t5' };

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, []);
    // Token texts do not matter here (labels are compared with what the panel shows): ids and lengths do.
    const tokens: TokenInfo[] = ref.ids.map((id, i) => ({ id, text: `e${i}`, start: -1, end: -1 }));
    const decoder: TokenInfo[] = ref.decoderIds!.map((id, i) => ({ id, text: `d${i}`, start: -1, end: -1 }));
    const base = `${server.origin}/test/models/tiny-t5/onnx`;
    await deliver(page, {
      type: 'show', runId, documentLabel: 'tiny-t5', text: ref.text, tokens, decoderTokens: decoder,
      model: { name: 'tiny-t5', onnxUri: `${base}/encoder_model.onnx`, decoderOnnxUri: `${base}/decoder_model.onnx`, maxTokens: 512,
        extraInputs: [], expectedAttention: 'encoder-decoder', tokenizerUri: `${server.origin}/test/models/tiny-t5/tokenizer.json` },
      backend: 'wasm', notices: [], timings: {},
    });
    await waitForPosted(page, 'result', runId);
    await setTheme(page, 'vscode-dark');
    await selectDropdown(page, 'stack-select', 'cross');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => +(globalThis as any).document.getElementById('heatmap').dataset.cell > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Clicks a toolbar button and returns the view it posted. */
  async function exported(id: string): Promise<ViewSpec> {
    const before = (await postedOfType(page, 'exportView')).length;
    await page.locator(`#${id}`).click();
    await page.waitForFunction((n) => (globalThis as any).__posted.filter((m: any) => m.type === 'exportView').length > n, before);
    return (await postedOfType(page, 'exportView')).at(-1).spec;
  }

  it('writes the cross-attention heatmap as SVG: decoder rows × input columns, each cell the colour of its served weight', async () => {
    const spec = await exported('save-svg');
    const [tDec, tEnc] = [ref.decoderIds!.length, ref.ids.length];
    assert.deepEqual([spec.head.stack, spec.queries, spec.keys, spec.causal], ['cross', tDec, tEnc, false]);
    const file = path.join(dir, 'cross.svg');
    await writeSvgExport(ask, spec, meta, file, never);
    const svg = await parseSvg(page, fs.readFileSync(file, 'utf8'));
    assert.equal(svg.error, null);
    assert.deepEqual([svg.groups[0].rows, svg.groups[0].cols], [tDec, tEnc]);
    checkCells(svg.groups[0], await askPage(page, runId, { kind: 'matrix', head: spec.head }), themeOf('vscode-dark'), 'cross-attention');
    assert.deepEqual(svg.labels, spec.labels, 'the rows are the decoder tokens the panel shows');
    assert.deepEqual(svg.keyLabels, spec.keyLabels, 'the columns are the input tokens the panel shows');
    const g = svg.groups[0];
    assert.ok(Math.abs(g.width - tEnc * spec.cell) < 0.01 && Math.abs(g.height - tDec * spec.cell) < 0.01,
      `drawn ${g.width} × ${g.height} px, the panel's ${tEnc * spec.cell} × ${tDec * spec.cell}`);
  });

  it('writes cross-attention as an HTML page whose hover reads the served weight of a decoder × input cell', async () => {
    const spec = await exported('save-html');
    const file = path.join(dir, 'cross.html');
    await writeHtmlExport(ask, spec, meta, fs.readFileSync(path.join(repoRoot, 'dist', 'export-viewer.js'), 'utf8'), file, never);
    const view = await browser.context.newPage();
    const requests: string[] = [];
    view.on('request', (r) => requests.push(r.url()));
    await view.goto(`file://${file}`);
    await view.waitForFunction(() => +(globalThis as any).document.getElementById('matrix').dataset.cell > 0);
    const g = await view.locator('#matrix').evaluate((c: any) => ({ ...c.dataset }));
    assert.deepEqual([+g.rows, +g.cols], [spec.queries, spec.keys]);
    const served = new Float32Array((await askPage(page, runId, { kind: 'matrix', head: spec.head })).data);
    const [i, j] = [spec.queries - 1, spec.keys - 2];
    await view.locator('#matrix').hover({ position: { x: +g.x0 + (j + 0.5) * +g.cell, y: +g.y0 + (i + 0.5) * +g.cell } });
    const tip = await view.locator('#tip').evaluate((t: any) => ({ ...t.dataset }));
    assert.deepEqual([+tip.row, +tip.col], [i, j]);
    assert.ok(Math.abs(+tip.weight - served[i * spec.keys + j]) <= 1e-5, `${tip.weight} vs ${served[i * spec.keys + j]}`);
    assert.deepEqual(requests, [`file://${file}`]);
    await view.close();
  });
});
