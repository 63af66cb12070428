import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { COMMAND, EXTENSION_ID, getApi } from '../helpers';

describe('activation', () => {
  it('the extension is present and activates, returning the test API', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is loaded as the extension under development`);
    const api = await getApi();
    assert.ok(ext.isActive, 'active after activate()');
    for (const fn of ['lastRun', 'waitForRun', 'messages', 'focus', 'pinnedHeads'] as const) {
      assert.equal(typeof api[fn], 'function', `api.${fn} is a function`);
    }
    assert.deepEqual([...api.pinnedHeads()], [], 'nothing pinned before any run');
  });

  it(`registers ${COMMAND}`, async () => {
    await getApi();
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes(COMMAND), `${COMMAND} is registered`);
  });

  it('contributes the command with its title and keybinding', () => {
    const pj = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON;
    const cmd = (pj.contributes?.commands ?? []).find((c: { command: string }) => c.command === COMMAND);
    assert.ok(cmd, 'package.json contributes the command');
    assert.match(`${cmd.category ? `${cmd.category}: ` : ''}${cmd.title}`, /Attention Lens: Show Attention/);
    const kb = (pj.contributes?.keybindings ?? []).find((k: { command: string }) => k.command === COMMAND);
    assert.ok(kb, 'package.json contributes a keybinding');
    assert.equal(String(kb.key).toLowerCase(), 'ctrl+k ctrl+shift+a');
  });
});
