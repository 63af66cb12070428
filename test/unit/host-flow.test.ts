import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { buildModel, type NodeSpec } from '../support/onnx-builder';
import { installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
// eslint-disable-next-line @typescript-eslint/no-var-requires
const extension = require('../../src/extension') as typeof import('../../src/extension');

const config = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;

type Posted = { type: string; [k: string]: unknown };
const posted = () => stub.state.posted as Posted[];
const lastPosted = (type: string) => [...posted()].reverse().find((m) => m.type === type);
const run = (arg?: unknown) => stub.state.commands.get('attentionLens.showAttention')!(arg) as Promise<number | undefined>;

/** A causal attention tensor: query i attends uniformly to tokens 0..i (head h adds a tilt to tell heads apart). */
function causalAttention(T: number): Float32Array {
  const data = new Float32Array(L * H * T * T);
  for (let m = 0; m < L * H; m++) {
    for (let i = 0; i < T; i++) {
      const row = m * T * T + i * T;
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += j + 1;
      for (let j = 0; j <= i; j++) data[row + j] = (j + 1) / sum;
    }
  }
  return data;
}

function answer(runId: number, T: number, extra: Record<string, unknown> = {}): void {
  stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: { inferenceMs: 1 },
    attention: { kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true, data: causalAttention(T).buffer }, ...extra });
}

describe('host flow against a stubbed VS Code', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];

  before(() => {
    const state = stub.state.workspaceState;
    api = extension.activate({
      subscriptions, extensionUri: Uri.file(repoRoot),
      workspaceState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => { state.set(k, v); } },
    } as never);
  });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('registers the commands and returns the API', () => {
    for (const id of ['attentionLens.showAttention', 'attentionLens.selectModel', 'attentionLens.pinHead', 'attentionLens.clearPinned']) {
      assert.ok(stub.state.commands.has(id), id);
    }
    for (const fn of ['lastRun', 'waitForRun', 'messages', 'focus', 'pinnedHeads'] as const) assert.equal(typeof api[fn], 'function');
    assert.equal(api.lastRun(), undefined);
  });

  it('refuses with a message when there is no editor', async () => {
    stub.noEditor();
    assert.equal(await run(), undefined);
    assert.match(api.messages().at(-1)!.text, /no active text editor/i);
  });

  it('runs on the selection: queues show until ready, stores the result, reuses the panel', async () => {
    const text = 'Header.\nThe cat sat on the mat.\n';
    const start = text.indexOf('The');
    const doc = stub.openEditor(text, [[start, text.length - 1]], Uri.file('/tmp/cat.txt'));
    const runId = (await run())!;
    assert.equal(typeof runId, 'number');
    assert.equal(stub.state.panelsCreated, 1);
    assert.equal(posted().length, 0, 'nothing is posted before the webview is ready');
    assert.match(stub.state.html.at(-1)!, /Content-Security-Policy/);
    stub.fromPanel({ type: 'ready' });
    const show = lastPosted('show')!;
    assert.equal(show.runId, runId);
    assert.equal(show.text, 'The cat sat on the mat.');
    assert.deepEqual(show.notices, []);
    const model = show.model as { onnxUri: string; maxTokens: number; extraInputs: string[] };
    assert.match(model.onnxUri, /model\.onnx$/);
    assert.equal(model.maxTokens, config.n_positions);
    const snap = api.lastRun()!;
    assert.equal(snap.documentUri, doc.uri.toString());
    assert.equal(snap.documentOffset, start);

    const waiting = api.waitForRun(runId);
    answer(runId, snap.tokens.length);
    const done = await waiting;
    assert.equal(done.attention!.data.length, L * H * snap.tokens.length ** 2);
    assert.equal(done.backendUsed, 'wasm');

    const again = (await run())!;
    assert.equal(stub.state.panelsCreated, 1, 'the panel is reused');
    assert.equal(lastPosted('show')!.runId, again, 'posted at once: the webview is ready');
    answer(again, api.lastRun()!.tokens.length);
    await api.waitForRun(again);
  });

  it('focus paints decorations, hover explains a token, pins reach the compare list', async () => {
    const snap = api.lastRun()!;
    const T = snap.tokens.length;
    const head = { stack: 'self', layer: L - 1, head: 'mean' };
    stub.fromPanel({ type: 'focus', runId: snap.runId, tokenIndex: T - 1, head });
    assert.deepEqual(api.focus(), { tokenIndex: T - 1, head });
    const painted = [...stub.state.decorations.values()].reduce((n, r) => n + r.length, 0);
    assert.ok(painted >= 2, `the attended tokens and the focused token are painted (${painted} ranges)`);

    assert.equal(stub.state.hoverProviders.length, 1);
    const doc = (stub.module.window as { activeTextEditor: { document: import('./host-vscode-stub').StubDocument } }).activeTextEditor.document;
    const hover = stub.state.hoverProviders[0].provideHover(doc, doc.positionAt(snap.documentOffset + snap.tokens[2].start)) as
      { contents: { value: string } };
    assert.match(hover.contents.value, /Token 3 of/);
    assert.deepEqual(lastPosted('editorHover'), { type: 'editorHover', tokenIndex: 2 });
    assert.equal(stub.state.hoverProviders[0].provideHover(doc, doc.positionAt(0)), undefined, 'outside the analysed text');

    stub.fromPanel({ type: 'pinHead', head: { stack: 'self', layer: 0, head: 1 } });
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: 0, head: 'mean' });
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: 99, head: 0 });
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: 0, head: 1 }, { stack: 'self', layer: 0, head: 'mean' }]);
    assert.match(api.messages().at(-1)!.text, /does not exist/);
    await stub.state.commands.get('attentionLens.clearPinned')!();
    assert.deepEqual(api.pinnedHeads(), []);
  });

  it('an edit marks the run stale, clears decorations and tells the panel', () => {
    const snap = api.lastRun()!;
    const doc = (stub.module.window as { activeTextEditor: { document: import('./host-vscode-stub').StubDocument } }).activeTextEditor.document;
    stub.edit(doc, `Now ${doc.text}`);
    assert.equal(api.lastRun()!.stale, true);
    assert.equal(api.lastRun()!.runId, snap.runId);
    assert.ok(lastPosted('stale'));
    assert.equal([...stub.state.decorations.values()].reduce((n, r) => n + r.length, 0), 0);
  });

  it('no selection uses the current line; several cursors use the primary one; both with notices', async () => {
    stub.openEditor('first\nsecond line here\nthird', [[9, 9]]);
    const a = (await run())!;
    assert.equal(api.lastRun()!.text, 'second line here');
    assert.match(api.lastRun()!.notices[0], /current line \(line 2\)/);
    answer(a, api.lastRun()!.tokens.length);
    stub.openEditor('alpha beta\ngamma delta', [[11, 16], [0, 5]]);
    await run();
    assert.equal(api.lastRun()!.text, 'gamma');
    assert.match(api.lastRun()!.notices[0], /2 selections/);
  });

  it('cuts 50,000 characters to the context with a notice naming what was kept', async () => {
    const big = 'Every token attends to the tokens before it.\n'.repeat(1200).slice(0, 50_000);
    stub.openEditor(big, [[0, big.length]]);
    await run();
    const snap = api.lastRun()!;
    assert.equal(snap.tokens.length, config.n_positions);
    assert.ok(big.startsWith(snap.text));
    assert.match(snap.notices[0], new RegExp(`^Showing the first ${config.n_positions} tokens: [\\d,]+ of 50,000 characters, lines 1–\\d+\\.$`));
  });

  it('refuses empty, whitespace-only, binary and output documents with messages', async () => {
    const cases: [string, [number, number][], RegExp, Uri?][] = [
      ['', [[0, 0]], /document is empty/],
      ['  \n\t \n ', [[0, 7]], /only whitespace/],
      ['PK\u0003\u0004\u0000\u0000abc', [[0, 9]], /binary/],
      ['[info] output', [[0, 6]], /works on text editors/, Uri.parse('output:extension-output-1')],
    ];
    for (const [text, sels, re, uri] of cases) {
      const before = api.lastRun()?.runId;
      stub.openEditor(text, sels, uri);
      assert.equal(await run(), undefined, re.source);
      assert.equal(api.lastRun()?.runId, before, 'no run started');
      assert.match(api.messages().at(-1)!.text, re);
    }
    stub.openEditor('a', [[0, 1]]);
    const one = (await run())!;
    assert.equal(api.lastRun()!.tokens.length, 1, 'one character runs with one token');
    answer(one, 1);
  });

  it('shows run errors and wrong-shaped results, and ignores answers to replaced runs', async () => {
    stub.openEditor('Some text to run.', [[0, 17]]);
    const a = (await run())!;
    const b = (await run())!;
    assert.match((await api.waitForRun(a)).error!, /Cancelled/);
    answer(a, api.lastRun()!.tokens.length);
    assert.equal(api.lastRun()!.attention, undefined, 'the answer to a replaced run is ignored');
    stub.fromPanel({ type: 'runError', runId: b, message: 'This graph has no Softmax node' });
    assert.match((await api.waitForRun(b)).error!, /no Softmax node/);
    assert.equal(api.messages().at(-1)!.kind, 'error');
    const c = (await run())!;
    stub.fromPanel({ type: 'result', runId: c, backendUsed: 'wasm', timings: {},
      attention: { kind: 'self', layers: L, heads: H, queries: 2, keys: 2, causal: true, data: new ArrayBuffer(8) } });
    assert.match((await api.waitForRun(c)).error!, /wrong shape/);
  });

  it('a missing model folder is an error naming the folder and what to do', async () => {
    stub.state.config.defaultModel = '/nonexistent/model-folder';
    try {
      stub.openEditor('Some text.', [[0, 10]]);
      const id = (await run())!;
      const snap = await api.waitForRun(id);
      assert.match(snap.error!, /\/nonexistent\/model-folder does not exist.*Select Model/);
      assert.equal(api.messages().at(-1)!.kind, 'error');
    } finally {
      delete stub.state.config.defaultModel;
    }
  });

  describe('model folders the tap cannot use, or uses with a warning, through the real loading path', () => {
    let tmp: string;
    before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-flow-')); });
    after(() => { delete stub.state.config.defaultModel; fs.rmSync(tmp, { recursive: true, force: true }); });

    /** A folder with the bundled model's config.json and tokenizer.json and a hand-built graph reading input_ids. */
    function modelFolder(name: string, nodes: NodeSpec[]): string {
      const dir = path.join(tmp, name);
      fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(repoRoot, 'models', 'lens-gpt', f), path.join(dir, f));
      fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), buildModel(nodes, ['input_ids'], ['y']));
      return dir;
    }
    const shows = () => posted().filter((m) => m.type === 'show').length;

    const cases: [string, NodeSpec[], RegExp][] = [
      ['no-softmax', [{ op: 'Relu', inputs: ['input_ids'], outputs: ['y'] }],
        /This graph has no Softmax node, so there are no attention probabilities to tap\./],
      ['fused', [{ op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['input_ids'], outputs: ['y'] }],
        /Attention in this graph is fused into a com\.microsoft MultiHeadAttention node, which has no Softmax to tap\. Export the model without attention fusion/],
    ];
    for (const [name, nodes, reason] of cases) {
      it(`a graph with no attention Softmax (${name}) fails the run with the reason, and nothing crashes`, async () => {
        const dir = modelFolder(name, nodes);
        stub.state.config.defaultModel = dir;
        stub.openEditor('Some text to look at.', [[0, 21]]);
        const before = shows();
        const id = await run();
        assert.equal(typeof id, 'number', 'the command returns a run id instead of throwing');
        const snap = await api.waitForRun(id!);
        assert.ok(snap.error!.startsWith(`Attention Lens cannot load its model: onnx${path.sep}model.onnx in ${dir} cannot be tapped: `), snap.error);
        assert.match(snap.error!, reason);
        assert.match(snap.error!, /pick another model with "Attention Lens: Select Model"/);
        assert.deepEqual(api.messages().at(-1), { kind: 'error', text: snap.error });
        assert.equal(shows(), before, 'nothing was sent to the panel to run');
        assert.ok(!api.messages().some((m) => /failed: .*report the problem/.test(m.text)), 'no command failed with an exception');
      });
    }

    it('a graph whose Softmaxes fix no layer order runs, with a warning naming them shown once', async () => {
      stub.state.config.defaultModel = modelFolder('parallel', [
        { op: 'Softmax', inputs: ['input_ids'], outputs: ['left'] }, { op: 'Softmax', inputs: ['input_ids'], outputs: ['right'] },
        { op: 'Add', inputs: ['left', 'right'], outputs: ['y'] }]);
      const warned = () => api.messages().filter((m) => m.kind === 'warning' && /"left" and "right" do not depend on each other/.test(m.text));
      stub.openEditor('Some text to look at.', [[0, 21]]);
      const id = (await run())!;
      assert.equal(api.lastRun()!.runId, id);
      answer(id, api.lastRun()!.tokens.length);
      const done = await api.waitForRun(id);
      assert.equal(done.error, undefined, 'the model is not refused');
      assert.ok(done.attention, 'the run completes');
      assert.equal(warned().length, 1);
      assert.match(warned()[0].text, /^onnx\/model\.onnx in .*parallel: .*layer numbers may not match/);
      assert.ok(api.lastRun()!.notices.some((n) => /layer numbers may not match/.test(n)),
        'the run, and so the panel, lists the warning');
      await run();
      assert.equal(warned().length, 1, 'not repeated on every run');
    });

    it('the bundled model runs again afterwards', async () => {
      delete stub.state.config.defaultModel;
      stub.openEditor('Back to the bundled model.', [[0, 26]]);
      const id = (await run())!;
      answer(id, api.lastRun()!.tokens.length);
      const done = await api.waitForRun(id);
      assert.equal(done.error, undefined);
      assert.equal(done.attention!.layers, L);
    });
  });

  it('closing the panel clears decorations and the hover', async () => {
    stub.openEditor('Close the panel after this.', [[0, 27]]);
    const id = (await run())!;
    answer(id, api.lastRun()!.tokens.length);
    assert.equal(stub.state.hoverProviders.length, 1);
    stub.closePanel();
    assert.equal(stub.state.hoverProviders.length, 0);
    assert.equal([...stub.state.decorations.values()].reduce((n, r) => n + r.length, 0), 0);
    await run();
    assert.equal(stub.state.panelsCreated, 2, 'a closed panel is created again');
  });
});

describe('host flow: restore after reload, compare view', () => {
  let api: AttentionLensApi;
  before(() => {
    const state = stub.state.workspaceState;
    api = extension.activate({
      subscriptions: [], extensionUri: Uri.file(repoRoot),
      workspaceState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => { state.set(k, v); } },
    } as never);
  });

  it('the serializer rebuilds the panel and re-runs the last request on the same text', async () => {
    const text = 'Restore me after a reload.';
    stub.openEditor(text, [[8, text.length]], Uri.file('/tmp/restore.txt'));
    const first = (await stub.state.commands.get('attentionLens.showAttention')!()) as number;
    assert.equal(api.lastRun()!.runId, first);
    stub.state.posted.length = 0;
    await stub.state.serializer!.deserializeWebviewPanel(stub.restoredPanel(), undefined);
    assert.ok(api.lastRun()!.runId > first, 'a new run');
    assert.equal(api.lastRun()!.text, text.slice(8));
    assert.match(api.lastRun()!.notices.join(' '), /Restored after a reload/);
    stub.fromPanel({ type: 'ready' });
    assert.equal(lastPosted('show')!.runId, api.lastRun()!.runId);
  });

  it('restoring with the document gone shows an error in the panel', async () => {
    stub.state.workspaceState.set('attentionLens.lastRequest', { uri: 'untitled:Gone-1', start: 0, end: 3, fingerprint: 'x' });
    stub.state.posted.length = 0;
    const before = api.lastRun()?.runId;
    await stub.state.serializer!.deserializeWebviewPanel(stub.restoredPanel(), undefined);
    stub.fromPanel({ type: 'ready' });
    assert.match(String(lastPosted('error')?.message), /no longer available/);
    assert.equal(api.lastRun()?.runId, before);
  });

  it('the compare view gets [pinned, T, T] matrices after ready, and handles unpin', async () => {
    const { view, posted: viewPosts, send } = stub.compareView();
    stub.state.viewProvider!.resolveWebviewView(view);
    assert.match((view as { webview: { html: string } }).webview.html, /Compare heads/);
    send({ type: 'ready' });
    assert.equal((viewPosts.at(-1) as { type: string }).type, 'clear', 'no result yet');
    stub.openEditor('Compare these heads.', [[0, 20]]);
    const id = (await stub.state.commands.get('attentionLens.showAttention')!()) as number;
    const T = api.lastRun()!.tokens.length;
    answer(id, T);
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: 0, head: 0 });
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: L - 1, head: 'mean' });
    const msg = viewPosts.at(-1) as { type: string; pinned: unknown[]; matrices: ArrayBuffer; tokens: unknown[] };
    assert.equal(msg.type, 'compare');
    assert.equal(msg.pinned.length, 2);
    assert.equal(msg.tokens.length, T);
    assert.equal(msg.matrices.byteLength, 2 * T * T * 4);
    const m = new Float32Array(msg.matrices);
    assert.ok(Math.abs(m[T * T + (T - 1) * T] - 1 / ((T * (T + 1)) / 2)) < 1e-6, 'mean head row of the last token');
    send({ type: 'unpin', head: { stack: 'self', layer: 0, head: 0 } });
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: L - 1, head: 'mean' }]);
    send({ type: 'focusHead', head: { stack: 'self', layer: L - 1, head: 'mean' } });
    assert.deepEqual(lastPosted('focusHead'), { type: 'focusHead', head: { stack: 'self', layer: L - 1, head: 'mean' } });    // Related heads: per pinned head, the nearest others by mean JSD, nearest first; 'pin' from the view pins one.
    const rel = (viewPosts.at(-1) as { related: { head: { layer: number; head: number }; meanJsd: number }[][] }).related;
    assert.equal(rel.length, 1);
    assert.ok(rel[0].length > 0 && rel[0].every((r, k) => k === 0 || r.meanJsd >= rel[0][k - 1].meanJsd));
    send({ type: 'pin', head: { stack: 'self', layer: 0, head: 1 } });
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: L - 1, head: 'mean' }, { stack: 'self', layer: 0, head: 1 }]);
  });
});
