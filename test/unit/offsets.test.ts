import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import {
  byteLevelRanges, byteSpansToUtf16, codePointToUtf16, tokenAtOffset, utf8ToUtf16Table, byteLevelTokenBytes,
} from '../../src/shared/offsets';
import { bundledModelDir } from '../support/model';

// The native Hugging Face library (Rust bindings) is the oracle: it reports offsets in code points.
const native = require('tokenizers');

const TRICKY = [
  'The cat sat on the mat.',
  'line one\r\nline two\r\n\r\nline four',
  '\tindented\twith\ttabs\n\t\tdouble',
  'family 👨‍👩‍👧 emoji and flags 🇩🇪🇯🇵 and 😀😀',
  'combining: e\u0301 a\u0300\u0323 n\u0303 (decomposed) vs é à ñ',
  'RTL: שלום עולם and مرحبا بالعالم mixed with English',
  'code: const x = a?.b ?? c; // → arrow',
  'CJK 漢字かなカナ한국어 and math ∑∫√ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  ' leading and trailing spaces   ',
  'a',
  '\u200b\u200d zero-width and \ufeff BOM',
];

describe('token ↔ range mapping (byte-level BPE)', () => {
  const json = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8'));
  const js = new JsTokenizer(json, {});
  const oracle = native.Tokenizer.fromFile(path.join(bundledModelDir, 'tokenizer.json'));
  const special = new Set<string>(['<|endoftext|>']);

  for (const text of TRICKY) {
    it(`matches the native tokenizer on ${JSON.stringify(text).slice(0, 40)}`, async () => {
      const enc = js.encode(text, { add_special_tokens: false });
      const ranges = byteLevelRanges(text, enc.tokens, special);
      const ref = await oracle.encode(text);
      assert.deepEqual(enc.ids, ref.getIds(), 'JS and native tokenizers give the same ids');
      const refOffsets: number[][] = ref.getOffsets();
      let covered = 0;
      ranges.forEach((r, i) => {
        assert.ok(r, `token ${i} has a range`);
        const [s, e] = r;
        assert.ok(s >= covered, 'ranges ascend without overlap');
        const [cs, ce] = refOffsets[i].map((o) => codePointToUtf16(text, o));
        if (s < e) {
          // A token that starts a character must span exactly what the oracle says.
          assert.equal(s, cs, `start of token ${i} ${JSON.stringify(enc.tokens[i])}`);
          assert.equal(e, ce, `end of token ${i} ${JSON.stringify(enc.tokens[i])}`);
          covered = e;
        } else {
          // A continuation of a split character: empty range inside the oracle's character span.
          assert.ok(cs <= s && s <= ce, `empty token ${i} lies within the oracle span`);
        }
      });
      const joined = ranges.map((r) => text.slice(r![0], r![1])).join('');
      assert.equal(joined, text, 'ranges concatenate to the text with no gap');
    });
  }

  it('maps special tokens that do not occur in the text to no range', () => {
    const ranges = byteLevelRanges('hi', ['<|endoftext|>', 'hi'], special);
    assert.deepEqual(ranges, [null, [0, 2]]);
  });

  it('rejects tokens that do not spell the text', () => {
    assert.throws(() => byteLevelRanges('hello', ['hel', 'p'], special), /does not spell/);
    assert.throws(() => byteLevelRanges('hello', ['hel'], special), /cover 3 of 5 bytes/);
  });
});

describe('offset tables', () => {
  it('maps UTF-8 byte offsets to UTF-16 offsets, -1 inside characters', () => {
    const t = utf8ToUtf16Table('aé😀');
    // a(1 byte) é(2 bytes) 😀(4 bytes, 2 UTF-16 units)
    assert.deepEqual(Array.from(t), [0, 1, -1, 2, -1, -1, -1, 4]);
  });

  it('gives a split character to the token that starts it', () => {
    const text = '😀!';
    assert.deepEqual(byteSpansToUtf16(text, [[0, 2], [2, 4], [4, 5]]), [[0, 2], [2, 2], [2, 3]]);
  });

  it('decodes byte-level symbols: Ġ is a space, Ċ a newline', () => {
    assert.deepEqual(byteLevelTokenBytes('Ġa'), [32, 97]);
    assert.deepEqual(byteLevelTokenBytes('Ċ'), [10]);
    assert.equal(byteLevelTokenBytes('<|x|>\u4e00'), null);
  });

  it('finds the token at an offset, skipping empty and special ranges', () => {
    const ranges = [null, [0, 2], [2, 2], [2, 5]] as const;
    assert.equal(tokenAtOffset(ranges, 0), 1);
    assert.equal(tokenAtOffset(ranges, 2), 3);
    assert.equal(tokenAtOffset(ranges, 5), -1);
  });

  it('converts code-point offsets to UTF-16 offsets', () => {
    assert.equal(codePointToUtf16('😀a', 1), 2);
    assert.equal(codePointToUtf16('😀a', 2), 3);
  });
});
