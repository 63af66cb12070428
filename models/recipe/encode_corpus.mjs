// Encode work/corpus/{train,val}.txt into uint16 token-id files work/{train,val}.bin for training.
// Documents (separated by blank-line pairs in build_corpus.py) are joined with <|endoftext|> (id 0).
// Usage: node encode_corpus.mjs <tokenizer.json> <corpusDir> <outDir>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [tokFile, corpusDir, outDir] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokFile);

for (const split of ['train', 'val']) {
  const text = fs.readFileSync(path.join(corpusDir, `${split}.txt`), 'utf8');
  const chunks = text.split('\n\n\n');
  const ids = [];
  for (let i = 0; i < chunks.length; i += 512) {
    const batch = chunks.slice(i, i + 512).filter((c) => c.length > 0);
    const encs = await tok.encodeBatch(batch);
    for (const e of encs) { for (const id of e.getIds()) ids.push(id); ids.push(0); }
  }
  fs.writeFileSync(path.join(outDir, `${split}.bin`), Buffer.from(Uint16Array.from(ids).buffer));
  console.error(`${split}: ${ids.length} tokens (${(text.length / ids.length).toFixed(2)} chars/token)`);
}
