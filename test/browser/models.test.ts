/**
 * The panel on Hugging Face-shaped test models (test/models), in Chromium on WASM: a bidirectional BERT
 * (extra inputs, no causal mask), DistilBERT with external weights, GPT-2 exports (fp32, fp16, int8, with
 * empty past inputs), and the encoder of T5. Each result is checked against PyTorch.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { TokenInfo } from '../../src/shared/protocol';
import { maxAbsDiff, repoRoot } from '../support/model';
import { loadTestReference } from '../support/test-models';
import { deliver, launch, openWebview, postedOfType, waitForPosted, type Browser } from './browser';
import { startServer, type TestServer } from './serve';

interface Case {
  readonly name: string;
  readonly folder: string;
  readonly file: string;
  readonly refKey: string;
  readonly tolerance: number;
  readonly causal: boolean;
  readonly external?: string[];
  readonly decoder?: string;
}

// int8 at the default 'all' optimizations: onnxruntime also quantizes activations (measured ~2e-3 in Node).
const CASES: Case[] = [
  { name: 'tiny-bert (bidirectional, token_type_ids)', folder: 'tiny-bert', file: 'model.onnx', refKey: 'attention', tolerance: 1e-5, causal: false },
  { name: 'tiny-distilbert (external data)', folder: 'tiny-distilbert', file: 'model.onnx', refKey: 'attention', tolerance: 1e-5, causal: false,
    external: ['model.onnx_data'] },
  { name: 'tiny-gpt2 fp32 (empty past)', folder: 'tiny-gpt2', file: 'model.onnx', refKey: 'attention', tolerance: 1e-5, causal: true },
  { name: 'tiny-gpt2 fp16', folder: 'tiny-gpt2', file: 'model_fp16.onnx', refKey: 'attention', tolerance: 1e-3, causal: true },
  { name: 'tiny-gpt2 int8', folder: 'tiny-gpt2', file: 'model_quantized.onnx', refKey: 'attention', tolerance: 1e-2, causal: true },
  { name: 'tiny-t5 encoder', folder: 'tiny-t5', file: 'encoder_model.onnx', refKey: 'encoder_attention', tolerance: 1e-5, causal: false,
    decoder: 'decoder_model.onnx' },
];

describe('panel webview on Hugging Face-shaped test models (WASM)', function () {
  this.timeout(120000);
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  let runId = 100;

  before(async () => {
    server = await startServer(repoRoot);
    browser = await launch({ webgpu: false });
    page = await openWebview(browser, `${server.origin}/panel.html`, errors);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const c of CASES) {
    it(`${c.name}: attention matches PyTorch to ${c.tolerance}`, async () => {
      const base = `${server.origin}/test/models/${c.folder}/onnx`;
      for (const ref of loadTestReference(c.folder)) {
        const expected = ref.tensors[c.refKey];
        const tokens: TokenInfo[] = ref.ids.map((id) => ({ id, text: `#${id}`, start: -1, end: -1 }));
        // The context length as the host reads it from config.json (it bounds the worker's induction probe).
        const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'models', c.folder, 'config.json'), 'utf8'));
        const maxTokens: number = cfg.n_positions ?? cfg.max_position_embeddings ?? 512;
        runId++;
        await deliver(page, {
          type: 'show', runId, documentLabel: c.folder, text: ref.text, tokens,
          model: {
            name: c.folder, onnxUri: `${base}/${c.file}`, maxTokens, extraInputs: [],
            externalData: c.external?.map((f) => ({ path: f, uri: `${base}/${f}` })),
            decoderOnnxUri: c.decoder ? `${base}/${c.decoder}` : undefined,
            tokenizerUri: `${server.origin}/test/models/${c.folder}/tokenizer.json`,
          },
          backend: 'wasm', notices: [], timings: {},
        });
        const r = await Promise.race([
          waitForPosted(page, 'result', runId),
          waitForPosted(page, 'runError', runId).then((e) => { throw new Error(`run error: ${e.message}`); }),
        ]);
        assert.deepEqual([r.attention.layers, r.attention.heads, r.attention.queries], expected.shape.slice(0, 3));
        assert.equal(r.attention.causal, c.causal);
        const diff = maxAbsDiff(r.attention.data, expected.data);
        console.log(`    ${c.folder}/${c.file}, T=${ref.ids.length}: max |Δ| = ${diff.toExponential(2)}`);
        assert.ok(diff <= c.tolerance, `max abs diff ${diff} > ${c.tolerance}`);
      }
      if (!c.causal) {
        assert.equal(await page.locator('#tokens .token.masked').count(), 0, 'nothing is masked in a bidirectional model');
      }
      if (c.decoder) assert.match(await page.locator('#notices').textContent() ?? '', /encoder’s self-attention/);
    });
  }

  it('reported no run errors and no console errors', async () => {
    assert.deepEqual(await postedOfType(page, 'runError'), []);
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  });
});
