/**
 * attentionLens.compareSelection against a stubbed VS Code: refuses with a clear message when there is no run or the
 * selection is empty (or only whitespace), and otherwise posts 'compareText' to the panel with text B tokenized by the
 * run's model (ids checked against the bundled tokenizer read here) and a companion run id apart from the host's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { tokenize } from '../browser/browser';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

const config = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'config.json'), 'utf8'));
type Posted = { type: string; [k: string]: unknown };
const posted = () => stub.state.posted as Posted[];
const compare = () => stub.state.commands.get('attentionLens.compareSelection')!() as Promise<number | undefined>;
const show = () => stub.state.commands.get('attentionLens.showAttention')!() as Promise<number | undefined>;

describe('Compare With Another Selection (host, stubbed VS Code)', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const text = 'The cat sat on the mat.\nA dog ran in the park today.\n';
  const bStart = text.indexOf('A dog');

  before(() => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
  });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('refuses when there is no run', async () => {
    stub.openEditor(text, [[bStart, text.length - 1]], Uri.file('/tmp/ab.txt'));
    assert.equal(await compare(), undefined);
    const last = api.messages().at(-1)!;
    assert.equal(last.kind, 'warning');
    assert.match(last.text, /no run to compare with.*Show Attention/);
    assert.equal(posted().filter((m) => m.type === 'compareText').length, 0);
  });

  it('refuses an empty or whitespace-only selection once a run exists, then sends B', async () => {
    stub.select(0, text.indexOf('\n'));
    const runId = (await show())!;
    stub.fromPanel({ type: 'ready' });
    await until(() => posted().find((m) => m.type === 'show'), 'show');
    const T = (posted().find((m) => m.type === 'show')!.tokens as unknown[]).length;
    const L = config.n_layer;
    const H = config.n_head;
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: { inferenceMs: 1 },
      shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true }] });
    await api.waitForRun(runId);

    stub.select(bStart, bStart);
    assert.equal(await compare(), undefined);
    assert.match(api.messages().at(-1)!.text, /selection is empty/);
    stub.select(text.indexOf('\n'), text.indexOf('\n') + 1); // only a line break
    assert.equal(await compare(), undefined);
    assert.match(api.messages().at(-1)!.text, /selection is empty/);
    assert.equal(posted().filter((m) => m.type === 'compareText').length, 0);

    stub.select(bStart, text.length - 1);
    const companion = (await compare())!;
    const msg = posted().find((m) => m.type === 'compareText')!;
    assert.equal(msg.runId, companion);
    assert.ok(companion < 0, 'companion ids never collide with the host’s run ids');
    assert.equal(msg.baseRunId, runId);
    assert.equal(msg.text, 'A dog ran in the park today.');
    const expected = tokenize(path.join(repoRoot, 'models', 'lens-gpt'), 'A dog ran in the park today.').map((t) => t.id);
    assert.deepEqual((msg.tokens as { id: number }[]).map((t) => t.id), expected);
    assert.equal(api.lastRun()?.runId, runId, 'the run on show stays the latest');
  });
});
