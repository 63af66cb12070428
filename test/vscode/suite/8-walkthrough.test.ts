import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, getApi, repoRoot } from '../helpers';

/** The command links of a walkthrough step's description, with their arguments. */
function buttons(description: string): { id: string; args?: unknown }[] {
  const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
  const text = nls[/^%([^%]+)%$/.exec(description)?.[1] ?? ''] ?? description;
  return [...text.matchAll(/\]\(command:([\w.]+)(?:\?([^)]*))?\)/g)].map((m) => ({ id: m[1], ...(m[2] ? { args: JSON.parse(decodeURIComponent(m[2])) } : {}) }));
}

describe('the Get Started walkthrough in VS Code', () => {
  it('runs each step\'s button: the sample opens, Show Attention runs on it, the grid opens, L0 H2 and L1 H2 are pinned', async function () {
    this.timeout(180_000);
    const api = await getApi();
    const steps: { description: string }[] = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes.walkthroughs[0].steps;
    const [open, show, grid, pin] = steps.map((s) => buttons(s.description));
    const all = await vscode.commands.getCommands(true);
    for (const b of [...open, ...show, ...grid, ...pin]) assert.ok(all.includes(b.id), `${b.id} is a command VS Code knows`);

    await vscode.commands.executeCommand(open[0].id);
    const sample = fs.readFileSync(path.join(repoRoot, 'media', 'walkthrough', 'sample.txt'), 'utf8');
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.getText(), sample);
    assert.equal(editor.document.getText(editor.selection), sample, 'all of it selected');

    const runId = await vscode.commands.executeCommand<number>(show[0].id);
    const run = await api.waitForRun(runId);
    assert.equal(run.error, undefined, run.error);
    assert.equal(run.text, sample);
    assert.equal(run.shapes?.[0].layers, 3);

    const before = api.messages().length;
    await vscode.commands.executeCommand(grid[0].id);
    assert.deepEqual(api.messages().slice(before).filter((m) => m.kind !== 'info'), [], 'the grid opens without a complaint');

    for (const b of pin) await vscode.commands.executeCommand(b.id, ...(b.args === undefined ? [] : [b.args]));
    const pinned = api.pinnedHeads().map((h) => `${h.stack} L${h.layer} H${h.head}`);
    assert.ok(pinned.includes('self L0 H2') && pinned.includes('self L1 H2'), pinned.join(', '));
  });
});
