import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { AttentionLensApi } from '../../../src/api';
import type { Outcome } from '../helpers';
import {
  checkAttention, checkTiling, fixture, getApi, modelContext, openFile, openPath, rangedTokens, selectAll, selectOffsets,
  showAttention, showAttentionRun,
} from '../helpers';

/**
 * Asserts the command refused: no run started (the last run is the one from before) and exactly one warning
 * was shown, matching `text` (the wording of src/host/selection.ts).
 */
function assertRefused(api: AttentionLensApi, out: Outcome, runBefore: number | undefined, text: RegExp): void {
  assert.equal(out.run, undefined, `no run is started (got ${JSON.stringify({ tokens: out.run?.tokens.length, error: out.run?.error })})`);
  assert.equal(api.lastRun()?.runId, runBefore, 'the last run is still the one from before');
  assert.equal(out.messages.length, 1, `one message (got ${JSON.stringify(out.messages)})`);
  assert.equal(out.messages[0].kind, 'warning');
  assert.match(out.messages[0].text, text);
}

describe('bad and unusual input', () => {
  it('an empty document: refused with a warning that it is empty; no run starts', async () => {
    const api = await getApi();
    await openFile('', 'empty.txt');
    const before = api.lastRun()?.runId;
    const out = await showAttention(api);
    assertRefused(api, out, before, /^The document is empty, so there is no text to analyse: type or paste some text, then select some text and run "Attention Lens: Show Attention" again\.$/);
  });

  it('whitespace only: refused with a warning that the selection is only whitespace; no run starts', async () => {
    const api = await getApi();
    const editor = await openFile('   \n\t \n  ', 'whitespace.txt');
    selectAll(editor);
    assert.equal(editor.document.getText(editor.selection), '   \n\t \n  ', 'the whole whitespace text is selected');
    const before = api.lastRun()?.runId;
    const out = await showAttention(api);
    assertRefused(api, out, before, /^The selection is only whitespace, so there is nothing to analyse: select some text and run "Attention Lens: Show Attention" again\.$/);
  });

  it('one character: runs with one token', async () => {
    const api = await getApi();
    const editor = await openFile('a', 'one-char.txt');
    selectAll(editor);
    const run = await showAttentionRun(api);
    assert.equal(run.text, 'a');
    assert.equal(rangedTokens(run).length, 1, 'one token');
    checkTiling(run);
    await checkAttention(run);
  });

  it('a 50k-character selection is cut to the model context with a notice', async () => {
    const api = await getApi();
    const prose = (await vscode.workspace.openTextDocument(vscode.Uri.file(fixture('prose.txt')))).getText();
    let big = '';
    while (big.length < 50_000) big += prose;
    big = big.slice(0, 50_000);
    const editor = await openFile(big, 'big.txt');
    selectAll(editor);
    assert.equal(editor.document.getText(editor.selection).length, 50_000);
    const run = await showAttentionRun(api);
    const ctx = modelContext();
    assert.equal(run.tokens.length, ctx, `T is the model context (${ctx})`);
    assert.equal(run.shapes![0].queries, ctx);
    assert.ok(big.startsWith(run.text) && run.text.length < big.length, 'the tokenized text is a prefix of the selection');
    assert.ok(run.notices.some((n) => /trunc|cut|first|limit|context|max|long/i.test(n)),
      `a truncation notice (notices: ${JSON.stringify(run.notices)})`);
    checkTiling(run);
    await checkAttention(run);
  });

  it('binary-looking text with NULs: refused with a warning about binary data; no run starts', async () => {
    const api = await getApi();
    // VS Code refuses to open a file with NULs as text, so this is an untitled document with that content
    // (what a user gets by pasting binary data).
    const doc = await vscode.workspace.openTextDocument({
      content: 'PK\u0003\u0004\u0000\u0000\u0000\u0008\u0000abc\u0000\u0000\u0001\u0002def\u0000\u0000', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    assert.ok(doc.getText().includes('\u0000'), 'the document holds NULs');
    selectAll(editor);
    const before = api.lastRun()?.runId;
    const out = await showAttention(api);
    assertRefused(api, out, before, /^The selection looks like binary data \(it contains NUL or many control characters\), so Attention Lens did not run on it\./);
  });

  it('no selection: uses the current line, with a notice', async () => {
    const api = await getApi();
    const lines = ['First line here.', 'The cursor sits on this second line.', 'Third line.'];
    const editor = await openFile(lines.join('\n'), 'no-selection.txt');
    const doc = editor.document;
    const cursor = doc.offsetAt(new vscode.Position(1, 7));
    selectOffsets(editor, cursor, cursor);
    assert.ok(editor.selection.isEmpty);
    const run = await showAttentionRun(api);
    assert.equal(run.text, lines[1], 'the run used the current line');
    assert.equal(run.documentOffset, doc.offsetAt(new vscode.Position(1, 0)));
    assert.ok(run.notices.length > 0, `a notice says the current line was used (notices: ${JSON.stringify(run.notices)})`);
    checkTiling(run);
    await checkAttention(run);
  });

  it('multiple cursors: uses the primary selection, with a notice', async () => {
    const api = await getApi();
    const content = 'Alpha beta gamma delta.\nEpsilon zeta eta theta.\nIota kappa lambda mu.\n';
    const editor = await openFile(content, 'multi-cursor.txt');
    const doc = editor.document;
    const primary = new vscode.Selection(doc.positionAt(content.indexOf('Epsilon')), doc.positionAt(content.indexOf(' theta')));
    const other = new vscode.Selection(doc.positionAt(0), doc.positionAt(content.indexOf(' delta')));
    editor.selections = [primary, other];
    assert.equal(editor.selections.length, 2);
    const run = await showAttentionRun(api);
    assert.equal(run.text, doc.getText(primary), 'the run used the primary selection');
    assert.equal(run.documentOffset, doc.offsetAt(primary.start));
    assert.ok(run.notices.length > 0, `a notice about the other cursors (notices: ${JSON.stringify(run.notices)})`);
    await checkAttention(run);
  });

  it('still works normally after all of the above', async () => {
    const api = await getApi();
    const editor = await openPath(fixture('prose.txt'));
    const line = editor.document.lineAt(0);
    editor.selection = new vscode.Selection(line.range.start, line.range.end);
    const run = await showAttentionRun(api);
    assert.equal(run.text, line.text);
    assert.equal(run.notices.length, 0, `a clean selection gives no notices (got ${JSON.stringify(run.notices)})`);
    await checkAttention(run);
  });
});
