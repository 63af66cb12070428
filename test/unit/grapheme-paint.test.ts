import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { graphemeEndAt, graphemePaint, widenToGraphemes } from '../../src/shared/grapheme-paint';
import { graphemeBounds } from '../../src/shared/graphemes';
import { createTokenizer, tokenizeWithLimit } from '../../src/host/tokenize';
import { bundledModelDir, repoRoot } from '../support/model';

// The native Hugging Face library is the oracle for the token ids; the characters' extents are written here by hand.
const native = require('tokenizers');
const tokenizerPath = path.join(bundledModelDir, 'tokenizer.json');

/** The UTF-16 extent [start, end) of the n-th occurrence of `char` in `text` (found by hand-written literal). */
function extent(text: string, char: string, n = 0): [number, number] {
  let at = -1;
  for (let k = 0; k <= n; k++) at = text.indexOf(char, at + 1);
  assert.ok(at >= 0, `fixture holds ${JSON.stringify(char)}`);
  return [at, at + char.length];
}

describe('grapheme-wide highlights', () => {
  it('finds the boundaries of emoji families, flags, combining marks and CRLF', () => {
    const text = 'a👨\u200d👩\u200d👧🇩🇪e\u0301\r\nb';
    // a | family (8 units) | flag (4) | e + acute (2) | CRLF (2) | b
    assert.deepEqual([...graphemeBounds(text)], [0, 1, 9, 13, 15, 17, 18]);
    assert.deepEqual([...graphemeBounds('')], [0]);
  });

  it('finds the same boundaries a window at a time as Intl.Segmenter over the whole text, whatever the window', () => {
    const text = fs.readFileSync(path.join(repoRoot, 'test/fixtures/unicode.txt'), 'utf8') + 'e' + '\u0301'.repeat(40) + '🇩🇪🇫🇷🇮🇹';
    const whole = [...new Intl.Segmenter('und', { granularity: 'grapheme' }).segment(text)].map((s) => s.index);
    const expected = [...whole, text.length];
    for (const window of [1, 2, 3, 5, 8, 13, 64, 1024]) assert.deepEqual([...graphemeBounds(text, window)], expected, `window ${window}`);
  });

  it('widens a partial or empty range to the whole character it touches', () => {
    const bounds = graphemeBounds('x🇩🇪y');
    assert.deepEqual(widenToGraphemes(bounds, 1, 3), [1, 5], 'one regional indicator: the whole flag');
    assert.deepEqual(widenToGraphemes(bounds, 5, 5), [1, 5], 'an empty range at the flag\'s end: the flag');
    assert.deepEqual(widenToGraphemes(bounds, 0, 0), [0, 1], 'an empty range at the start: the first character');
    assert.deepEqual(widenToGraphemes(bounds, 0, 2), [0, 5]);
    assert.equal(widenToGraphemes(bounds, -1, -1), undefined, 'a special token');
  });

  it('moves a cut inside a character to that character\'s end', () => {
    const text = 'Family: 👨\u200d👩\u200d👧 at';
    assert.equal(graphemeEndAt(text, 13), 16, 'inside the family emoji');
    assert.equal(graphemeEndAt(text, 8), 8, 'at its start');
    assert.equal(graphemeEndAt(text, 16), 16, 'at its end');
    assert.equal(graphemeEndAt('Cafe\u0301!', 4), 5, 'between e and its combining accent');
    assert.equal(graphemeEndAt('ab', 2), 2);
  });

  it('paints a grapheme several tokens share once, for the strongest one, and keeps the others\' own characters', () => {
    const text = 'ab🇩🇪c';
    const bounds = graphemeBounds(text);
    // token 0 = "ab" plus half the flag, token 1 = the other half, token 2 = an inner fragment (empty at the flag's end), token 3 = c
    const ranges: [number, number][] = [[0, 4], [4, 6], [6, 6], [6, 7]];
    assert.deepEqual(graphemePaint(bounds, ranges, [0.1, 0.2, 0.6, 0.1], [0, 1, 2, 3]),
      [{ token: 0, start: 0, end: 2 }, { token: 2, start: 2, end: 6 }, { token: 3, start: 6, end: 7 }]);
    assert.deepEqual(graphemePaint(bounds, ranges, [0.5, 0.2, 0.3, 0.1], [0, 1, 2, 3]),
      [{ token: 0, start: 0, end: 6 }, { token: 3, start: 6, end: 7 }]);
    assert.deepEqual(graphemePaint(bounds, ranges, [0.5, 0.2, 0.3, 0.1], [1, 3]),
      [{ token: 1, start: 2, end: 6 }, { token: 3, start: 6, end: 7 }], 'only the tokens asked for paint');
  });

  describe('on the real tokens of the bundled byte-level tokenizer (test/fixtures/unicode.txt)', () => {
    const text = fs.readFileSync(path.join(repoRoot, 'test/fixtures/unicode.txt'), 'utf8');
    const json = JSON.parse(fs.readFileSync(tokenizerPath, 'utf8'));
    const { tokens } = tokenizeWithLimit(createTokenizer(json, {}), text, 4096);
    const ranges = tokens.map((t) => (t.start >= 0 ? ([t.start, t.end] as const) : null));
    const bounds = graphemeBounds(text);
    const all = tokens.map((_, i) => i);
    /** The tokens whose range overlaps [s, e) or is empty at a position in (s, e]. */
    const touching = (s: number, e: number) => all.filter((i) => {
      const t = tokens[i];
      return t.start >= 0 && (t.end > t.start ? t.start < e && t.end > s : t.start > s && t.start <= e);
    });

    it('tokenizes as the native library does', async () => {
      const ids: number[] = (await native.Tokenizer.fromFile(tokenizerPath).encode(text)).getIds();
      assert.deepEqual(tokens.map((t) => t.id), ids);
    });

    for (const [name, char, n] of [['family emoji', '👨\u200d👩\u200d👧', 0], ['flag', '🇩🇪', 0], ['e with a combining acute', 'e\u0301', 0],
      ['smiley', '😀', 1]] as const) {
      it(`paints the whole ${name}, once, for its strongest piece`, () => {
        const [s, e] = extent(text, char, n);
        const pieces = touching(s, e);
        assert.ok(pieces.length >= 2, `${name} is split into ${pieces.length} tokens`);
        // Each piece in turn is the strongest: the character is painted for it, whole, and for no other token.
        for (const strongest of pieces) {
          const weights = all.map((i) => (i === strongest ? 0.9 : pieces.includes(i) ? 0.3 : 0.05));
          const painted = graphemePaint(bounds, ranges, weights, all);
          const over = painted.filter((p) => p.start < e && p.end > s);
          assert.equal(over.length, 1, JSON.stringify(over));
          assert.equal(over[0].token, strongest);
          assert.ok(over[0].start <= s && over[0].end >= e, `covers [${s}, ${e}): ${JSON.stringify(over[0])}`);
        }
      });
    }

    it('paints every grapheme of the text exactly once, at grapheme boundaries, with no token painting a sliver', () => {
      const weights = all.map((i) => ((i * 7919) % 101) / 100);
      const painted = graphemePaint(bounds, ranges, weights, all);
      assert.equal(painted[0].start, 0);
      assert.equal(painted.at(-1)!.end, text.length);
      for (let k = 1; k < painted.length; k++) assert.equal(painted[k].start, painted[k - 1].end);
      // A hand-written spot check: CRLF is one grapheme; nothing starts or ends between \r and \n.
      for (const p of painted) {
        assert.ok(!(text[p.start - 1] === '\r' && text[p.start] === '\n'), `starts inside CRLF at ${p.start}`);
        assert.ok(!(text[p.end - 1] === '\r' && text[p.end] === '\n'), `ends inside CRLF at ${p.end}`);
      }
    });
  });
});
