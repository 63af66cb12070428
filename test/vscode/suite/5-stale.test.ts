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
    assert.ok(await b.edit((e) => e.insert(new vscode.Position(0, 0), 'Edited: ')));
    // Give a wrongly wired listener the same chance to fire as a right one, then check: still fresh.
    const probe = await openFile('probe\n', 'stale-probe.txt');
    assert.ok(await probe.edit((e) => e.insert(new vscode.Position(0, 0), 'x')));
    await new Promise((r) => setTimeout(r, 500));
    const now = api.lastRun();
    assert.equal(now?.runId, run.runId);
    assert.equal(now?.stale, false, 'an edit elsewhere leaves the run fresh');
    await vscode.commands.executeCommand('workbench.action.files.revert');
    await vscode.window.showTextDocument(b.document);
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });
});
