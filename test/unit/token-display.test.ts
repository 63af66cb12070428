import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  SYMBOL_LEGEND, symbolLegendText, TOKEN_SYMBOLS, tokenKind, tokenNumber, tokensAsShown, tokenSymbolText, visibleWhitespace,
} from '../../src/shared/token-display';
import { formatWeight } from '../../src/shared/attention';
import { hoverMarkdown, markdownCode } from '../../src/host/hover-card';
import { createTokenizer, tokenizeWithLimit } from '../../src/host/tokenize';
import { describeToken, tokenLabel, tokenTitle } from '../../webview/common/token-text';
import { bundledModelDir, repoRoot } from '../support/model';

const tokenizerPath = path.join(bundledModelDir, 'tokenizer.json');
// The native Hugging Face library (Rust bindings) is the oracle for what each token holds.
const native = require('tokenizers');

describe('one token vocabulary: symbols, numbers, weights', () => {
  it('makes spaces, line breaks, tabs and zero-width characters visible with one symbol each', () => {
    assert.equal(visibleWhitespace(' a\r\n\tb\u200dc\nd\re'), '␣a⏎⇥b◌c⏎d⏎e');
    assert.equal(tokenSymbolText({ id: 0, text: '', start: 3, end: 3 }), TOKEN_SYMBOLS.fragment);
    assert.equal(tokenSymbolText({ id: 0, text: '[CLS]', start: -1, end: -1 }), '[CLS]');
    assert.equal(tokenKind({ start: -1, end: -1 }), 'special');
    assert.equal(tokenNumber(0), '#0');
    // Every symbol is distinct and none is a character the views use for something else (· separates, → points).
    const symbols = Object.values(TOKEN_SYMBOLS);
    assert.equal(new Set(symbols).size, symbols.length);
    for (const s of symbols) assert.ok(!['·', '→', '…', '↵'].includes(s), s);
    for (const s of SYMBOL_LEGEND) assert.ok(symbolLegendText().includes(`${s.symbol} ${s.meaning}`));
  });

  it('writes a weight one way: four decimals', () => {
    assert.equal(formatWeight(0.239), '0.2390');
    assert.equal(formatWeight(0.00004), '0.0000');
  });

  // The bundled model's real tokenizer on text with emoji, a ZWJ family, accents, RTL, CRLF and tabs: byte-level
  // BPE splits the emoji into byte fragments. The native `tokenizers` library is the oracle for what each token is.
  describe('the panel and the editor hover card on real tokens', () => {
    const text = fs.readFileSync(path.join(repoRoot, 'test/fixtures/unicode.txt'), 'utf8').slice(0, 400) +
      fs.readFileSync(path.join(repoRoot, 'test/fixtures/crlf-tabs.txt'), 'utf8').slice(0, 200);
    const json = JSON.parse(fs.readFileSync(tokenizerPath, 'utf8'));
    const { tokens } = tokenizeWithLimit(createTokenizer(json, {}), text, 4096);
    const labels = tokens.map((t) => tokenLabel(t, text));

    it('marks as byte fragments only tokens that hold no whole character, and shows the others as the native tokenizer decodes them', async () => {
      const oracle = native.Tokenizer.fromFile(tokenizerPath);
      const ids: number[] = (await oracle.encode(text)).getIds();
      assert.deepEqual(tokens.map((t) => t.id), ids, 'the same ids as the native tokenizer');
      let fragments = 0;
      for (let i = 0; i < ids.length; i++) {
        const alone: string = await oracle.decode([ids[i]], false);
        if (labels[i].kind === 'fragment') {
          fragments++;
          assert.ok(alone.includes('\uFFFD'), `#${i} is marked a fragment and decodes alone to ${JSON.stringify(alone)}`);
        } else if (!alone.includes('\uFFFD')) {
          assert.equal(labels[i].label, visibleWhitespace(alone), `#${i} shows what it decodes to`);
        }
      }
      assert.ok(fragments >= 2, `the text has byte fragments (${fragments})`);
    });

    it('gives the compare view (tokens without the text) the same labels as the panel', () => {
      const shown = tokensAsShown(tokens, text);
      assert.deepEqual(shown.map((t) => tokenSymbolText(t)), labels.map((l) => l.label));
      assert.ok(tokens.some((t, i) => tokenSymbolText(t) !== labels[i].label), 'decoded text alone would differ (U+FFFD)');
    });

    it('shows every token with the same text, symbols and number in the panel and the hover card', () => {
      const sawSymbols = new Set<string>();
      for (let i = 0; i < tokens.length; i++) {
        const row = tokens.map((_, j) => (j === i ? 0.5 : j === 0 ? 0.5 : 0));
        const md = hoverMarkdown(tokens, text, i, row, { stack: 'self', layer: 0, head: 1 }, false);
        const label = labels[i].label;
        assert.ok(md.includes(`Token ${tokenNumber(i)} of ${tokens.length}`), `#${i} numbered from 0 in the card`);
        assert.ok(md.includes(`${markdownCode(label)}`), `#${i}: the card shows ${label} as the panel does:\n${md}`);
        assert.ok(describeToken(labels, i).endsWith(`(${tokenNumber(i)})`), 'the panel names it the same way');
        // The card's rows name tokens by the panel's numbers, weights written by formatWeight.
        assert.ok(md.includes(`| ${tokenNumber(0)} | ${formatWeight(0.5)} |`));
        if (labels[i].kind === 'fragment') {
          assert.match(md, /byte fragment/, 'the card explains a fragment');
          assert.match(tokenTitle(labels, i), /byte fragment/, 'the panel tooltip explains it too');
        }
        for (const s of SYMBOL_LEGEND) {
          if (label.includes(s.symbol)) {
            sawSymbols.add(s.symbol);
            assert.ok(md.includes(`${s.symbol} ${s.meaning}`), `the card explains ${s.symbol}`);
          }
        }
        // Text tokens: turning the symbols back gives exactly the text the token covers.
        if (labels[i].kind === 'text') {
          const back = label.replace(/␣/g, ' ').replace(/⇥/g, '\t');
          assert.equal(back.replace(/⏎/g, ''), text.slice(tokens[i].start, tokens[i].end).replace(/[\r\n]/g, '').replace(/\u200d/g, '◌'));
        }
      }
      for (const s of [TOKEN_SYMBOLS.space, TOKEN_SYMBOLS.newline, TOKEN_SYMBOLS.tab, TOKEN_SYMBOLS.fragment]) {
        assert.ok(sawSymbols.has(s), `the text exercised ${s}`);
      }
    });
  });
});
