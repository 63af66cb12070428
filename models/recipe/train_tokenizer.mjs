// Train a byte-level BPE on the corpus and cut it down to a small vocabulary.
// The native trainer takes no options (it learns ~30k entries), so we keep the 256 byte symbols,
// the first merges in the order they were learned, and one special token, then write the
// GPT-2-style ByteLevel pre-tokenizer/decoder into tokenizer.json.
// Usage: node train_tokenizer.mjs <train.txt> <out/tokenizer.json> [vocabSize=2048]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer, BPE, byteLevelPreTokenizer, byteLevelAlphabet } = require('tokenizers');

const [trainFile, outFile, vocabArg] = process.argv.slice(2);
const vocabSize = Number(vocabArg ?? 2048);
const SPECIAL = '<|endoftext|>';

const tok = new Tokenizer(BPE.empty());
tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
tok.train([trainFile]);
const tmp = outFile + '.full.json';
tok.save(tmp, false);
const full = JSON.parse(fs.readFileSync(tmp, 'utf8'));
fs.unlinkSync(tmp);

const vocab = { [SPECIAL]: 0 };
for (const ch of byteLevelAlphabet().sort()) vocab[ch] = Object.keys(vocab).length;
const merges = [];
for (const m of full.model.merges) {
  if (Object.keys(vocab).length >= vocabSize) break;
  const [a, b] = Array.isArray(m) ? m : m.split(' ');
  if (!(a in vocab) || !(b in vocab) || (a + b) in vocab) continue;
  vocab[a + b] = Object.keys(vocab).length;
  merges.push([a, b]);
}

const out = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 0, content: SPECIAL, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
  },
};
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, JSON.stringify(out));
console.error(`tokenizer: ${Object.keys(vocab).length} entries, ${merges.length} merges -> ${outFile}`);
