/**
 * Compare With Another Selection in a real Chromium: the panel runs text A, then text B as a companion run on the
 * bundled model; B's attention (asked of the worker as the host asks) matches the PyTorch reference for B while A's
 * queries still answer A's, the two sides show the chosen head with their tokens, the metrics table's A, B and
 * B − A match scores computed here from the reference, the keyboard moves B's row, and a new run drops B.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { bundledModelDir, loadReference, maxAbsDiff, readBundledOnnx, repoRoot } from '../support/model';
import { deliver, launch, openWebview, shot, stacksOf, tokenize, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';
import { tokenSymbolText } from '../../src/shared/token-display';
import { formatWeight } from '../../src/shared/attention';
import { valueNorms } from '../../src/shared/value-weighted';
import { planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planScoreTaps } from '../../src/shared/score-tap';
import { tapAll } from '../../src/shared/full-tap';

/** WASM vs the PyTorch reference. */
const TOLERANCE = 1e-5;
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

/** Previous-token score written here: mean over i ≥ 1 of A[i, i−1]. */
const previousToken = (a: ArrayLike<number>, T: number): number => {
  let s = 0;
  for (let i = 1; i < T; i++) s += a[i * T + i - 1];
  return s / (T - 1);
};
/** Self score written here: mean over i of A[i, i]. */
const selfScore = (a: ArrayLike<number>, T: number): number => {
  let s = 0;
  for (let i = 0; i < T; i++) s += a[i * T + i];
  return s / T;
};

describe('compare with another selection in Chromium', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const refs = loadReference();
  const [refA, refB] = [refs[0], refs[1]];
  const [L, H] = refA.attentionShape;
  const layer = Math.min(1, L - 1);
  const head = Math.min(2, H - 1);
  const headOf = (ref: typeof refA): Float32Array => {
    const T = ref.attentionShape[2];
    const off = (layer * H + head) * T * T;
    return ref.attention.slice(off, off + T * T);
  };
  const model = () => ({
    name: 'lens-gpt (bundled)', onnxUri: `${server.origin}/models/lens-gpt/onnx/model.onnx`,
    maxTokens: config.n_ctx ?? config.n_positions ?? 128, extraInputs: [], tokenizerUri: `${server.origin}/models/lens-gpt/tokenizer.json`,
  });
  const show = (runId: number, text: string) => ({ type: 'show', runId, documentLabel: 'a.txt', text, tokens: tokenize(bundledModelDir, text),
    model: model(), backend: 'wasm', notices: [], timings: {} });

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'panel.js')), 'run node scripts/build.mjs first');
    assert.notEqual(refA.attentionShape[2], refB.attentionShape[2], 'A and B have different lengths');
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs B beside A and shows the chosen head of both', async () => {
    await deliver(page, show(1, refA.text));
    const a = await waitForPosted(page, 'result', 1);
    await deliver(page, { type: 'focusHead', head: { stack: 'self', layer, head } });
    const tokensB = tokenize(bundledModelDir, refB.text);
    assert.deepEqual(tokensB.map((t) => t.id), refB.ids);
    await deliver(page, { type: 'compareText', runId: -1, baseRunId: 1, documentLabel: 'b.txt', text: refB.text, tokens: tokensB });
    const compared = await waitForPosted(page, 'compared', -1);
    assert.equal(compared.error, undefined);
    const [b] = await stacksOf(page, -1, compared.shapes);
    const diffB = maxAbsDiff(b.data, refB.attention);
    console.log(`    B vs PyTorch, T=${refB.attentionShape[2]}: max |Δ| = ${diffB.toExponential(2)}`);
    assert.ok(diffB <= TOLERANCE, `B: max abs diff ${diffB}`);
    const [a2] = await stacksOf(page, 1, a.shapes);
    assert.ok(maxAbsDiff(a2.data, refA.attention) <= TOLERANCE, 'A still answers A’s queries after B ran');

    await page.waitForSelector('#compare-text:not([hidden]) .compare-metrics td');
    assert.equal(await page.textContent('.compare-title'), `L${layer} H${head}: A vs B`);
    assert.equal(await page.getAttribute('.compare-side[data-side="A"]', 'data-run-id'), '1');
    assert.equal(await page.getAttribute('.compare-side[data-side="B"]', 'data-run-id'), '-1');
    const chipsB = await page.$$eval('.compare-side[data-side="B"] .compare-token', (els) => els.map((e) => e.textContent));
    assert.deepEqual(chipsB, tokensB.map((t) => tokenSymbolText(t, refB.text)));
    assert.equal(await page.locator('.compare-side[data-side="A"] .compare-token').count(), refA.attentionShape[2]);

    // The metrics table: A, B and B − A against scores computed here from the reference matrices.
    await page.waitForFunction(() => !(globalThis as any).document.querySelector('tr[data-metric="previousToken"] td')?.textContent?.includes('—'));
    const [TA, TB] = [refA.attentionShape[2], refB.attentionShape[2]];
    for (const [key, score] of [['previousToken', previousToken], ['self', selfScore]] as const) {
      const cells = await page.$$eval(`tr[data-metric="${key}"] td`, (els) => els.map((e) => Number(e.textContent)));
      const [sa, sb] = [score(headOf(refA), TA), score(headOf(refB), TB)];
      assert.ok(Math.abs(cells[0] - sa) < 6e-4 && Math.abs(cells[1] - sb) < 6e-4, `${key}: shown ${cells.join(', ')}, expected ${sa}, ${sb}`);
      assert.ok(Math.abs(cells[2] - (sb - sa)) < 1.1e-3, `${key}: B − A shown ${cells[2]}, expected ${sb - sa}`);
    }

    // Keyboard: End moves B's row to the last token; its strongest key is read out with the reference's weight, in the
    // one weight format the panel uses everywhere (formatWeight).
    await page.focus('.compare-side[data-side="B"] canvas');
    await page.keyboard.press('End');
    const rowB = headOf(refB).slice((TB - 1) * TB, TB * TB);
    const best = Math.max(...rowB);
    await page.waitForFunction((w) => (globalThis as any).document.querySelector('.compare-side[data-side="B"] .compare-row')?.textContent?.includes(w),
      formatWeight(best));
    assert.equal(await page.getAttribute('.compare-side[data-side="B"] .compare-token.focused', 'data-index'), String(TB - 1));
    await page.locator('#compare-text').scrollIntoViewIfNeeded();
    await shot(page, 'compare-selection-dark.png');
    // Chromium asks for /favicon.ico on its own and logs the 404 without a URL; nothing else may fail.
    assert.deepEqual(server.notFound.filter((p) => p !== '/favicon.ico'), []);
    assert.deepEqual(errors.filter((e) => !(/status of 404/.test(e) && server.notFound.length > 0)), []);
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), []);
    assert.equal(server.requests.filter((p) => p.endsWith('model.onnx')).length, 1, 'B runs on the model the worker holds');
  });

  it('weights B by ‖v‖ when A is (α·‖v‖ on both sides), and back', async () => {
    const TB = refB.attentionShape[2];
    await page.locator('#value-weighted').click();
    await page.waitForFunction(() => /weighted by ‖v‖/.test((globalThis as any).document.querySelector('.compare-title')?.textContent ?? ''));
    // The oracle: V of the layer from onnxruntime-node on B → ‖v_j‖ → the row's shares α_ij·‖v_j‖ / Σ_k α_ik·‖v_k‖.
    const ort = require('onnxruntime-node');
    const bytes = readBundledOnnx();
    const summary = scanOnnx(bytes);
    const sources = planScoreTaps(summary, planTap(summary).softmaxOutputs);
    const session = await ort.InferenceSession.create(tapAll(bytes).tapped);
    const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(refB.ids.map(BigInt)), [1, TB]) });
    const v = out[sources[layer].v!];
    const norms = valueNorms(v.data, H, TB, Number(v.dims[3]));
    const rowB = Array.from(headOf(refB).slice((TB - 1) * TB, TB * TB));
    const z = rowB.reduce((acc, a, k) => acc + a * norms[head * TB + k], 0);
    const shares = rowB.map((a, k) => (a * norms[head * TB + k]) / z);
    const best = Math.max(...shares);
    assert.ok(Math.abs(best - Math.max(...rowB)) > 1e-3, 'the weighted row differs from α here');
    await page.waitForFunction((w) => (globalThis as any).document.querySelector('.compare-side[data-side="B"] .compare-row')?.textContent?.includes(w),
      formatWeight(best));
    await page.locator('#value-weighted').click();
    await page.waitForFunction((w) => (globalThis as any).document.querySelector('.compare-side[data-side="B"] .compare-row')?.textContent?.includes(w),
      formatWeight(Math.max(...rowB)));
    assert.equal(await page.textContent('.compare-title'), `L${layer} H${head}: A vs B`);
  });

  it('drops B when a new run replaces A', async () => {
    await deliver(page, show(2, refA.text));
    await waitForPosted(page, 'result', 2);
    assert.equal(await page.locator('#compare-text').isHidden(), true);
    await assert.rejects(stacksOf(page, -1, [{ kind: 'self', layers: L, heads: H, queries: 1, keys: 1 }]), /no longer held/);
  });

  it('keeps at most two companion runs beside the base run, dropping the oldest', async () => {
    const one = [{ kind: 'self', layers: 1, heads: 1, queries: 1, keys: 1 }];
    const shapeOf = (ref: typeof refA) => [{ kind: 'self', layers: L, heads: H, queries: ref.attentionShape[2], keys: ref.attentionShape[2] }];
    for (const [k, ref] of [[-2, refB], [-3, refs[2]], [-4, refs[3]]] as const) {
      await deliver(page, { type: 'compareText', runId: k, baseRunId: 2, documentLabel: 'b.txt', text: ref.text, tokens: tokenize(bundledModelDir, ref.text) });
      assert.equal((await waitForPosted(page, 'compared', k)).error, undefined);
    }
    await assert.rejects(stacksOf(page, -2, one), /no longer held/);
    const [b4] = await stacksOf(page, -4, shapeOf(refs[3]));
    assert.ok(maxAbsDiff(b4.data, refs[3].attention) <= TOLERANCE);
    assert.ok(maxAbsDiff((await stacksOf(page, -3, shapeOf(refs[2])))[0].data, refs[2].attention) <= TOLERANCE);
    assert.ok(maxAbsDiff((await stacksOf(page, 2, shapeOf(refA)))[0].data, refA.attention) <= TOLERANCE, 'the base run stays held');
  });
});
