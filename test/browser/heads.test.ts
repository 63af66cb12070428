/**
 * Understanding heads in a real Chromium: the Metrics view (every head's metrics and automatic labels,
 * sortable by mouse and keyboard, pin per row), label badges and metric values on the model grid, rollout
 * in the token view, the explanation of one weight, with screenshots in dark and light themes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planScoreTaps } from '../../src/shared/score-tap';
import { tapAll } from '../../src/shared/full-tap';
import { valueNorms } from '../../src/shared/value-weighted';
import { layerMean, rollout as rolloutOf, selectTargets, selfAttention } from '../../src/shared/attention';
import { LABEL_MEANINGS, stackMetrics, type HeadLabel } from '../../src/shared/head-labels';
import { bundledModelDir, loadReference, readBundledOnnx, repoRoot } from '../support/model';
import { bundledShow, decodeToken, deliver, launch, openWebview, postedOfType, setTheme, shot, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

/** Asserts |x − y| ≤ eps. */
function close(x: number, y: number, eps: number, what: string): void {
  assert.ok(Math.abs(x - y) <= eps, `${what}: ${x} vs ${y}`);
}

/** The metrics table's rows as [head name, value of column key]. */
async function column(page: Page, key: string): Promise<[string, number][]> {
  return page.$$eval(`#metrics-table tbody tr`, (trs, key) => trs.map((tr: any) => {
    const td = tr.querySelector(`td[data-key="${key}"]`);
    return [tr.dataset.head, td?.dataset.value === undefined ? NaN : Number(td.dataset.value)] as [string, number];
  }), key);
}

describe('understanding heads in Chromium: metrics, labels, explanations', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const ref = loadReference().reduce((a, b) => (b.ids.length > a.ids.length ? b : a));

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
    await deliver(page, bundledShow(server.origin, 1, 'reference.txt', ref.text));
    await waitForPosted(page, 'result', 1);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('lists every head with metrics and labels, sorts by clicking and by keyboard, and pins a row', async () => {
    await page.locator('#tab-metrics').click();
    // The induction probe arrives after the result.
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#metrics-table td[data-key="induction"][data-value]'));
    const rows = await page.$$eval('#metrics-table tbody tr', (trs) => trs.map((tr: any) => tr.dataset.head));
    assert.equal(rows.length, config.n_layer * config.n_head);
    await page.locator('#metrics-table button[data-key="induction"]').click();
    await page.waitForSelector('#metrics-table th[aria-sort="descending"] button[data-key="induction"]');
    const ind = await column(page, 'induction');
    for (let k = 1; k < ind.length; k++) assert.ok(ind[k - 1][1] >= ind[k][1], `sorted high to low at ${k}: ${JSON.stringify(ind)}`);
    console.log(`    induction, highest first: ${ind.slice(0, 3).map(([h, v]) => `${h} ${v.toFixed(3)}`).join(', ')}`);
    assert.equal(ind[0][0], 'L1 H2');
    const labels = async (head: string) => page.$$eval(`#metrics-table tr[data-head="${head}"] .head-label`, (s) => s.map((e) => e.textContent));
    assert.ok((await labels('L1 H2')).includes('induction'));
    // Keyboard: focus the Prev-token header button, Enter sorts; Enter again flips the order.
    await page.locator('#metrics-table button[data-key="previousToken"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#metrics-table th[aria-sort="descending"] button[data-key="previousToken"]');
    assert.equal((await column(page, 'previousToken'))[0][0], 'L0 H2');
    assert.ok((await labels('L0 H2')).includes('previous-token'));
    await page.keyboard.press('Enter');
    await page.waitForSelector('#metrics-table th[aria-sort="ascending"] button[data-key="previousToken"]');
    assert.equal((await column(page, 'previousToken')).at(-1)![0], 'L0 H2');
    assert.equal(await page.$$eval('#metrics-table th[aria-sort="none"]', (e) => e.length), 7);
    await page.locator('#metrics-table button[data-key="induction"]').click();
    await page.waitForSelector('#metrics-table th[aria-sort="descending"] button[data-key="induction"]');
    await page.locator('#metrics-table tr[data-head="L1 H0"] .pin').click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'pinHead' && m.head.layer === 1 && m.head.head === 0));
    assert.deepEqual((await postedOfType(page, 'pinHead')).pop().head, { stack: 'self', layer: 1, head: 0 });
    assert.match(await page.locator('#metrics-legend').textContent() ?? '', /previous-token mean A\[i, i−1\] ≥ 0\.5/);
    // Each label says what it means in plain words: under the table, and as the tooltip of every badge in it.
    const legendText = await page.locator('#metrics-legend').textContent() ?? '';
    for (const [label, meaning] of Object.entries(LABEL_MEANINGS)) assert.ok(legendText.includes(meaning), `the legend explains ${label}`);
    const badgeTitles = await page.$$eval('#metrics-table .head-label', (s) => s.map((e: any) => [e.textContent, e.title]));
    assert.ok(badgeTitles.length > 0);
    for (const [label, title] of badgeTitles) assert.equal(title, LABEL_MEANINGS[label as HeadLabel], `tooltip of ${label}`);
    await shot(page, 'heads-metrics-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'heads-metrics-light.png');
    await setTheme(page, 'vscode-dark');
    // The head-name button selects the head.
    await page.locator('#metrics-table tr[data-head="L0 H2"] button.link').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('head-select').value === '2'
      && (globalThis as any).document.getElementById('layer-select').value === '0');
  });

  it('draws label badges and the chosen metric of every head on the model grid, and announces the cursor head\'s metrics', async () => {
    const r = await waitForPosted(page, 'result', 1);
    const { layers: L, heads: H } = r.attention;
    const ids = tokenize(bundledModelDir, ref.text).map((t) => t.id);
    // The same metrics computed in Node from the attention the page received.
    const want = stackMetrics(selfAttention(L, H, ids.length, Float32Array.from(r.attention.data), r.attention.causal), ids);
    const shownValues = async () => new Map((await page.$eval('#grid', (c: any) => c.dataset.values as string)).split('; ')
      .map((e) => e.split(': ')).map(([head, v]) => [head, Number(v)]));
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => /L1 H2: [^;]*induction/.test((globalThis as any).document.getElementById('grid').dataset.labels ?? ''));
    const labels = await page.$eval('#grid', (c: any) => c.dataset.labels);
    assert.match(labels, /L0 H2: previous-token/);
    // Default: the previous-token score on every head, drawn on all L × H thumbnails.
    assert.equal(await page.$eval('#grid', (c: any) => c.dataset.metric), 'previousToken');
    assert.equal(await page.$eval('#grid', (c: any) => Number(c.dataset.valuesShown)), L * H, 'a value chip on every head');
    let shown = await shownValues();
    assert.equal(shown.size, L * H);
    for (const m of want) close(shown.get(`L${m.layer} H${m.head}`)!, m.previousToken, 1e-6, `prev-token L${m.layer} H${m.head}`);
    assert.match(await page.locator('#grid-legend').textContent() ?? '', /Number on each head: Prev-token/);
    await shot(page, 'heads-grid-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'heads-grid-light.png');
    await setTheme(page, 'vscode-dark');
    // Pick the first-token (sink) score: every value follows, and the choice is saved.
    await page.locator('#grid-metric').click();
    await page.locator('#grid-metric vscode-option[value="sink"]').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('grid').dataset.metric === 'sink');
    shown = await shownValues();
    for (const m of want) close(shown.get(`L${m.layer} H${m.head}`)!, m.sink, 1e-6, `sink L${m.layer} H${m.head}`);
    assert.equal((await page.evaluate(() => (globalThis as any).__getState())).gridMetric, 'sink');
    assert.match(await page.locator('#grid-legend').textContent() ?? '', /First token, mean weight on the first token/);
    // Keyboard: the cursor starts on the selected head (L0 H2); its metrics are in the live status line.
    await page.locator('#grid').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => /Cursor: L1 H3 —/.test((globalThis as any).document.getElementById('grid-status').textContent));
    const status = await page.locator('#grid-status').textContent() ?? '';
    console.log(`    ${status}`);
    assert.equal(await page.locator('#grid-status').getAttribute('aria-live'), 'polite');
    const at = want.find((m) => m.layer === 1 && m.head === 3)!;
    for (const [label, v] of [['Prev-token', at.previousToken], ['First token', at.sink], ['Self', at.self], ['Entropy', at.entropy]] as const) {
      assert.ok(status.includes(`${label} ${v.toFixed(3)}`), `${label} ${v.toFixed(3)} in "${status}"`);
    }
    assert.ok(status.includes(`Distance ${at.distance.toFixed(1)}`), status);
    const sel = want.find((m) => m.layer === 0 && m.head === 2)!;
    assert.ok(status.includes(`Selected: L0 H2, First token ${sel.sink.toFixed(3)}.`), status);
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => /Cursor: L0 H2 — .*labels: previous-token/.test((globalThis as any).document.getElementById('grid-status').textContent));
    // The thumbnail's tooltip (it follows the keyboard cursor, and the mouse) names the head, the metric's value and the
    // labels with their meaning.
    const tip = await page.locator('#grid').getAttribute('title') ?? '';
    const sink = want.find((x) => x.layer === 0 && x.head === 2)!.sink.toFixed(3);
    assert.ok(tip.startsWith(`L0 H2, First token ${sink}. previous-token: looks at the token just before each token.`), tip);
    await shot(page, 'heads-grid-sink-cursor-dark.png');
    await page.locator('#grid-metric').click();
    await page.locator('#grid-metric vscode-option[value="previousToken"]').click();
    await page.waitForFunction(() => (globalThis as any).document.getElementById('grid').dataset.metric === 'previousToken');
  });

  it('shows max over heads and attention rollout in the heatmap and the token view', async () => {
    const select = async (id: string, value: string) => {
      await page.locator(`#${id}`).click();
      await page.locator(`#${id} vscode-option[value="${value}"]`).click();
      await page.waitForFunction(({ id, value }) => (globalThis as any).document.getElementById(id).value === value, { id, value });
    };
    await select('layer-select', '2');
    await select('head-select', 'rollout');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => /Rollout L0–L2/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'focus' && m.head.head === 'rollout' && m.head.layer === 2));
    await shot(page, 'heads-rollout-heatmap-dark.png');
    await page.locator('#tab-tokens').click();
    const last = ref.ids.length - 1;
    await page.locator(`#tokens .token[data-token-index="${last}"]`).hover();
    await page.waitForSelector(`#tokens .token.query[data-token-index="${last}"]`);
    await page.waitForSelector(`#tokens[data-shown="${last}"]`); // its row has come from the worker and is drawn
    // The shown weights of the hovered token are row `last` of the rollout L0–L2 that aggregate.ts computes in Node
    // from the attention the page received: the same targets, each weight to the 4 decimals shown.
    const r = await waitForPosted(page, 'result', 1);
    const { layers: L, heads: H, queries: T } = r.attention;
    const att = selfAttention(L, H, T, Float32Array.from(r.attention.data), r.attention.causal);
    const rollout = rolloutOf(att, 2).subarray(last * T, (last + 1) * T);
    const shown = await page.$$eval('#tokens .token.target', (els) => els.map((e: any) => [Number(e.dataset.tokenIndex), Number(e.dataset.weight)]));
    assert.deepEqual(shown.map(([j]) => j), selectTargets(rollout), 'the targets of the rollout row');
    for (const [j, w] of shown) close(w, rollout[j], 5e-5 + 1e-7, `rollout weight of #${j}`);
    // It is the rollout, not layer 2's mean: some shown weight differs from the mean over L2's heads.
    const mean = layerMean(att, 2).subarray(last * T, (last + 1) * T);
    assert.ok(shown.some(([j, w]) => Math.abs(w - mean[j]) > 1e-3), 'rollout differs from the layer mean');
    assert.match(await page.locator('#focus-summary').textContent() ?? '', /rollout from L0/);
    await setTheme(page, 'vscode-light');
    await shot(page, 'heads-rollout-tokens-light.png');
    await setTheme(page, 'vscode-dark');
    await select('head-select', 'max');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => /L2 max/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
  });

  it('explains a clicked heatmap weight: q·k, ÷√d_k, mask, softmax, equal to the shown weight', async () => {
    const r = await waitForPosted(page, 'result', 1);
    const { heads: H, queries: T } = r.attention;
    const select = async (id: string, value: string) => {
      await page.locator(`#${id}`).click();
      await page.locator(`#${id} vscode-option[value="${value}"]`).click();
      await page.waitForFunction(({ id, value }) => (globalThis as any).document.getElementById(id).value === value, { id, value });
    };
    await select('layer-select', '1');
    await select('head-select', '2');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => /L1 H2/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    // The induction head on the repeated phrase: from the second copy of a token onto the token after its first copy.
    const row = (i: number) => r.attention.data.slice(((1 * H + 2) * T + i) * T, ((1 * H + 2) * T + i + 1) * T) as number[];
    const i = T - 3;
    const j = row(i).indexOf(Math.max(...row(i)));
    await page.locator('#heatmap').click({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
    await page.waitForSelector('#explain[data-source="qk"]');
    const d = await page.$eval('#explain', (e: any) => ({ ...e.dataset, text: e.textContent }));
    const shown = row(i)[j];
    console.log(`    explained L1 H2 (${i}, ${j}): q·k = ${d.dot}, ÷√32 = ${d.scaled}, α = ${d.weight}, heatmap ${shown.toFixed(6)}`);
    assert.equal(Number(d.query), i);
    assert.equal(Number(d.key), j);
    assert.ok(Math.abs(Number(d.weight) - shown) <= 1e-5, `${d.weight} vs ${shown}`);
    assert.equal(d.match, 'true');
    assert.ok(Math.abs(Number(d.scaled) - Number(d.dot) / Math.sqrt(32)) <= 1e-5);
    assert.match(d.text, /Dot product/);
    assert.match(d.text, /÷ √d_k = ÷ √32/);
    assert.match(d.text, new RegExp(`keys after the query \\(#${i + 1}–#${T - 1}`));
    assert.match(d.text, /Softmax over row/);
    assert.match(d.text, /✓/);
    assert.equal(await page.$$eval('#explain .chip:not(.masked)', (e) => e.length), i + 1, 'one chip per visible key');
    assert.equal(await page.$eval('#explain .chip.chosen', (e: any) => Number(e.dataset.key)), j);
    assert.equal((await page.evaluate(() => (globalThis as any).__getState())).locked, i, 'the row is locked');
    await shot(page, 'heads-explain-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'heads-explain-light.png');
    await setTheme(page, 'vscode-dark');
    // Keyboard: Enter on the heatmap cursor explains that cell; a masked cell says why it is 0.
    await page.locator('#heatmap').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await page.waitForFunction(({ j }) => Number((globalThis as any).document.getElementById('explain').dataset.key) === j + 1
      || /causal mask/.test((globalThis as any).document.getElementById('explain').textContent), { j });
    await page.locator('#heatmap').click({ position: { x: g.x0 + (T - 0.5) * g.cell, y: g.y0 + 0.5 * g.cell } });
    await page.waitForFunction(() => /causal mask sets its score to −∞/.test((globalThis as any).document.getElementById('explain').textContent));
  });

  it('shows the top-5 next tokens and their probabilities for the hovered position', async () => {
    await page.locator('#tab-tokens').click();
    const i = ref.ids.length - 4;
    await page.keyboard.press('Escape'); // the explained row was locked
    await page.locator(`#tokens .token[data-token-index="${i}"]`).hover();
    await page.waitForFunction((i) => (globalThis as any).document.getElementById('predictions').dataset.position === String(i)
      && !(globalThis as any).document.getElementById('predictions').hidden, i);
    const top = (await page.$eval('#predictions', (e: any) => e.dataset.top as string)).split(' ').map((s) => s.split(':').map(Number));
    // The PyTorch reference logits of the same text give the same five tokens and probabilities.
    const V = ref.logitsShape[ref.logitsShape.length - 1];
    const row = Array.from(ref.logits.slice(i * V, (i + 1) * V));
    const max = Math.max(...row);
    const z = row.reduce((a, l) => a + Math.exp(l - max), 0);
    const want = row.map((l, id) => [id, Math.exp(l - max) / z]).sort((a, b) => b[1] - a[1]).slice(0, 5);
    assert.deepEqual(top.map((t) => t[0]), want.map((t) => t[0]));
    for (let k = 0; k < 5; k++) assert.ok(Math.abs(top[k][1] - want[k][1]) < 1e-4);
    const items = await page.$$eval('#predictions li', (els) => els.map((e) => e.textContent));
    assert.equal(items.length, 5);
    console.log(`    next after #${i}: ${items.join(' | ')}`);
    // The candidates are the tokenizer's strings for those ids (a lone byte the tokenizer cannot decode shows its symbols).
    const names = await page.$$eval('#predictions li .pred-token', (els) => els.map((e) => e.textContent ?? ''));
    const strings = top.map(([id]) => decodeToken(bundledModelDir, id));
    names.forEach((n, k) => {
      if (strings[k].includes('\uFFFD')) assert.doesNotMatch(n, /^#\d+$/, `candidate ${k} (id ${top[k][0]})`);
      else assert.equal(n, strings[k], `candidate ${k} (id ${top[k][0]}) is the tokenizer's string`);
    });
    await page.locator(`#tokens .token[data-token-index="${i}"]`).click();
    await page.mouse.move(2, 2);
    await page.waitForSelector(`#tokens .token.locked[data-token-index="${i}"]`);
    await shot(page, 'heads-predictions-dark.png');
    await setTheme(page, 'vscode-light');
    await shot(page, 'heads-predictions-light.png');
    await setTheme(page, 'vscode-dark');
    await page.keyboard.press('Escape');
  });

  it('switches to attention scaled by ‖v‖ (α·‖v‖) and back', async () => {
    const r = await waitForPosted(page, 'result', 1);
    const { heads: H, queries: T } = r.attention;
    await page.locator('#tab-heatmap').click();
    await page.locator('#heatmap').hover({ position: { x: 5, y: 5 } });
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell }));
    const layer = Number(await page.$eval('#layer-select', (e: any) => e.value));
    const head = Number(await page.$eval('#head-select', (e: any) => e.value));
    const [i, j] = [T - 1, 2];
    const tipAt = async () => {
      await page.locator('#heatmap').hover({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
      await page.waitForSelector('#heatmap-tip:not([hidden])');
      return Number(await page.$eval('#heatmap-tip', (e: any) => e.dataset.weight));
    };
    const alpha = r.attention.data[((layer * H + head) * T + i) * T + j];
    assert.ok(Math.abs(await tipAt() - alpha) < 1e-4);
    await page.locator('#value-weighted').click();
    await page.waitForFunction(() => /scaled by ‖v‖/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
    await page.mouse.move(2, 2);
    const weighted = await tipAt();
    console.log(`    L${layer} H${head} (${i}, ${j}): α = ${alpha.toFixed(4)}, α·‖v‖ share = ${weighted.toFixed(4)}`);
    assert.ok(Math.abs(weighted - alpha) > 1e-4, 'the value-weighted view differs from α');
    // The same share from onnxruntime-node: V of that layer → ‖v_j‖ → α_ij·‖v_j‖ / Σ_k α_ik·‖v_k‖.
    const ort = require('onnxruntime-node');
    const model = readBundledOnnx();
    const summary = scanOnnx(model);
    const plan = planTap(summary);
    const sources = planScoreTaps(summary, plan.softmaxOutputs);
    const session = await ort.InferenceSession.create(tapAll(model).tapped);
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ref.ids.map(BigInt)), [1, T]) });
    const v = out[sources[layer].v!];
    const norms = valueNorms(v.data, H, T, Number(v.dims[3]));
    const rowA = r.attention.data.slice(((layer * H + head) * T + i) * T, ((layer * H + head) * T + i + 1) * T) as number[];
    const z = rowA.reduce((acc, a, k) => acc + a * norms[head * T + k], 0);
    const expected = (rowA[j] * norms[head * T + j]) / z;
    assert.ok(Math.abs(weighted - expected) < 1e-4, `${weighted} vs ${expected}`);
    await shot(page, 'heads-value-weighted-dark.png');
    await page.locator('#value-weighted').click();
    await page.waitForFunction(() => !/scaled by ‖v‖/.test((globalThis as any).document.getElementById('heatmap-legend').textContent));
    await page.mouse.move(2, 2);
    assert.ok(Math.abs(await tipAt() - alpha) < 1e-4);
  });

  it('has no console errors', () => {
    // Chromium asks for /favicon.ico on its own and logs the 404 without a URL.
    assert.deepEqual(server.notFound.filter((p) => p !== '/favicon.ico'), []);
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  });
});
