/**
 * "Insert into document" under a generation, against a stubbed VS Code: the host writes the text the generated ids
 * spell after the run's text, and nothing on request it must refuse. The known answer comes from the document itself:
 * the run analyses a prefix of a sentence, and the "generated" ids are the bundled tokenizer's ids of the rest of it
 * (read here with the test tokenizer), so inserting them must give back the whole sentence.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { tokenize } from '../browser/browser';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

type Posted = { type: string; [k: string]: unknown };
const posted = () => stub.state.posted as Posted[];
const show = () => stub.state.commands.get('attentionLens.showAttention')!() as Promise<number | undefined>;

describe('Insert generated text into the document (host, stubbed VS Code)', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const sentence = 'The cat sat on the mat. The cat sat on the mat again.';
  const all = tokenize(path.join(repoRoot, 'models', 'lens-gpt'), sentence);
  const k = all.findIndex((t) => t.start >= sentence.indexOf('mat again'));
  const prefix = sentence.slice(0, all[k].start);
  const rest = all.slice(k).map((t) => t.id);
  const tail = '\nNext line stays.\n';

  before(() => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
  });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('writes what the ids spell right after the analysed text, and only for the latest, unchanged run', async () => {
    const doc = stub.openEditor(prefix + tail, [[0, prefix.length]], Uri.file('/tmp/gen.txt'));
    const runId = (await show())!;
    stub.fromPanel({ type: 'ready' });
    await until(() => posted().find((m) => m.type === 'show' && m.runId === runId), 'show');
    const T = (posted().find((m) => m.type === 'show' && m.runId === runId)!.tokens as unknown[]).length;
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: { inferenceMs: 1 },
      shapes: [{ kind: 'self', layers: 3, heads: 4, queries: T, keys: T, causal: true }] });
    await api.waitForRun(runId);
    assert.ok(rest.length > 1 && sentence[all[k].start] === ' ', `the first inserted token brings its own space: "${prefix}" | ${rest.length} ids`);

    stub.fromPanel({ type: 'insertGenerated', runId: runId + 1, tokens: rest });
    await until(() => api.messages().find((m) => /Only the latest run/.test(m.text)), 'refusal of another run');
    assert.equal(doc.text, prefix + tail, 'nothing written for a run that is not on show');

    stub.fromPanel({ type: 'insertGenerated', runId, tokens: rest });
    await until(() => api.messages().find((m) => /Inserted \d+ generated tokens/.test(m.text)), 'the insertion');
    assert.equal(doc.text, sentence + tail);

    // The document changed (by the insertion itself): a second insert has no place to go.
    stub.fromPanel({ type: 'insertGenerated', runId, tokens: rest });
    await until(() => api.messages().find((m) => /document changed after this run/.test(m.text)), 'refusal after a change');
    assert.equal(doc.text, sentence + tail);
  });
});
