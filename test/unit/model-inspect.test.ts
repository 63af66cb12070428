import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelError } from '../../src/host/model-folder';
import { formatBytes } from '../../src/host/model-layout';
import { describeReport, inspectModelFolder } from '../../src/host/model-inspect';
import { buildModel } from '../support/onnx-builder';
import { testModelsDir } from '../support/test-models';

/** A temporary folder with tiny-gpt2's config.json and tokenizer.json and `onnx` copied to onnx/`name`. */
function gpt2FolderWith(prefix: string, onnx: string, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(testModelsDir, 'tiny-gpt2', f), path.join(dir, f));
  fs.mkdirSync(path.join(dir, 'onnx'));
  fs.copyFileSync(onnx, path.join(dir, 'onnx', name));
  return dir;
}

describe('Add Model… inspection of Hugging Face-shaped folders', () => {
  it('accepts a graph whose attention is fused, and says its attention will be recomputed', async () => {
    const dir = gpt2FolderWith('al-fused-', path.join(testModelsDir, 'tiny-fused', 'onnx', 'ms-gqa.onnx'), 'model.onnx');
    try {
      const report = await inspectModelFolder(dir);
      assert.equal(report.files[0].plan.fused?.length, 2);
      assert.match(describeReport(report), /model\.onnx \(model; 2 fused com\.microsoft GroupQueryAttention, attention recomputed from their inputs; feeds input_ids, attention_mask, past_key_values\.0\.key/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports architecture, layers, heads, attention shape and the inputs it will feed', async () => {
    const bert = await inspectModelFolder(path.join(testModelsDir, 'tiny-bert'));
    assert.equal(bert.architecture, 'BertModel');
    assert.equal(bert.attention, 'bidirectional');
    assert.deepEqual(bert.files[0].inputs.map((i) => `${i.name}=${i.rule}`), ['input_ids=token-ids', 'attention_mask=ones', 'token_type_ids=zeros']);
    assert.match(describeReport(bert), /BertModel: 2 layers, 4 heads, bidirectional attention.*WordPiece tokenizer.*feeds input_ids, attention_mask, token_type_ids/);

    const gpt2 = await inspectModelFolder(path.join(testModelsDir, 'tiny-gpt2'));
    assert.equal(gpt2.attention, 'causal');
    assert.equal(path.basename(gpt2.files[0].path), 'model.onnx', 'model.onnx is preferred over the variants');
    assert.ok(gpt2.files[0].inputs.some((i) => i.name === 'past_key_values.0.key' && i.rule === 'empty-past'));

    const distil = await inspectModelFolder(path.join(testModelsDir, 'tiny-distilbert'));
    assert.deepEqual(distil.files[0].externalData, ['model.onnx_data']);
    assert.ok(distil.files[0].externalBytes > 0);

    const merged = gpt2FolderWith('al-merged-', path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'decoder_model_merged.onnx'), 'decoder_model_merged.onnx');
    try {
      const r = await inspectModelFolder(merged);
      assert.equal(path.basename(r.files[0].path), 'decoder_model_merged.onnx', 'a merged decoder is used when nothing else is there');
      assert.ok(r.files[0].inputs.some((i) => i.name === 'use_cache_branch' && i.rule === 'false'));
      assert.equal(r.files[0].plan.softmaxOutputs.length, 2, 'attention inside the If branches is found');
    } finally {
      fs.rmSync(merged, { recursive: true, force: true });
    }

    const t5 = await inspectModelFolder(path.join(testModelsDir, 'tiny-t5'));
    assert.equal(t5.attention, 'encoder-decoder');
    assert.deepEqual(t5.files.map((f) => f.role), ['encoder', 'decoder']);
    assert.match(describeReport(t5), /decoder_model\.onnx \(decoder; 2 self \+ 2 cross-attention Softmax; feeds input_ids, encoder_attention_mask, encoder_hidden_states\)/);
  });

  describe('refusals name the cause and the fix', () => {
    let tmp: string;
    beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-inspect-')); });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const folder = (files: Record<string, string | Uint8Array>, from = 'tiny-bert') => {
      for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(testModelsDir, from, f), path.join(tmp, f));
      fs.mkdirSync(path.join(tmp, 'onnx'), { recursive: true });
      for (const [rel, data] of Object.entries(files)) {
        if (data === '') fs.rmSync(path.join(tmp, rel), { force: true });
        else fs.writeFileSync(path.join(tmp, rel), data);
      }
      return tmp;
    };
    const rejects = (re: RegExp, limits?: { modelFileBytes: number; totalBytes: number }) =>
      assert.rejects(inspectModelFolder(tmp, limits), (e: unknown) => e instanceof ModelError && re.test(e.message));
    const bertOnnx = () => fs.readFileSync(path.join(testModelsDir, 'tiny-bert', 'onnx', 'model.onnx'));
    const softmaxWith = (inputs: string[]) => buildModel([{ op: 'Softmax', inputs: ['input_ids'], outputs: ['p'] }], inputs, ['p']);

    it('no tokenizer.json', async () => {
      folder({ 'tokenizer.json': '', 'onnx/model.onnx': bertOnnx() });
      await rejects(/has no tokenizer\.json.*save_pretrained/);
    });
    it('an unsupported tokenizer type', async () => {
      folder({ 'tokenizer.json': JSON.stringify({ model: { type: 'WordLevel', vocab: {} }, pre_tokenizer: { type: 'Whitespace' } }), 'onnx/model.onnx': bertOnnx() });
      await rejects(/cannot map to text ranges \(WordLevel.*Supported: byte-level BPE/);
    });
    it('a Precompiled normalizer whose charsmap cannot be read, never half-accepted as NFKC', async () => {
      const tok = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-t5', 'tokenizer.json'), 'utf8'));
      folder({ 'tokenizer.json': JSON.stringify({ ...tok, normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAAAAA==' } }),
        'onnx/model.onnx': bertOnnx() });
      await rejects(/cannot map to text ranges \(Unigram with a Precompiled normalizer whose charsmap cannot be read \(its precompiled_charsmap has an empty trie\)/);
    });
    it('a tokenizer whose tokens cannot be mapped back to the text', async () => {
      // @huggingface/tokenizers splits "ﬁne" differently from the Rust library under a Whitespace pre-tokenizer.
      const tok = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-bert', 'tokenizer.json'), 'utf8'));
      folder({ 'tokenizer.json': JSON.stringify({ ...tok, pre_tokenizer: { type: 'Whitespace' } }), 'onnx/model.onnx': bertOnnx() });
      await rejects(/tokens cannot be mapped back to the text .*not supported/);
    });
    it('fused attention it cannot recompute', async () => {
      folder({ 'onnx/model.onnx': buildModel([{ op: 'SparseAttention', domain: 'com.microsoft', inputs: ['input_ids'], outputs: ['o'] }], ['input_ids'], ['o']) });
      await rejects(/fused into a com\.microsoft SparseAttention.*without attention fusion/);
    });
    it('a required input it cannot fill', async () => {
      folder({ 'onnx/model.onnx': softmaxWith(['input_ids', 'pixel_values']) });
      await rejects(/"pixel_values" that Attention Lens does not know how to fill/);
    });
    it('a past input whose head dims are symbolic', async () => {
      const m = buildModel([{ op: 'Softmax', inputs: ['input_ids'], outputs: ['p'] }], ['input_ids', 'past_key_values.0.key'], ['p']);
      folder({ 'onnx/model.onnx': m });
      // buildModel declares inputs without a shape: 0 dims is not [batch, heads, past, head_dim].
      await rejects(/past_key_values\.0\.key" has 0 dims/);
    });
    it('a file that is not ONNX', async () => {
      folder({ 'onnx/model.onnx': '<html>404 Not Found</html> this is what a failed download looks like' });
      await rejects(/model\.onnx: is not an ONNX model.*again/);
    });
    it('a model too large for the WebAssembly backend, and missing external data', async () => {
      folder({ 'onnx/model.onnx': bertOnnx() });
      const size = fs.statSync(path.join(tmp, 'onnx', 'model.onnx')).size;
      await rejects(new RegExp(`^onnx/model\\.onnx is ${formatBytes(size).replace('.', '\\.')}, too large for the WebAssembly backend \\(a model file ` +
        'must stay under 1000 bytes\\)\\. .*external data'), { modelFileBytes: 1000, totalBytes: 2 ** 32 });
      fs.rmSync(tmp, { recursive: true });
      fs.mkdirSync(tmp);
      folder({ 'onnx/model.onnx': fs.readFileSync(path.join(testModelsDir, 'tiny-distilbert', 'onnx', 'model.onnx')) }, 'tiny-distilbert');
      await rejects(/model\.onnx_data, which is missing/);
      fs.copyFileSync(path.join(testModelsDir, 'tiny-distilbert', 'onnx', 'model.onnx_data'), path.join(tmp, 'onnx', 'model.onnx_data'));
      await rejects(/and its external data come to [\d.]+ KB, more than the 48\.8 KB the WebAssembly backend can address/,
        { modelFileBytes: 2 ** 31, totalBytes: 50_000 });
    });
    it('no ONNX at all', async () => {
      folder({ 'onnx/vision_encoder.onnx': 'x' });
      await rejects(/has no ONNX model.*onnx\/ holds vision_encoder\.onnx.*optimum-cli export onnx/);
    });
  });
});
