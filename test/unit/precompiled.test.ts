import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createTokenizer } from '../../src/host/tokenize';
import { alignedChars, applyNormalizer } from '../../src/shared/normalize';
import { graphemeClusters } from '../../src/shared/graphemes';
import { describeTokenizer, tokenRanges } from '../../src/shared/token-ranges';
import { mulberry32 } from '../../src/shared/head-labels';
import { testModelsDir } from '../support/test-models';
import { firstRangeMismatch, nativeRanges } from '../support/tokenizer-oracle';

// The native Hugging Face library (Rust) is the oracle; spm-t5 carries SentencePiece's nmt_nfkc charsmap.
const native = require('tokenizers');

/** Pieces that make long clusters, runs of regional indicators, emoji ZWJ sequences and what nmt_nfkc rewrites. */
const PIECES = ['a', 'The ', ' ', '\r\n', '\t', '\u0001', '\u0000', 'e\u0301', '\u0301\u0302\u0323', '\u1100\u1161\u11a8', '\u0915\u094d\u0937',
  '🇩🇪', '🇩', '👨\u200d👩\u200d👧', '👍🏽', '❤\ufe0f', 'ﬁ', '①', 'ＡＢ', '㍻', '～', '\u00a0', '\u3000', 'x1', '.'];

/** A seeded text of `length` UTF-16 units or a little more, with one cluster of 3 000 combining marks in it. */
function longText(seed: number, length: number): string {
  const rand = mulberry32(seed);
  let s = '';
  while (s.length < length) {
    s += PIECES[Math.floor(rand() * PIECES.length)];
    if (s.length > length / 2 && !s.includes('\u0300'.repeat(3000))) s += `o${'\u0300'.repeat(3000)} `;
  }
  return s;
}

describe('Precompiled normalizer (SentencePiece charsmap) on long texts', function () {
  this.timeout(120_000);
  const text = fs.readFileSync(path.join(testModelsDir, 'spm-t5', 'tokenizer.json'), 'utf8');
  const json = JSON.parse(text);

  it('segments grapheme clusters a window at a time exactly as one pass over the whole text does', () => {
    const whole = new Intl.Segmenter('en', { granularity: 'grapheme' });
    for (const seed of [1, 2, 3]) {
      const s = longText(seed, 12_000);
      assert.deepEqual([...graphemeClusters(s)], Array.from(whole.segment(s), (p) => p.segment));
    }
    // A run of 5 001 regional indicators crosses windows at odd counts; pairs must stay pairs.
    const flags = '🇩'.repeat(5001);
    assert.deepEqual([...graphemeClusters(flags)], Array.from(whole.segment(flags), (p) => p.segment));
  });

  it('normalizes and tokenizes a 60 000-unit text as the native library does, ids and ranges', async () => {
    const s = `x${longText(7, 60_000)}`;
    const precompiled = json.normalizer.normalizers[0];
    const only = native.Tokenizer.fromString(JSON.stringify({ ...json, normalizer: precompiled })).getNormalizer();
    assert.equal(applyNormalizer(alignedChars(s), precompiled).map((c) => c.ch).join(''), only.normalizeString(s));
    const enc = createTokenizer(json).encode(s);
    const ref = await native.Tokenizer.fromString(text).encode(s, null, { addSpecialTokens: false });
    assert.deepEqual(enc.ids, ref.getIds());
    assert.equal(firstRangeMismatch(tokenRanges(s, enc.tokens, describeTokenizer(json)), nativeRanges(s, ref.getOffsets())), -1);
  });
});
