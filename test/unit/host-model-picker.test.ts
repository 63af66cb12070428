import assert from 'node:assert/strict';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { testModelsDir } from '../support/test-models';
import { extensionContext, installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// The panel's "Change model…" button through the host: the webview's 'selectModel' opens the Select Model
// quick pick; picking another model sets attentionLens.defaultModel (the status bar follows) and runs the
// panel's last selection again on it; cancelling, or picking the model already shown, runs nothing.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

type Posted = { type: string; [k: string]: any };
type Item = { label: string; description?: string; detail?: string };
const window = stub.module.window as Record<string, unknown>;
const tinyGpt2 = path.join(testModelsDir, 'tiny-gpt2');

/** Makes the next quick pick answer `choose(items)`; resolves with the items it offered. */
function answerQuickPick(choose: (items: Item[]) => Item | undefined): Promise<Item[]> {
  return new Promise((resolve) => {
    window.showQuickPick = async (items: Item[]) => {
      resolve(items);
      return choose(items);
    };
  });
}

/** Resolves with the next information message shown. */
function nextInfo(): Promise<string> {
  return new Promise((resolve) => {
    window.showInformationMessage = async (text: string) => {
      stub.state.messages.push({ kind: 'info', text });
      resolve(text);
    };
  });
}

/** Runs every promise continuation already queued (what follows a cancelled pick does no I/O). */
const drain = () => new Promise((resolve) => setImmediate(resolve));
const shows = () => (stub.state.posted as Posted[]).filter((m) => m.type === 'show');
const showAttention = () => stub.state.commands.get('attentionLens.showAttention')!() as Promise<number>;

describe('the panel\'s Change model… button (stubbed VS Code)', function () {
  this.timeout(30000);
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const text = 'Header line.\nRun this line on two models.\n';

  before(async () => {
    stub.state.config.models = [tinyGpt2];
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
    stub.openEditor(text, [[13, text.length - 1]], Uri.file('/tmp/two-models.txt'));
    await showAttention();
    stub.fromPanel({ type: 'ready' });
    assert.equal(shows().at(-1)!.model.name, 'lens-gpt (bundled)');
  });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('opens the Select Model quick pick; cancelling it changes nothing', async () => {
    const before = { runId: api.lastRun()!.runId, posted: stub.state.posted.length, messages: api.messages().length,
      config: { ...stub.state.config }, status: stub.state.statusItems[0].text };
    const offered = answerQuickPick(() => undefined);
    stub.fromPanel({ type: 'selectModel' });
    const items = await offered;
    assert.deepEqual(items.map((i) => i.label), ['lens-gpt (bundled)', 'tiny-gpt2', '$(add) Add Model…', '$(cloud-download) Download Model…']);
    assert.equal(items[0].description, 'current');
    await drain();
    assert.deepEqual(stub.state.config, before.config, 'no setting changed');
    assert.equal(api.lastRun()!.runId, before.runId, 'no new run');
    assert.equal(stub.state.posted.length, before.posted, 'nothing posted to the panel');
    assert.equal(api.messages().length, before.messages, 'no message');
    assert.equal(stub.state.statusItems[0].text, before.status);
  });

  it('choosing another model switches to it and runs the last selection again on it', async () => {
    const before = api.lastRun()!;
    const showsBefore = shows().length;
    const offered = answerQuickPick((items) => items.find((i) => i.label === 'tiny-gpt2'));
    const reloaded = stub.nextHtml();
    stub.fromPanel({ type: 'selectModel' });
    await offered;
    // The new model's folder is outside the panel's resource roots: the page reloads, then asks for the run.
    assert.match(await reloaded, /Content-Security-Policy/);
    assert.equal(shows().length, showsBefore, 'the show waits for the new page');
    const shown = stub.nextPosted('show');
    stub.fromPanel({ type: 'ready' });
    const show = (await shown) as Posted;
    assert.equal(stub.state.config.defaultModel, tinyGpt2, 'attentionLens.defaultModel is set');
    assert.match(stub.state.statusItems[0].text!, /tiny-gpt2$/, 'the status bar names the new model');
    assert.equal(show.runId, before.runId + 1, 'one new run');
    assert.equal(shows().length, showsBefore + 1);
    assert.equal(show.model.name, 'tiny-gpt2');
    assert.match(show.model.onnxUri, /tiny-gpt2\/onnx\/model\.onnx$/);
    assert.equal(show.text, before.text, 'the same selection');
    assert.equal(show.text, 'Run this line on two models.');
    assert.match(show.notices[0], /^Model changed to "tiny-gpt2": the last selection was analysed again\.$/);
    const run = api.lastRun()!;
    assert.deepEqual([run.runId, run.documentUri, run.documentOffset], [show.runId, before.documentUri, before.documentOffset]);
    assert.ok(api.messages().some((m) => m.kind === 'info' && /now uses the model "tiny-gpt2"\. The panel shows the last selection/.test(m.text)));
  });

  it('choosing the model the panel already shows runs nothing again', async () => {
    const before = api.lastRun()!.runId;
    const showsBefore = shows().length;
    const offered = answerQuickPick((items) => items.find((i) => i.label === 'tiny-gpt2'));
    const told = nextInfo();
    stub.fromPanel({ type: 'selectModel' });
    assert.equal((await offered)[1].description, 'current');
    assert.match(await told, /now uses the model "tiny-gpt2"/);
    await drain();
    assert.equal(api.lastRun()!.runId, before, 'no new run');
    assert.equal(shows().length, showsBefore);
    // The next run is the very next id: no re-run was started behind the message either.
    assert.equal(await showAttention(), before + 1);
  });
});
