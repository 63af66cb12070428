import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkTokenizerSupported, loadModelFolder, ModelError, parseModelConfig,
} from '../../src/host/model-folder';
import { createTokenizer, TokenizeError, tokenizeWithLimit } from '../../src/host/tokenize';
import { bundledModelDir } from '../support/model';

const tokenizerJson = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8'));
const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));

/** Token ranges tile the text in order. */
function assertTiles(text: string, tokens: readonly { start: number; end: number }[]): void {
  let pos = 0;
  for (const t of tokens) {
    assert.equal(t.start, pos, 'no gap');
    pos = t.end;
  }
  assert.equal(pos, text.length, 'covers the text');
}

describe('host tokenization with a token limit', () => {
  const tok = createTokenizer(tokenizerJson, {});

  it('tokenizes short text whole, ranges tiling it, token text decoded', () => {
    const text = 'The cat sat on the mat.\r\n\tNext line 😀.';
    const out = tokenizeWithLimit(tok, text, 1000);
    assert.equal(out.truncated, false);
    assert.equal(out.text, text);
    assert.equal(out.totalChars, text.length);
    assertTiles(text, out.tokens);
    for (const t of out.tokens) if (t.end > t.start && !t.text.includes('\uFFFD')) assert.equal(text.slice(t.start, t.end), t.text);
  });

  it('one character is one token', () => {
    const out = tokenizeWithLimit(tok, 'a', 128);
    assert.equal(out.tokens.length, 1);
    assert.deepEqual([out.tokens[0].start, out.tokens[0].end, out.tokens[0].text], [0, 1, 'a']);
  });

  it('cuts 50,000 characters to the first maxTokens tokens without tokenizing them all', () => {
    const sentence = 'Attention lets every token look back at the ones before it. ';
    const big = sentence.repeat(Math.ceil(50_000 / sentence.length)).slice(0, 50_000);
    const max = config.n_positions as number;
    let encodedChars = 0;
    const counting = { ...tok, encode: (s: string) => { encodedChars += s.length; return tok.encode(s); } };
    const out = tokenizeWithLimit(counting, big, max);
    assert.equal(out.truncated, true);
    assert.equal(out.tokens.length, max);
    assert.equal(out.totalChars, 50_000);
    assert.ok(big.startsWith(out.text) && out.text.length < big.length);
    assertTiles(out.text, out.tokens);
    assert.ok(encodedChars < 50_000, `only a prefix was tokenized (${encodedChars} chars)`);
    // The kept tokens are exactly the first tokens of the whole text.
    const whole = tok.encode(big.slice(0, out.text.length + 2000));
    assert.deepEqual(out.tokens.map((t) => t.id), whole.ids.slice(0, max));
  });

  it('never keeps half of a character split across tokens', () => {
    const text = '😀'.repeat(200);
    assert.throws(() => tokenizeWithLimit(tok, text, 1), TokenizeError, 'one token cannot hold a whole emoji');
    for (const max of [4, 5, 17, 64]) {
      const out = tokenizeWithLimit(tok, text, max);
      assert.ok(out.tokens.length <= max && out.tokens.length >= 1, `${out.tokens.length} tokens for max ${max}`);
      assert.equal(out.text.length % 2, 0, 'whole surrogate pairs');
      const bytes = new TextEncoder().encode(out.text).length;
      const ids = tok.encode(out.text).ids;
      assert.deepEqual(out.tokens.map((t) => t.id), ids, `kept tokens spell exactly the kept text (${bytes} bytes)`);
      assertTiles(out.text, out.tokens);
    }
  });

  it('grows the prefix when tokens are long', () => {
    const text = ' '.repeat(20_000) + 'end';
    const out = tokenizeWithLimit(tok, text, 4);
    assert.ok(out.tokens.length <= 4 && out.tokens.length >= 1);
    assertTiles(out.text, out.tokens);
  });
});

describe('host model folder checks', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-model-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const copyBundled = (dir: string) => {
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', path.join('onnx', 'model.onnx')]) {
      fs.copyFileSync(path.join(bundledModelDir, f), path.join(dir, f));
    }
  };

  it('loads the bundled model with its dims from config.json', async () => {
    const m = await loadModelFolder(bundledModelDir, { bundled: true });
    assert.equal(m.dims.layers, config.n_layer);
    assert.equal(m.dims.heads, config.n_head);
    assert.equal(m.dims.context, config.n_positions);
    assert.match(m.name, /\(bundled\)$/);
    assert.ok(!m.extraInputs.includes('input_ids'));
    assert.equal(await loadModelFolder(bundledModelDir, { bundled: true }), m, 'cached while files are unchanged');
    const named = await loadModelFolder(bundledModelDir, { bundled: true, name: 'other' });
    assert.equal(named.name, 'other', 'not the entry loaded with other options');
  });

  it('names the missing file and what to do', async () => {
    await assert.rejects(loadModelFolder(path.join(tmp, 'nope'), { bundled: false }), /does not exist.*Select Model/);
    for (const missing of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
      const dir = path.join(tmp, missing.replace('/', '_'));
      copyBundled(dir);
      fs.rmSync(path.join(dir, missing));
      await assert.rejects(loadModelFolder(dir, { bundled: false }),
        (e: unknown) => e instanceof ModelError && e.message.includes(missing.replace('/', path.sep)) && /is missing/.test(e.message));
    }
  });

  it('reports unparsable JSON and a corrupt ONNX file', async () => {
    copyBundled(tmp);
    fs.writeFileSync(path.join(tmp, 'config.json'), '{"n_layer": 3,');
    await assert.rejects(loadModelFolder(tmp, { bundled: false }), /config\.json .*not valid JSON/);
    copyBundled(tmp);
    fs.writeFileSync(path.join(tmp, 'onnx', 'model.onnx'), 'this is not protobuf at all, really not');
    await assert.rejects(loadModelFolder(tmp, { bundled: false }), /model\.onnx .*corrupt/);
  });

  it('accepts byte-level BPE, WordPiece and Metaspace tokenizers, and names the ones it refuses', () => {
    assert.doesNotThrow(() => checkTokenizerSupported(tokenizerJson));
    const unigram = { model: { type: 'Unigram' }, pre_tokenizer: { type: 'Metaspace' } };
    assert.doesNotThrow(() => checkTokenizerSupported(unigram));
    const wordpiece = { model: { type: 'WordPiece' }, pre_tokenizer: { type: 'BertPreTokenizer' } };
    assert.doesNotThrow(() => checkTokenizerSupported(wordpiece));
    const wordlevel = { model: { type: 'WordLevel' }, pre_tokenizer: { type: 'Whitespace' } };
    assert.throws(() => checkTokenizerSupported(wordlevel), /WordLevel with a Whitespace pre-tokenizer\) is not supported/);
    const seq = { model: { type: 'BPE' }, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split' }, { type: 'ByteLevel' }] } };
    assert.doesNotThrow(() => checkTokenizerSupported(seq));
  });

  it('reads GPT-2 keys and Hugging Face aliases from config.json', () => {
    assert.deepEqual(parseModelConfig({ n_layer: 2, n_head: 4, n_positions: 64 }), { layers: 2, heads: 4, context: 64 });
    assert.deepEqual(parseModelConfig({ num_hidden_layers: 6, num_attention_heads: 8, max_position_embeddings: 512 }),
      { layers: 6, heads: 8, context: 512 });
    assert.deepEqual(parseModelConfig({ n_layer: 2, n_head: 4 }), { layers: 2, heads: 4, context: 2048 }, 'no context length (BLOOM): the default');
    assert.throws(() => parseModelConfig({ n_layer: 2, n_positions: 64 }), /n_head/);
    assert.throws(() => parseModelConfig([1]), /JSON object/);
  });
});
