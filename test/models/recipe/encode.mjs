// Encodes each test model's reference texts with its tokenizer.json through the native Hugging Face
// library (special tokens added, as the model sees them), so build.py's PyTorch reference uses exactly
// the ids a real tokenizer produces. Usage: node encode.mjs <test/models dir> <out.json>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [dir, outFile] = process.argv.slice(2);

/** Reference texts per model (kept in sync with nothing else: build.py reads the ids from here). */
export const TEXTS = {
  'tiny-bert': ['The cats sat on the mat, because it was tired.', 'Hello  Wörld: attention lens shows every token!'],
  'tiny-distilbert': ['The cats sat on the mat, because it was tired.', 'Naïve café résumé, 42 tokens?'],
  'tiny-gpt2': ['The cat sat on the mat because it was tired.', 'def add(a, b):\n    return a + b'],
  'tiny-t5': ['The cat sat on the mat because it was tired.', 'Hello  World, the café is naïve!'],
};
/** Decoder texts of the encoder–decoder model (the decoder input is <pad> followed by these ids). */
export const DECODER_TEXTS = ['The cat', 'Hello world, this'];

const out = {};
for (const [name, texts] of Object.entries(TEXTS)) {
  const tok = Tokenizer.fromFile(path.join(dir, name, 'tokenizer.json'));
  out[name] = [];
  for (const [i, text] of texts.entries()) {
    const entry = { text, ids: (await tok.encode(text)).getIds() };
    if (name === 'tiny-t5') {
      const dec = DECODER_TEXTS[i];
      const decIds = (await tok.encode(dec, null, { addSpecialTokens: false })).getIds();
      Object.assign(entry, { decoder_text: dec, decoder_ids: [0, ...decIds] });
    }
    out[name].push(entry);
  }
}
fs.writeFileSync(outFile, JSON.stringify(out, null, 1));
console.log(`encoded reference texts into ${outFile}`);
