// Encode export.py's REFERENCE_TEXTS with the trained tokenizer (the native HF library) into
// work/reference_ids.json, so the reference file uses exactly the ids the shipped tokenizer produces.
// Usage: node encode_texts.mjs <tokenizer.json> <out.json> <texts.json>
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [tokFile, outFile, textsFile] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokFile);
const texts = JSON.parse(fs.readFileSync(textsFile, 'utf8'));
const out = [];
for (const text of texts) out.push({ text, ids: (await tok.encode(text)).getIds() });
fs.writeFileSync(outFile, JSON.stringify(out));
