/**
 * Encoder–decoder models in the panel, in Chromium on WASM: tiny-t5 (encoder_model.onnx + decoder_model.onnx)
 * runs encoder then decoder in the worker; the encoder, decoder and cross stacks match PyTorch, rows sum
 * to 1, decoder self-attention is causal; `#stack-select` switches the views to cross-attention (a
 * T_dec × T_enc heatmap, decoder tokens lighting up input tokens), and focus/pinHead name the stack.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { formatWeight, selectTargets } from '../../src/shared/attention';
import type { TokenInfo } from '../../src/shared/protocol';
import { maxAbsDiff, repoRoot } from '../support/model';
import { loadTestReference, type TestReference } from '../support/test-models';
import { deliver, launch, nextFrames, openWebview, postedOfType, screenshotDir, selectDropdown, setTheme, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

const MODEL = path.join(repoRoot, 'test', 'models', 'tiny-t5');
const TOLERANCE = 1e-5;

/** A stack as the panel posted it, with its data as numbers. */
interface PostedStack {
  kind: string; layers: number; heads: number; queries: number; keys: number; causal: boolean;
  data: number[];
}

/** Metaspace pieces of `ids` mapped back to ranges of `text` (pieces with no match, like </s>, get none). */
function tokensOf(text: string, ids: readonly number[]): TokenInfo[] {
  const vocab: [string, number][] = JSON.parse(fs.readFileSync(path.join(MODEL, 'tokenizer.json'), 'utf8')).model.vocab;
  let at = 0;
  return ids.map((id) => {
    const piece = vocab[id][0];
    const body = piece.replace(/^▁/, '');
    const k = body && !/^<.*>$/.test(piece) ? text.indexOf(body, at) : -1;
    if (k < 0) return { id, text: piece, start: -1, end: -1 };
    const start = piece.startsWith('▁') && k > 0 && text[k - 1] === ' ' ? k - 1 : k;
    at = k + body.length;
    return { id, text: text.slice(start, at), start, end: at };
  });
}

/** The decoder tokens of a reference: the start token, then the pieces of its decoder ids (the ones it repeats keep their range). */
function decoderTokensOf(ref: TestReference, tokens: readonly TokenInfo[]): TokenInfo[] {
  const ids = ref.decoderIds!;
  return ids.map((id, i) => (i === 0 ? { id, text: '<start>', start: -1, end: -1 }
    : tokens[i - 1]?.id === id ? tokens[i - 1] : { ...tokensOf(ref.text, [id])[0], start: -1, end: -1 }));
}

async function postedStacks(page: Page, runId: number): Promise<PostedStack[]> {
  return (await waitForPosted(page, 'result', runId)).stacks as PostedStack[];
}

describe('panel webview on an encoder–decoder model (tiny-t5, WASM)', function () {
  this.timeout(180000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const refs = loadTestReference('tiny-t5');
  let runId = 300;

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function show(ref: TestReference, recompute?: 'always'): Promise<{ runId: number; tokens: TokenInfo[]; decoder: TokenInfo[] }> {
    const tokens = tokensOf(ref.text, ref.ids);
    const decoder = decoderTokensOf(ref, tokens);
    const base = `${server.origin}/test/models/tiny-t5/onnx`;
    runId++;
    await deliver(page, {
      type: 'show', runId, documentLabel: 'tiny-t5', text: ref.text, tokens, decoderTokens: decoder,
      model: { name: 'tiny-t5', onnxUri: `${base}/encoder_model.onnx`, decoderOnnxUri: `${base}/decoder_model.onnx`, maxTokens: 512,
        extraInputs: [], expectedAttention: 'encoder-decoder', tokenizerUri: `${server.origin}/test/models/tiny-t5/tokenizer.json`,
        relativeMaxDistance: 128 }, // as the host reads config.json's relative_attention_max_distance
      backend: 'wasm', notices: [], timings: {}, ...(recompute ? { recompute } : {}),
    });
    await Promise.race([
      waitForPosted(page, 'result', runId),
      waitForPosted(page, 'runError', runId).then((e) => { throw new Error(`run error: ${e.message}`); }),
    ]);
    return { runId, tokens, decoder };
  }

  it('encoder, decoder and cross stacks match PyTorch; rows sum to 1; decoder self-attention is causal', async () => {
    for (const ref of refs) {
      const { runId: id, decoder } = await show(ref);
      const stacks = await postedStacks(page, id);
      assert.deepEqual(stacks.map((s) => s.kind), ['encoder', 'decoder', 'cross']);
      const r = await waitForPosted(page, 'result', id);
      assert.ok(maxAbsDiff(r.attention.data, stacks[0].data) === 0, '`attention` repeats the encoder stack');
      for (const s of stacks) {
        const expected = ref.tensors[`${s.kind}_attention`];
        assert.deepEqual([s.layers, s.heads, s.queries, s.keys], expected.shape);
        // Rows are input tokens for the encoder, decoder tokens otherwise; keys are decoder tokens only for the decoder.
        assert.deepEqual([s.queries, s.keys], s.kind === 'encoder' ? [ref.ids.length, ref.ids.length] : s.kind === 'decoder'
          ? [decoder.length, decoder.length] : [decoder.length, ref.ids.length]);
        const diff = maxAbsDiff(s.data, expected.data);
        let rowErr = 0;
        for (let k = 0; k < s.data.length; k += s.keys) rowErr = Math.max(rowErr, Math.abs(s.data.slice(k, k + s.keys).reduce((a, b) => a + b, 0) - 1));
        console.log(`    T_enc=${ref.ids.length} T_dec=${decoder.length} ${s.kind}: ${s.queries}×${s.keys}, max |Δ| = ${diff.toExponential(2)}, ` +
          `max |row sum − 1| = ${rowErr.toExponential(2)}`);
        assert.ok(diff <= TOLERANCE, `${s.kind}: max abs diff ${diff} > ${TOLERANCE}`);
        assert.ok(rowErr <= 1e-5, `${s.kind}: rows sum to 1 (${rowErr})`);
        let above = 0;
        for (let m = 0; m < s.layers * s.heads; m++) {
          for (let i = 0; i < s.queries; i++) for (let j = i + 1; j < s.keys; j++) above = Math.max(above, s.data[(m * s.queries + i) * s.keys + j]);
        }
        if (s.kind === 'decoder') assert.ok(s.causal && above === 0, 'decoder self-attention is causal (exact zeros above the diagonal)');
        else assert.ok(!s.causal && above > 0, `${s.kind} attention is not masked`);
      }
    }
    assert.equal(await page.locator('#notices').textContent(), '', 'no "encoder only" notice');
  });

  it('recomputed from Q and K (recomputeAttention always): every layer paged, self layers with their relative position bias; all match PyTorch', async () => {
    for (const ref of refs) {
      const { runId: id } = await show(ref, 'always');
      const r = await waitForPosted(page, 'result', id);
      assert.deepEqual(r.paths?.map((p: { path: string; label?: string }) => `${p.label}: ${p.path}`), ['encoder layer 0: qk', 'encoder layer 1: qk',
        'decoder layer 0: qk', 'decoder layer 1: qk', 'cross layer 0: qk', 'cross layer 1: qk']);
      for (const s of await postedStacks(page, id)) {
        const diff = maxAbsDiff(s.data, ref.tensors[`${s.kind}_attention`].data);
        console.log(`    paged ${s.kind} ${s.queries}×${s.keys}: max |Δ| = ${diff.toExponential(2)}`);
        assert.ok(diff <= TOLERANCE, `${s.kind}: ${diff}`);
      }
    }
  });

  it('#stack-select switches to cross-attention: a T_dec × T_enc heatmap, decoder tokens light up input tokens', async () => {
    const ref = refs[0];
    const { runId: id, tokens, decoder } = await show(ref);
    const cross = (await postedStacks(page, id)).find((s) => s.kind === 'cross')!;
    await setTheme(page, 'vscode-dark');
    assert.ok(await page.locator('#stack-picker').isVisible(), 'the stack picker is shown for encoder–decoder runs');
    const labels = await page.$$eval('#stack-select vscode-option', (os: any[]) => os.map((o) => o.textContent));
    assert.deepEqual(labels, ['Encoder self-attention', 'Decoder self-attention', 'Cross-attention (decoder → encoder)']);

    // Decoder self: causal, so future decoder tokens are masked in the Tokens view.
    await selectDropdown(page, 'stack-select', 'decoder');
    await page.locator('#tokens .token[data-token-index="0"]').hover();
    assert.equal(await page.locator('#tokens .token').count(), decoder.length);
    assert.equal(await page.locator('#tokens .token.masked').count(), decoder.length - 1);

    await selectDropdown(page, 'stack-select', 'cross');
    assert.equal(await page.evaluate(() => (globalThis as any).__getState().stack), 'cross');
    // Tokens view: decoder tokens are the queries, the input tokens the keys.
    assert.ok(await page.locator('#cross-tokens').isVisible() && !(await page.locator('#tokens').isVisible()));
    assert.equal(await page.locator('#cross-tokens .cross-queries .token').count(), decoder.length);
    assert.equal(await page.locator('#cross-tokens .cross-keys .token').count(), tokens.length);
    const q = decoder.length - 1;
    await page.locator(`#cross-tokens .cross-queries .token[data-token-index="${q}"]`).hover();
    const row = cross.data.slice(q * cross.keys, (q + 1) * cross.keys); // layer 0, head 0
    const expected = selectTargets(row);
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('#cross-tokens .cross-keys .token.target').length === n,
      expected.length);
    const painted = await page.$$eval('#cross-tokens .cross-keys .token.target', (es: any[]) => es.map((e) => [Number(e.dataset.keyIndex), e.dataset.weight]));
    assert.deepEqual(painted, expected.map((j) => [j, formatWeight(row[j])]));
    assert.equal(await page.locator('#cross-tokens .token.masked').count(), 0, 'cross-attention has no causal mask');
    // Switching the stack posts a focus with no token first; wait for the hover's own focus, not just any.
    await page.waitForFunction((tq) => (globalThis as any).__posted.some((m: any) => m.type === 'focus' && m.head.stack === 'cross'
      && m.tokenIndex === tq), q);
    const focus = (await postedOfType(page, 'focus')).filter((m) => m.head.stack === 'cross').pop();
    assert.deepEqual([focus.runId, focus.tokenIndex], [id, q]);
    const tokensShot = path.join(screenshotDir(repoRoot), 'encdec-cross-tokens-dark.png');
    await nextFrames(page);
    await page.screenshot({ path: tokensShot, fullPage: true });
    console.log(`    screenshot: ${tokensShot}`);

    // Heatmap: T_dec rows × T_enc columns, no hatching, tooltip naming a decoder query and an input key.
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('heatmap').dataset.cell) > 0);
    const g = await page.$eval('#heatmap', (c: any) => ({ x0: +c.dataset.x0, y0: +c.dataset.y0, cell: +c.dataset.cell,
      tokens: +c.dataset.tokens, keys: +c.dataset.keys, h: c.clientHeight, w: c.clientWidth }));
    assert.deepEqual([g.tokens, g.keys], [decoder.length, tokens.length]);
    assert.ok(g.w >= g.x0 + g.keys * g.cell && g.h >= g.y0 + g.tokens * g.cell && g.h < g.y0 + (g.tokens + 1) * g.cell + 4,
      `canvas fits ${g.tokens}×${g.keys} cells: ${JSON.stringify(g)}`);
    const [i, j] = [1, tokens.length - 1];
    await page.locator('#heatmap').hover({ position: { x: g.x0 + (j + 0.5) * g.cell, y: g.y0 + (i + 0.5) * g.cell } });
    await page.waitForSelector('#heatmap-tip:not([hidden])');
    const tip = await page.$eval('#heatmap-tip', (e: any) => ({ ...e.dataset, text: e.textContent }));
    assert.deepEqual([tip.row, tip.col, tip.weight], [String(i), String(j), formatWeight(cross.data[i * cross.keys + j])]);
    assert.doesNotMatch(tip.text, /masked/);
    assert.equal(await page.locator('#heatmap-legend .legend-masked').count(), 0);
    const shot = path.join(screenshotDir(repoRoot), 'encdec-cross-heatmap-dark.png');
    await nextFrames(page);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`    screenshot: ${shot}`);

    // Lines: decoder tokens on the left, input tokens on the right; a decoder token's lines are its cross row.
    await page.locator('#tab-lines').click();
    await page.waitForSelector('#lines[data-row-h]');
    const d = await page.$eval('#lines', (c: any) => ({ ...c.dataset, width: parseFloat(c.style.width), height: parseFloat(c.style.height) }));
    assert.ok(d.height >= 2 * +d.top + Math.max(decoder.length, tokens.length) * +d.rowH, 'room for the longer column');
    await page.locator('#lines').hover({ position: { x: +d.left / 2, y: +d.top + (q + 0.5) * +d.rowH } });
    await page.waitForFunction((want) => {
      const c = (globalThis as any).document.getElementById('lines');
      return c.dataset.focus === want && c.dataset.pending === '';
    }, `query ${q}`);
    const drawnLines = (await page.$eval('#lines', (c: any) => c.dataset.drawn as string)).split(' ').map((x) => x.split(':'));
    assert.deepEqual(drawnLines.map(([k]) => Number(k)), Array.from(row.keys()).filter((k) => row[k] > 0), 'a line to every input token it attends to');
    assert.deepEqual(drawnLines.map(([, w]) => w), Array.from(row).filter((w) => w > 0).map(formatWeight));

    // Pinning names the stack; the grid draws the cross stack too.
    await page.locator('#pin-head').click();
    await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'pinHead'));
    assert.equal((await postedOfType(page, 'pinHead')).pop().head.stack, 'cross');
    await page.locator('#tab-grid').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('grid').dataset.rows) === 2);
    // Back to the encoder: square again.
    await selectDropdown(page, 'stack-select', 'encoder');
    await page.locator('#tab-heatmap').click();
    await page.waitForFunction((n) => (globalThis as any).document.getElementById('heatmap').dataset.keys === String(n)
      && (globalThis as any).document.getElementById('heatmap').dataset.tokens === String(n), tokens.length);
  });

  it('taps a raw merged decoder (attention inside If branches) in the worker, without the host cache', async () => {
    for (const ref of loadTestReference('tiny-gpt2')) {
      runId++;
      await deliver(page, {
        type: 'show', runId, documentLabel: 'tiny-gpt2', text: ref.text, tokens: ref.ids.map((id) => ({ id, text: `#${id}`, start: -1, end: -1 })),
        model: { name: 'tiny-gpt2 merged', onnxUri: `${server.origin}/test/models/tiny-gpt2/onnx/decoder_model_merged.onnx`, maxTokens: 64,
          extraInputs: [], tokenizerUri: `${server.origin}/test/models/tiny-gpt2/tokenizer.json` },
        backend: 'wasm', notices: [], timings: {},
      });
      const r = await Promise.race([
        waitForPosted(page, 'result', runId),
        waitForPosted(page, 'runError', runId).then((e) => { throw new Error(`run error: ${e.message}`); }),
      ]);
      const diff = maxAbsDiff(r.attention.data, ref.tensors.attention.data);
      console.log(`    decoder_model_merged.onnx, T=${ref.ids.length}: max |Δ| = ${diff.toExponential(2)}`);
      assert.ok(r.attention.causal && diff <= TOLERANCE, `max abs diff ${diff}`);
      assert.deepEqual(r.shapes.map((s: { kind: string }) => s.kind), ['self'], 'one self-attention stack, no encoder–decoder stacks');
    }
    assert.equal(await page.locator('#stack-picker').isVisible(), false, 'no stack picker for a single-stack model');
  });

  it('reported no run errors and no console errors', async () => {
    assert.deepEqual(await postedOfType(page, 'runError'), []);
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  });
});
