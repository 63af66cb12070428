import assert from 'node:assert/strict';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { testModelsDir } from '../support/test-models';
import { extensionContext, installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// Workspace trust (issue 11): attentionLens.defaultModel and attentionLens.models are restricted settings.
// In an untrusted workspace only the user's own values count, so the bundled model works in Restricted Mode
// and a workspace cannot point the extension at files; commands that add models write only the user's list.
// The stub does not drop workspace values in an untrusted workspace as VS Code does: the code must.
const stub: VscodeStub = installVscodeStub();

const extension = require('../../src/extension') as typeof import('../../src/extension');

type Posted = { type: string; [k: string]: any };
type Item = { label: string };
const window = stub.module.window as Record<string, unknown>;
const workspace = stub.module.workspace as Record<string, unknown>;
const tinyGpt2 = path.join(testModelsDir, 'tiny-gpt2');
const tinyBert = path.join(testModelsDir, 'tiny-bert');
const ADD_AND_DOWNLOAD = ['$(add) Add Model…', '$(cloud-download) Download Model…'];

describe('workspace trust and the model settings (stubbed VS Code)', function () {
  this.timeout(30000);
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const lastShow = () => [...(stub.state.posted as Posted[])].reverse().find((m) => m.type === 'show')!;
  const runModelName = async (): Promise<string> => {
    stub.openEditor('Which model runs this?', [[0, 22]]);
    const id = await (stub.state.commands.get('attentionLens.showAttention')!() as Promise<number>);
    assert.equal(api.lastRun()!.runId, id);
    assert.equal(api.lastRun()!.error, undefined, api.lastRun()!.error);
    stub.fromPanel({ type: 'ready' }); // the first run's page; later ones are shown at once
    assert.equal(lastShow().runId, id);
    return lastShow().model.name;
  };
  /** The labels Select Model offers; picks the item `pick` names, else cancels. */
  const selectModel = async (pick?: string): Promise<string[]> => {
    let offered: Item[] = [];
    window.showQuickPick = async (items: Item[]) => { offered = items; return items.find((i) => i.label === pick); };
    await stub.state.commands.get('attentionLens.selectModel')!();
    return offered.map((i) => i.label);
  };
  const status = () => stub.state.statusItems[0].text;

  before(() => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
  });
  beforeEach(() => {
    stub.state.trusted = false;
    stub.state.config = {};
    stub.state.workspaceConfig = {};
    workspace.workspaceFolders = [{ uri: Uri.file('/work/untrusted'), name: 'untrusted', index: 0 }];
  });
  after(() => {
    for (const d of subscriptions) d.dispose();
    stub.state.trusted = true;
    workspace.workspaceFolders = undefined;
  });

  it('in Restricted Mode the workspace\'s defaultModel is ignored and the bundled model runs; the user\'s own is used', async () => {
    stub.state.workspaceConfig.defaultModel = tinyGpt2;
    assert.equal(await runModelName(), 'lens-gpt (bundled)');
    stub.state.config.defaultModel = tinyBert;
    assert.equal(await runModelName(), 'tiny-bert', 'the user\'s own setting still applies');
  });

  it('once the workspace is trusted its defaultModel applies, and the status bar follows at once', async () => {
    stub.state.workspaceConfig.defaultModel = tinyGpt2;
    assert.match(status() ?? '', /lens-gpt/);
    stub.grantTrust();
    assert.match(status() ?? '', /tiny-gpt2/, 'refreshed on onDidGrantWorkspaceTrust');
    assert.equal(await runModelName(), 'tiny-gpt2');
  });

  it('Select Model offers the workspace\'s folders only in a trusted workspace, after the user\'s own', async () => {
    stub.state.config.models = [tinyBert];
    stub.state.workspaceConfig.models = [tinyGpt2];
    assert.deepEqual(await selectModel(), ['lens-gpt (bundled)', 'tiny-bert', ...ADD_AND_DOWNLOAD]);
    stub.state.trusted = true;
    assert.deepEqual(await selectModel(), ['lens-gpt (bundled)', 'tiny-bert', 'tiny-gpt2', ...ADD_AND_DOWNLOAD],
      'both lists: a workspace list does not hide the user\'s');
  });

  it('Select Model in Restricted Mode sets the user\'s defaultModel, never the workspace\'s', async () => {
    stub.state.config.models = [tinyBert];
    stub.state.workspaceConfig.defaultModel = '/work/untrusted/model';
    await selectModel('tiny-bert');
    assert.equal(stub.state.config.defaultModel, tinyBert);
    assert.equal(stub.state.workspaceConfig.defaultModel, '/work/untrusted/model');
    stub.state.trusted = true;
    stub.state.config.defaultModel = undefined;
    await selectModel('tiny-bert');
    assert.equal(stub.state.workspaceConfig.defaultModel, tinyBert, 'trusted: the workspace value it overrides is the one set');
  });

  for (const trusted of [false, true]) {
    it(`Add Model… writes only the user's own list, never copying the workspace's folders into it (${trusted ? 'trusted' : 'Restricted Mode'})`, async () => {
      stub.state.trusted = trusted;
      stub.state.config.models = ['/home/me/models/mine'];
      stub.state.workspaceConfig.models = ['/work/untrusted/theirs'];
      await stub.state.commands.get('attentionLens.addModel')!(tinyBert);
      assert.match(api.messages().at(-1)!.text, /^Added: "tiny-bert"/);
      assert.deepEqual(stub.state.config.models, ['/home/me/models/mine', tinyBert]);
      assert.deepEqual(stub.state.workspaceConfig.models, ['/work/untrusted/theirs']);
      await stub.state.commands.get('attentionLens.addModel')!(tinyBert);
      assert.match(api.messages().at(-1)!.text, /^Already listed/);
      assert.deepEqual(stub.state.config.models, ['/home/me/models/mine', tinyBert]);
    });
  }
});
