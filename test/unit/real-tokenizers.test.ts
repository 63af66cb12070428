import assert from 'node:assert/strict';
import { createTokenizer, type HostTokenizer } from '../../src/host/tokenize';
import { describeTokenizer, tokenRanges, type TokenizerFacts } from '../../src/shared/token-ranges';
import { firstRangeMismatch, fixtureTexts, generatedCorpus, nativeRanges, REAL_TOKENIZERS } from '../support/tokenizer-oracle';

// The native Hugging Face library (Rust) is the oracle for ids and offsets, on tokenizer.json files others published.
const native = require('tokenizers');

const TRICKY = [
  'The cats sat on the mat, because it was tired.',
  'cafe\u0301 (decomposed) vs café, naïve RÉSUMÉ',
  '\u1100\u1161\u11a8 \u1112\u1161\u11ab jamo vs 각 한',
  'ﬁne ① ㎏ Ⅻ full-width ＡＢＣ Å Ω',
  'emoji 😀 family 👨‍👩‍👧 flags 🇩🇪 skin 👍🏽',
  'A  B   c\td\r\ne x\u0000z \ufeffBOM \u200b',
  '   leading and trailing   ',
  'literal <s> </s> <bos> <|endoftext|> [CLS] [SEP] [UNK] <｜begin▁of▁sentence｜>',
  'RTL: שלום עולם and مرحبا',
  'code: const x = a?.b ?? c; // → arrow 12345678',
  '▁already ▁metaspace',
  'İstanbul ǅ ß ΐ',
];

describe('host tokenization on real tokenizers against the native tokenizers library', function () {
  this.timeout(120_000);
  for (const real of REAL_TOKENIZERS) {
    const texts = [...fixtureTexts(), ...TRICKY, ...generatedCorpus(20261202, 3, real.corpusBelow)];
    describe(real.name, () => {
      let js: HostTokenizer;
      let oracle: { encode(text: string, pair: null, options: { addSpecialTokens: boolean }): Promise<OracleEncoding> };
      let facts: TokenizerFacts;

      before(() => {
        const text = real.json();
        const json = JSON.parse(text);
        facts = describeTokenizer(json);
        js = createTokenizer(json);
        oracle = native.Tokenizer.fromString(text);
      });

      it(`gives the native ids and exact UTF-16 ranges on ${texts.length} texts (fixtures, tricky, every general category)`, async () => {
        const failures: string[] = [];
        for (const text of texts) {
          const enc = js.encode(text);
          const ref = await oracle.encode(text, null, { addSpecialTokens: false });
          const label = JSON.stringify(text).slice(0, 50);
          if (JSON.stringify(enc.ids) !== JSON.stringify(ref.getIds())) {
            failures.push(`${label}: ids ${JSON.stringify(enc.ids).slice(0, 80)} vs native ${JSON.stringify(ref.getIds()).slice(0, 80)}`);
            continue;
          }
          let ranges;
          try {
            ranges = tokenRanges(text, enc.tokens, facts);
          } catch (e) {
            failures.push(`${label}: ${(e as Error).message}`);
            continue;
          }
          const want = nativeRanges(text, ref.getOffsets());
          const i = firstRangeMismatch(ranges, want);
          if (i >= 0) failures.push(`${label}: token ${i} ${JSON.stringify(enc.tokens[i])} at ${JSON.stringify(ranges[i])}, native ${JSON.stringify(want[i])}`);
        }
        assert.deepEqual(failures, []);
      });

      it('adds the special tokens the native library adds around a text', async () => {
        const text = 'Hello world';
        const ref = await oracle.encode(text, null, { addSpecialTokens: true });
        const ids = js.encode(text).ids;
        assert.deepEqual([...facts.prefix.map((s) => s.id), ...ids, ...facts.suffix.map((s) => s.id)], ref.getIds());
      });
    });
  }
});

/** The part of a native Encoding these tests read. */
interface OracleEncoding {
  getIds(): number[];
  getOffsets(): number[][];
}
