import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadModelFolder } from '../../src/host/model-folder';
import { checkIdsInVocab, createTokenizer, TokenizeError, tokenizeWithLimit } from '../../src/host/tokenize';
import { testModelsDir } from '../support/test-models';

const native = require('tokenizers');
const load = (name: string) => JSON.parse(fs.readFileSync(path.join(testModelsDir, name, 'tokenizer.json'), 'utf8'));

describe('host tokenization with WordPiece and Unigram tokenizers', () => {
  const bert = createTokenizer(load('tiny-bert'));
  const t5 = createTokenizer(load('tiny-t5'));

  it('adds [CLS]/[SEP] with no range and maps every other token to the original (un-normalized) text', async () => {
    const text = 'Hello  Wörld, the CAFÉ!';
    const out = tokenizeWithLimit(bert, text, 64);
    const ref = await native.Tokenizer.fromFile(path.join(testModelsDir, 'tiny-bert', 'tokenizer.json')).encode(text);
    assert.deepEqual(out.tokens.map((t) => t.id), ref.getIds(), 'the ids the model expects, specials included');
    assert.deepEqual([out.tokens[0].text, out.tokens[0].start], ['[CLS]', -1]);
    assert.deepEqual([out.tokens.at(-1)!.text, out.tokens.at(-1)!.end], ['[SEP]', -1]);
    assert.deepEqual(out.tokens.slice(1, -1).map((t) => t.text), ['Hello', 'Wörld', ',', 'the', 'CAFÉ', '!']);
    for (const t of out.tokens.slice(1, -1)) assert.equal(text.slice(t.start, t.end), t.text);
  });

  it('Unigram: ▁ tokens cover the space before a word, </s> closes the sequence', () => {
    const out = tokenizeWithLimit(t5, 'The cat sat', 64);
    assert.deepEqual(out.tokens.map((t) => [t.text, t.start, t.end]), [['The', 0, 3], [' cat', 3, 7], [' sat', 7, 11], ['</s>', -1, -1]]);
  });

  it('cuts long text to the limit, specials included, at a token boundary', () => {
    const text = 'the cat sat on the mat because it was tired. '.repeat(100);
    for (const [tok, specials] of [[bert, 2], [t5, 1]] as const) {
      const out = tokenizeWithLimit(tok, text, 16);
      assert.equal(out.truncated, true);
      assert.equal(out.tokens.length, 16);
      const content = out.tokens.filter((t) => t.start >= 0);
      assert.equal(content.length, 16 - specials);
      assert.ok(content.at(-1)!.end <= out.text.length && text.startsWith(out.text));
      assert.deepEqual(content.map((t) => t.id), tok.encode(out.text).ids, 'the kept tokens are the kept text\'s tokens');
    }
    assert.throws(() => tokenizeWithLimit(bert, text, 2), TokenizeError, 'no room next to [CLS] and [SEP]');
  });

  it('cuts a text SentencePiece\'s nmt_nfkc map rewrites at a token boundary, with the native ids (spm-t5, and with WhitespaceSplit)', async () => {
    const text = 'The ﬁne ＡＢＣ\u0001 x\r\n ① e\u0301 ㍻ 👨\u200d👩\u200d👧 '.repeat(200);
    const spm = load('spm-t5');
    for (const json of [spm, { ...spm, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, spm.pre_tokenizer] } }]) {
      const out = tokenizeWithLimit(createTokenizer(json), text, 40);
      assert.equal(out.truncated, true);
      assert.equal(out.tokens.length, 40);
      assert.ok(text.startsWith(out.text) && out.tokens.every((t) => t.end <= out.text.length));
      const ref = await native.Tokenizer.fromString(JSON.stringify(json)).encode(out.text);
      assert.deepEqual(out.tokens.map((t) => t.id), ref.getIds(), 'the kept text\'s native ids, </s> included');
    }
  });

  it('maps one [UNK] word longer than a call takes arguments (200,000 characters) to its whole range', () => {
    const word = 'a'.repeat(200_000);
    const out = tokenizeWithLimit(bert, word, 64);
    assert.deepEqual(out.tokens.map((t) => [t.start, t.end]), [[-1, -1], [0, word.length], [-1, -1]]);
  });
});

describe('host model folders shaped like Hugging Face exports', () => {
  it('reads T5-style configs (num_layers, num_heads) and gives relative-position models without a context length 512', () => {
    const { parseModelConfig, configNotices } = require('../../src/host/model-folder') as typeof import('../../src/host/model-folder');
    assert.deepEqual(parseModelConfig({ num_layers: 6, num_heads: 8, relative_attention_num_buckets: 32 }), { layers: 6, heads: 8, context: 512 });
    assert.deepEqual(configNotices({ num_layers: 6, num_heads: 8, relative_attention_num_buckets: 32 }), []);
    assert.throws(() => parseModelConfig({ num_layers: 6 }), /n_head/);
  });

  it('runs a BLOOM-style config.json (no context length) with 2 048 tokens and says so; ids beyond vocab_size are refused up front', async () => {
    const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'al-bloom-config-'));
    try {
      const dir = path.join(tmp, 'bloom-like');
      fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      for (const f of ['tokenizer.json', 'onnx/model.onnx']) fs.copyFileSync(path.join(testModelsDir, 'tiny-gpt2', f), path.join(dir, f));
      // BLOOM's published config names n_layer, n_head and vocab_size but no n_positions (ALiBi has no position table).
      const config = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-gpt2', 'config.json'), 'utf8'));
      delete config.n_positions;
      delete config.n_ctx;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'bloom', vocab_size: 300 }));
      const m = await loadModelFolder(dir, { bundled: false });
      assert.equal(m.dims.context, 2048);
      assert.equal(m.vocabSize, 300);
      assert.match(m.notices!.join(' '), /declares no context length .* runs use at most 2048 tokens/);
      assert.match(m.notices!.join(' '), /token ids up to 2047, but config.json in .* gives the model 300 embeddings/);
      const out = await m.tokenizer.tokenize('the cat sat on the mat', 64);
      assert.ok(out.tokens.some((t) => t.id >= 300), 'the text has a token beyond the 300 embeddings');
      assert.throws(() => checkIdsInVocab(out.tokens, m.vocabSize), (e: unknown) => e instanceof TokenizeError && /has id \d+, beyond the model's 300/.test(e.message));
      assert.doesNotThrow(() => checkIdsInVocab(out.tokens, 2048));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('loads tiny-bert and tiny-distilbert (n_layers/n_heads, external data) with the inputs to feed', async () => {
    const bert = await loadModelFolder(path.join(testModelsDir, 'tiny-bert'), { bundled: false });
    assert.deepEqual(bert.dims, { layers: 2, heads: 4, context: 64 });
    assert.deepEqual(bert.extraInputs, ['attention_mask', 'token_type_ids']);
    const distil = await loadModelFolder(path.join(testModelsDir, 'tiny-distilbert'), { bundled: false });
    assert.deepEqual(distil.dims, { layers: 2, heads: 2, context: 64 });
    assert.deepEqual(distil.extraInputs, ['attention_mask']);
  });

  it('loads a folder holding only a merged decoder and caches its rewritten tap', async () => {
    const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'al-merged-load-'));
    try {
      const dir = path.join(tmp, 'm');
      fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      for (const f of ['config.json', 'tokenizer.json', 'onnx/decoder_model_merged.onnx']) fs.copyFileSync(path.join(testModelsDir, 'tiny-gpt2', f), path.join(dir, f));
      const m = await loadModelFolder(dir, { bundled: false, storageDir: path.join(tmp, 'storage') });
      assert.equal(path.basename(m.onnxPath), 'decoder_model_merged.onnx');
      assert.ok(m.extraInputs.includes('use_cache_branch'));
      assert.equal(m.expectedAttention, 'causal');
      assert.ok(m.tappedPath && fs.statSync(m.tappedPath).size > fs.statSync(m.onnxPath).size);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
