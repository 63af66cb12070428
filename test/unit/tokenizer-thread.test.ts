import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TokenizeError } from '../../src/host/tokenize';
import { loadTokenizer, stopTokenizerThread, TokenizerLoadError } from '../../src/host/tokenizer-thread';
import { repoRoot } from '../support/model';
import { testModelsDir } from '../support/test-models';

const native = require('tokenizers');
const gemma = path.join(repoRoot, 'node_modules', '@lenml', 'tokenizer-gemma3', 'models', 'tokenizer.json');

describe('the tokenizer thread (tokenizers load and run off the extension host\'s thread)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-tokenizer-thread-')); });
  after(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    await stopTokenizerThread();
  });

  it('loads Gemma 3 (32 MB) with progress while the host\'s event loop keeps turning, and gives the native ids', async () => {
    const progress: string[] = [];
    let turns = 0;
    let loading = true;
    const spin = () => { if (loading) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    const tok = await loadTokenizer(gemma, {}, (m) => progress.push(m));
    loading = false;
    // Built on this thread, the load would hold the event loop for all of it: a turn or two at most.
    assert.ok(turns >= 20, `the event loop turned ${turns} times during the load`);
    assert.ok(progress.some((m) => /reading tokenizer\.json \(\d+ % of 32 MB\)/.test(m)), progress.join(' | '));
    assert.ok(progress.includes('building the tokenizer'));
    assert.deepEqual(tok.facts, { kind: 'sentencepiece', modelType: 'BPE', maxId: 262_144 });
    const text = 'The cafe\u0301 is  open: 漢字 😀\r\n';
    const out = await tok.tokenize(text, 64);
    const ref = await native.Tokenizer.fromFile(gemma).encode(text);
    assert.deepEqual(out.tokens.map((t) => t.id), ref.getIds());
  });

  it('reuses a tokenizer built from a file with the same hash (another folder), and builds a changed one again', async () => {
    const src = path.join(testModelsDir, 'tiny-t5', 'tokenizer.json');
    const a = path.join(tmp, 'a.json');
    const b = path.join(tmp, 'b.json');
    fs.copyFileSync(src, a);
    fs.copyFileSync(src, b);
    const first = await loadTokenizer(a);
    const second = await loadTokenizer(b);
    assert.equal(second.sha256, first.sha256);
    assert.equal(second.reused, true);
    const json = JSON.parse(fs.readFileSync(src, 'utf8'));
    fs.writeFileSync(b, JSON.stringify({ ...json, added_tokens: [...json.added_tokens] }, null, 1));
    const changed = await loadTokenizer(b);
    assert.notEqual(changed.sha256, first.sha256);
    assert.equal(changed.reused, false);
    assert.deepEqual((await changed.tokenize('The cat sat', 16)).tokens, (await first.tokenize('The cat sat', 16)).tokens);
  });

  it('rejects a file that is not JSON, an unsupported tokenizer and a text that does not fit, each with its own error', async () => {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"model": secret');
    await assert.rejects(loadTokenizer(bad), (e: unknown) => e instanceof TokenizerLoadError && e.kind === 'json' && !/secret/.test(e.message));
    const wordLevel = path.join(tmp, 'wordlevel.json');
    fs.writeFileSync(wordLevel, JSON.stringify({ model: { type: 'WordLevel', vocab: {} }, pre_tokenizer: { type: 'Whitespace' } }));
    await assert.rejects(loadTokenizer(wordLevel), (e: unknown) => e instanceof TokenizerLoadError && e.kind === 'unsupported' && /WordLevel/.test(e.message));
    const bert = await loadTokenizer(path.join(testModelsDir, 'tiny-bert', 'tokenizer.json'));
    await assert.rejects(bert.tokenize('the cat sat', 2), TokenizeError);
  });
});
