import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { loadReference, maxAbsDiff } from '../../support/model';
import { getApi, openFile, selectAll, showAttentionRun } from '../helpers';

/**
 * Set by scripts/run-vscode-tests.mjs --coi: VS Code is cross-origin isolated (desktop `--enable-coi`, or code-server
 * opened with ?vscode-coi=3 behind scripts/coi-proxy.mjs). Otherwise the webview is not, as for most users.
 */
const isolated = process.env.ATTENTION_LENS_EXPECT_COI === '1';

describe(`WebAssembly threads in the webview (${isolated ? 'cross-origin isolated' : 'not isolated'})`, () => {
  before(async () => {
    await vscode.workspace.getConfiguration('attentionLens').update('backend', 'wasm', vscode.ConfigurationTarget.Global);
  });
  after(async () => {
    await vscode.workspace.getConfiguration('attentionLens').update('backend', undefined, vscode.ConfigurationTarget.Global);
  });

  it(`the bundled model matches PyTorch to 1e-5 on ${isolated ? 'more than one thread' : 'one thread'}`, async () => {
    const ref = loadReference()[0];
    const editor = await openFile(ref.text, 'threads.txt');
    selectAll(editor);
    const run = await showAttentionRun(await getApi());
    assert.deepEqual(run.tokens.map((t) => t.id), ref.ids, 'the host tokenizes as the reference did');
    assert.equal(run.backendUsed, 'wasm');
    const d = maxAbsDiff((await (await getApi()).attention(run.runId)).data, ref.attention);
    console.log(`    ${run.threads} WebAssembly thread(s); max |Δ| vs PyTorch = ${d.toExponential(2)}`);
    assert.ok(d <= 1e-5, `max |Δ| = ${d}`);
    if (isolated) assert.ok((run.threads ?? 0) > 1, `threads: ${run.threads}`);
    else assert.equal(run.threads, 1);
  });
});
