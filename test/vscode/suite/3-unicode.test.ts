import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import {
  checkAttention, checkDocumentRanges, checkTiling, getApi, isOrdinary, openFile, rangedTokens, selectOffsets,
  showAttentionRun,
} from '../helpers';

// CRLF line endings, tabs, a ZWJ family (👨‍👩‍👧), e + U+0301 combining marks, Hebrew (RTL), flags, astral emoji.
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';
const LINES = [
  `Family:\t${FAMILY} at home.`,
  '\tCafe\u0301 au lait, de\u0301ja\u0300 vu.',
  'Hebrew: \u05E9\u05DC\u05D5\u05DD \u05E2\u05D5\u05DC\u05DD means hello world.',
  '\t\tFlags \u{1F1E9}\u{1F1EA} and smileys \u{1F600}\u{1F600}\tend.',
];
const CONTENT = `Header line that is not selected.\r\n${LINES.join('\r\n')}\r\nTrailing line.\r\n`;

describe('CRLF, tabs, emoji, combining marks and RTL', () => {
  it('token ranges tile the selection exactly and map back into the document', async () => {
    const api = await getApi();
    const editor = await openFile(CONTENT, 'unicode-crlf.txt');
    const doc = editor.document;
    assert.equal(doc.eol, vscode.EndOfLine.CRLF, 'the document keeps CRLF');
    assert.equal(doc.getText(), CONTENT, 'the document holds the content byte-for-byte');

    // From the tab before the family emoji (mid-line 2) to the middle of the last selected line.
    const start = CONTENT.indexOf('\t');
    const end = CONTENT.indexOf('\tend.') + 2;
    const sel = selectOffsets(editor, start, end);
    const selected = doc.getText(sel);
    for (const piece of ['\r\n', '\t', FAMILY, 'e\u0301', '\u05E9\u05DC\u05D5\u05DD', '\u{1F1E9}\u{1F1EA}']) {
      assert.ok(selected.includes(piece), `the selection contains ${JSON.stringify(piece)}`);
    }

    const run = await showAttentionRun(api);
    assert.equal(run.documentUri, doc.uri.toString());
    assert.equal(run.documentOffset, start, 'documentOffset is the selection start (UTF-16)');
    assert.equal(run.text, selected, 'the run tokenized exactly the selection, CRLFs included');

    checkTiling(run);
    const checked = checkDocumentRanges(doc, run);
    const ranged = rangedTokens(run);
    assert.ok(checked >= ranged.filter(isOrdinary).length && checked > 10, `ordinary tokens checked (${checked})`);

    // Whole characters: no range starts or ends inside a surrogate pair.
    for (const t of ranged) {
      for (const o of [t.start, t.end]) {
        const c = run.text.charCodeAt(o);
        assert.ok(!(o > 0 && o < run.text.length && c >= 0xdc00 && c <= 0xdfff),
          `token ${JSON.stringify(t.text)} boundary ${o} splits a surrogate pair`);
      }
    }
    await checkAttention(run);
  });
});
