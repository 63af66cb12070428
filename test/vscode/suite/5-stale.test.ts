import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { getApi, openFile, selectOffsets, showAttentionRun, waitFor } from '../helpers';

describe('stale runs', () => {
  it('editing the document after a run marks the run stale', async () => {
    const api = await getApi();
    const content = 'Editing this sentence after the run makes the attention stale.\nSecond line.\n';
    const editor = await openFile(content, 'stale.txt');
    selectOffsets(editor, 0, content.indexOf('\n'));
    const run = await showAttentionRun(api);
    assert.equal(run.stale, false, 'fresh');

    const ok = await editor.edit((e) => e.insert(new vscode.Position(0, 0), 'Now '));
    assert.ok(ok, 'the edit applied');
    const stale = await waitFor(() => {
      const r = api.lastRun();
      return r && r.runId === run.runId && r.stale ? r : undefined;
    }, 'the run to be marked stale after an edit');
    assert.equal(stale.stale, true);
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  it('editing a different document does not mark the run stale', async () => {
    const api = await getApi();
    const a = await openFile('A document whose attention we look at.\n', 'stale-a.txt');
    selectOffsets(a, 0, a.document.getText().indexOf('\n'));
    const run = await showAttentionRun(api);
    const b = await openFile('Another document.\n', 'stale-b.txt');
    // VS Code calls change listeners in the order they were registered, and the extension registered its
    // own when it activated, before this one: once this listener has seen an edit, the extension's has too.
    const seen: string[] = [];
    const waiters: { uri: string; resolve: () => void }[] = [];
    const listener = vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.contentChanges.length === 0) return;
      const uri = e.document.uri.toString();
      seen.push(uri);
      for (const w of waiters.filter((x) => x.uri === uri)) w.resolve();
    });
    // A workspace edit, as the editor of stale-a.txt is no longer shown (stale-b.txt replaced it).
    const insertAtStart = (doc: vscode.TextDocument, text: string) => {
      const edit = new vscode.WorkspaceEdit();
      edit.insert(doc.uri, new vscode.Position(0, 0), text);
      return vscode.workspace.applyEdit(edit);
    };
    const changed = (doc: vscode.TextDocument) => new Promise<void>((resolve) => {
      if (seen.includes(doc.uri.toString())) resolve();
      else waiters.push({ uri: doc.uri.toString(), resolve });
    });
    try {
      assert.ok(await insertAtStart(b.document, 'Edited: '));
      await changed(b.document);
      const now = api.lastRun();
      assert.equal(now?.runId, run.runId);
      assert.equal(now?.stale, false, 'an edit elsewhere leaves the run fresh');
      // The control: the same wait after an edit of the run's own document does see the run go stale, so the
      // check above gave the extension's listener the chance to act.
      assert.ok(await insertAtStart(a.document, 'Now '));
      await changed(a.document);
      assert.equal(api.lastRun()?.stale, true, 'an edit of the run\'s document, seen by the same wait, marks the run stale');
    } finally {
      listener.dispose();
    }
    for (const doc of [a.document, b.document]) {
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('workbench.action.files.revert');
    }
  });
});
