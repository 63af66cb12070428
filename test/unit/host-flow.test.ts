import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { repoRoot } from '../support/model';
import { buildModel, type NodeSpec } from '../support/onnx-builder';
import { testModelsDir } from '../support/test-models';
import { formatCount, MAX_RUN_TOKENS } from '../../src/host/input';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

const config = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;

type Posted = { type: string; [k: string]: unknown };
const posted = () => stub.state.posted as Posted[];
const lastPosted = (type: string) => [...posted()].reverse().find((m) => m.type === type);
const run = (arg?: unknown) => stub.state.commands.get('attentionLens.showAttention')!(arg) as Promise<number | undefined>;

/** Row i of the four kinds of head the synthetic heads mix: [previous token, first token, uniform, self], each over 0..i. */
type Mix = readonly [prev: number, first: number, uniform: number, self: number];
/**
 * One mixture per head (layer-major), so every head attends differently: pure previous-token, first-token,
 * uniform and self heads in layer 0, mixtures of them in the others. Their divergences differ, which the
 * compare view's matrices and its related-heads order are checked against (computed here, not by the code).
 */
const MIXES: readonly Mix[] = [
  [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
  [0, 0.3, 0.1, 0.6], [0.1, 0.3, 0.1, 0.5], [0.9, 0, 0.1, 0], [0.7, 0.3, 0, 0],
  [0, 0.8, 0.2, 0], [0.4, 0, 0.4, 0.2], [0.2, 0.6, 0.1, 0.1], [0.6, 0.1, 0.3, 0],
];
if (MIXES.length < L * H) throw new Error(`the synthetic heads cover ${MIXES.length} heads, the model has ${L * H}`);

/** Row i (length T, Float64) of a head mixing the four kinds with weights `mix`. */
function mixRow(mix: Mix, i: number, T: number): Float64Array {
  const row = new Float64Array(T);
  row[Math.max(0, i - 1)] += mix[0];
  row[0] += mix[1];
  for (let j = 0; j <= i; j++) row[j] += mix[2] / (i + 1);
  row[i] += mix[3];
  return row;
}

/** The T×T matrix (Float64, row-major) of head `m` (layer * H + head). */
function headMatrix64(m: number, T: number): Float64Array {
  const out = new Float64Array(T * T);
  for (let i = 0; i < T; i++) out.set(mixRow(MIXES[m], i, T), i * T);
  return out;
}

/** A causal attention tensor [L, H, T, T] whose heads are the mixtures of MIXES. */
function causalAttention(T: number): Float32Array {
  const data = new Float32Array(L * H * T * T);
  for (let m = 0; m < L * H; m++) data.set(headMatrix64(m, T), m * T * T);
  return data;
}

/** Jensen–Shannon divergence in bits of two distributions that each sum to 1 (written here, independently of src/). */
function jsdBits(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let d = 0;
  for (let j = 0; j < p.length; j++) {
    const mid = (p[j] + q[j]) / 2;
    if (p[j] > 0) d += 0.5 * p[j] * Math.log(p[j] / mid);
    if (q[j] > 0) d += 0.5 * q[j] * Math.log(q[j] / mid);
  }
  return d / Math.LN2;
}

/** Mean over the T query rows of the row JSD of two T×T matrices. */
function meanJsd(a: Float64Array, b: Float64Array, T: number): number {
  let s = 0;
  for (let i = 0; i < T; i++) s += jsdBits(a.subarray(i * T, (i + 1) * T), b.subarray(i * T, (i + 1) * T));
  return s / T;
}

/**
 * The `k` heads nearest to `target` by mean row JSD, nearest first, leaving out `exclude`; each consecutive
 * pair up to the (k+1)-th differs by more than the tolerance, so the expected order is not decided by rounding.
 */
function expectedNearest(target: Float64Array, T: number, k: number, exclude?: number): { layer: number; head: number; meanJsd: number }[] {
  const all = [];
  for (let m = 0; m < L * H; m++) {
    if (m !== exclude) all.push({ layer: Math.floor(m / H), head: m % H, meanJsd: meanJsd(target, headMatrix64(m, T), T) });
  }
  all.sort((a, b) => a.meanJsd - b.meanJsd);
  for (let r = 1; r <= Math.min(k, all.length - 1); r++) {
    assert.ok(all[r].meanJsd - all[r - 1].meanJsd > 1e-3, `fixture: heads ${r - 1} and ${r} of the expected order are too close to tell apart`);
  }
  assert.ok(all[0].meanJsd > 0.01, 'fixture: the nearest head still differs from the target');
  return all.slice(0, k);
}

/** Plays the panel for run `runId`: its worker holds causalAttention(T), and the result names the stack's shape. */
function answer(runId: number, T: number, extra: Record<string, unknown> = {}): void {
  stub.serveAttention(runId, [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true, data: causalAttention(T) }]);
  stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: { inferenceMs: 1 },
    shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true }], ...extra });
}

describe('host flow against a stubbed VS Code', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];

  before(() => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
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
    assert.deepEqual(done.shapes, [{ kind: 'self', layers: L, heads: H, queries: snap.tokens.length, keys: snap.tokens.length, causal: true }]);
    assert.equal(done.backendUsed, 'wasm');
    // The host holds no stack: the test API asks the panel's worker head by head, and gets back exactly what it computed.
    const att = await api.attention(runId);
    assert.deepEqual(att.data, causalAttention(snap.tokens.length));

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
    // The focused row is asked of the panel's worker; the decorations follow its answer.
    const painted = await until(() => [...stub.state.decorations.values()].reduce((n, r) => n + r.length, 0), 'decorations');
    assert.ok(painted >= 2, `the attended tokens and the focused token are painted (${painted} ranges)`);

    assert.equal(stub.state.hoverProviders.length, 1);
    const doc = (stub.module.window as { activeTextEditor: { document: import('./host-vscode-stub').StubDocument } }).activeTextEditor.document;
    const hover = await stub.state.hoverProviders[0].provideHover(doc, doc.positionAt(snap.documentOffset + snap.tokens[2].start)) as
      { contents: { value: string } };
    assert.match(hover.contents.value, /Token #2 of/);
    assert.deepEqual(lastPosted('editorHover'), { type: 'editorHover', tokenIndex: 2 });
    assert.equal(await stub.state.hoverProviders[0].provideHover(doc, doc.positionAt(0)), undefined, 'outside the analysed text');

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

  it('shows progress in the status bar from the command until the run is answered, before the panel is ready', async () => {
    const window = stub.module.window as Record<string, unknown>;
    const original = window.withProgress;
    const shown: { location: unknown; title: string; messages: string[]; ended: boolean }[] = [];
    window.withProgress = (o: { location: unknown; title: string }, task: (p: { report(v: { message?: string }): void }) => Promise<unknown>) => {
      const entry = { location: o.location, title: o.title, messages: [] as string[], ended: false };
      shown.push(entry);
      return task({ report: (v) => { if (v.message) entry.messages.push(v.message); } }).then((r) => { entry.ended = true; return r; });
    };
    try {
      stub.fromPanel({ type: 'ready' });
      stub.openEditor('The cat sat on the mat.', [[0, 23]]);
      const id = (await run())!;
      const mine = shown.filter((e) => e.title === 'Attention Lens');
      assert.equal(mine.length, 1);
      assert.equal(mine[0].location, (stub.module.ProgressLocation as Record<string, unknown>).Window);
      assert.match(mine[0].messages[0], /^loading .+ and tokenizing…$/);
      assert.match(mine[0].messages.at(-1)!, /^computing attention in the panel \(\d+ tokens\)…$/);
      await new Promise((r) => setImmediate(r));
      assert.equal(mine[0].ended, false, 'still shown while the panel computes');
      answer(id, api.lastRun()!.tokens.length);
      await api.waitForRun(id);
      await new Promise((r) => setImmediate(r));
      assert.equal(mine[0].ended, true, 'gone once the run is answered');
    } finally {
      window.withProgress = original;
    }
  });

  it('shows run errors and wrong-shaped results, and ignores answers to replaced runs', async () => {
    stub.openEditor('Some text to run.', [[0, 17]]);
    const a = (await run())!;
    const b = (await run())!;
    assert.match((await api.waitForRun(a)).error!, /Cancelled/);
    answer(a, api.lastRun()!.tokens.length);
    assert.equal(api.lastRun()!.shapes, undefined, 'the answer to a replaced run is ignored');
    stub.fromPanel({ type: 'runError', runId: b, message: 'This graph has no Softmax node' });
    assert.match((await api.waitForRun(b)).error!, /no Softmax node/);
    assert.equal(api.messages().at(-1)!.kind, 'error');
    const c = (await run())!;
    stub.fromPanel({ type: 'result', runId: c, backendUsed: 'wasm', timings: {},
      shapes: [{ kind: 'self', layers: L, heads: H, queries: 2, keys: 2, causal: true }] });
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
      ['fused', [{ op: 'PackedMultiHeadAttention', domain: 'com.microsoft', inputs: ['input_ids'], outputs: ['y'] }],
        /Attention in this graph is fused into a com\.microsoft PackedMultiHeadAttention node, which has no Softmax to tap, .*Export the model without attention fusion/],
    ];
    for (const [name, nodes, reason] of cases) {
      it(`a graph with no attention Softmax (${name}) fails the run with the reason, and nothing crashes`, async () => {
        const dir = modelFolder(name, nodes);
        stub.state.config.defaultModel = dir;
        stub.openEditor('Some text to look at.', [[0, 21]]);
        const before = shows();
        const id = await run();
        assert.equal(typeof id, 'number', 'the command returns a run id instead of throwing');
        const snap = await api.waitForRun(id);
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
      assert.ok(done.shapes, 'the run completes');
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
      assert.equal(done.shapes![0].layers, L);
    });
  });

  it('reveal only acts on an integer token index inside the run (the index comes from the webview)', async () => {
    const text = 'Reveal one of these tokens.';
    stub.openEditor(text, [[0, text.length]], Uri.file('/tmp/reveal.txt'));
    const id = (await run())!;
    const T = api.lastRun()!.tokens.length;
    answer(id, T);
    await api.waitForRun(id);
    const win = stub.module.window as Record<string, unknown>;
    const realShow = win.showTextDocument as (d: unknown, o: unknown) => Promise<unknown>;
    const revealed: unknown[] = [];
    win.showTextDocument = async (d: unknown, o: { selection?: unknown }) => { revealed.push(o?.selection); return realShow(d, o); };
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    try {
      const before = api.messages().length;
      for (const tokenIndex of ['length', 'constructor', '__proto__', '0', -1, 1.5, T, 1e9, NaN, Infinity, null, undefined, {}, [0]]) {
        stub.fromPanel({ type: 'reveal', runId: id, tokenIndex });
        await settle();
      }
      assert.deepEqual(revealed, [], 'nothing was revealed');
      assert.equal(api.messages().length, before, 'and nothing failed');
      stub.fromPanel({ type: 'reveal', runId: id, tokenIndex: T - 1 });
      await settle();
      assert.equal(revealed.length, 1, 'a valid index reveals its token');
    } finally {
      win.showTextDocument = realShow;
    }
  });

  describe('hard caps that do not trust config.json (issue 11)', () => {
    let tmp: string;
    before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-caps-')); });
    after(() => { delete stub.state.config.defaultModel; fs.rmSync(tmp, { recursive: true, force: true }); });

    it(`a config.json claiming a context of 1e8 still gets at most ${formatCount(MAX_RUN_TOKENS)} tokens of a 3 MB selection, with a notice naming the cap`, async () => {
      const dir = path.join(tmp, 'huge-context');
      fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
      fs.copyFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'onnx', 'model.onnx'), path.join(dir, 'onnx', 'model.onnx'));
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, n_positions: 1e8, n_ctx: 1e8 }));
      stub.state.config.defaultModel = dir;
      const big = 'Every token attends to the tokens before it.\n'.repeat(70_000).slice(0, 3_000_000);
      stub.openEditor(big, [[0, big.length]]);
      const id = (await run())!;
      stub.fromPanel({ type: 'ready' }); // the panel was closed and opened again: its new page is ready
      const snap = api.lastRun()!;
      assert.equal(snap.runId, id);
      assert.equal(snap.error, undefined);
      assert.equal(snap.tokens.length, MAX_RUN_TOKENS);
      assert.ok(snap.text.length < 65_536 && big.startsWith(snap.text));
      const cap = formatCount(MAX_RUN_TOKENS);
      assert.ok(snap.notices[0].startsWith(`Showing the first ${cap} tokens: `), snap.notices[0]);
      assert.match(snap.notices[0], new RegExp(`of 3,000,000 characters, lines 1–\\d+\\. Attention Lens analyses at most ${cap} tokens per run, whatever the model's context; "attentionLens\\.maxTokens" can lower that\\.`));
      const show = lastPosted('show')!;
      assert.equal(show.runId, id);
      assert.equal((show.model as { maxTokens: number }).maxTokens, MAX_RUN_TOKENS);
      assert.equal((show.tokens as unknown[]).length, MAX_RUN_TOKENS);
    });

    it('a selection over 65,536 characters is read only that far, with a notice, even when its tokens would fit', async () => {
      // One 300,000-character word is one [UNK] token for WordPiece, so the token limit never cuts it; a run of
      // 200,000 'Ω' exhausts the stack in the tokenizer library (from about 125,000) unless it is clipped first.
      for (const [model, text] of [['tiny-bert', 'a'.repeat(300_000)], ['tiny-t5', 'Ω'.repeat(200_000)]]) {
        stub.state.config.defaultModel = path.join(testModelsDir, model);
        stub.openEditor(text, [[0, text.length]]);
        await run();
        const snap = api.lastRun()!;
        assert.equal(snap.error, undefined, snap.error);
        assert.equal(snap.text.length, 65_536, model);
        assert.deepEqual(snap.notices, [`Showing the first 65,536 of ${formatCount(text.length)} characters: Attention Lens reads at most ` +
          '65,536 characters of a selection per run. Select less text to see the rest.'], model);
      }
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

  it('shows a refusal where the user looks: a banner in the open panel, a mark after the selection when the panel is closed', async () => {
    type Mark = { range: { start: { line: number; character: number } }; hoverMessage: string; renderOptions: { after: { contentText: string } } };
    const marks = () => [...stub.state.decorations].filter(([t]) => (t as { options?: { after?: unknown } }).options?.after)
      .flatMap(([, r]) => r as unknown as Mark[]);
    // The panel is open (the test above ran again): a whitespace-only selection is refused in a banner there too.
    stub.fromPanel({ type: 'ready' });
    stub.openEditor('  \t  ', [[0, 5]]);
    assert.equal(await run(), undefined);
    const banner = lastPosted('refusal');
    assert.match(String(banner?.message), /only whitespace, so there is nothing to analyse: select some text and run "Attention Lens: Show Attention" again/);
    assert.equal(banner!.message, api.messages().at(-1)!.text, 'the banner says what the toast says');
    assert.equal(marks().length, 0, 'no mark in the editor while the panel is on screen');

    // The panel closed: binary data is refused next to the selection (end of the line the selection ends on), with the fix.
    stub.closePanel();
    const postsBefore = posted().length;
    const text = 'Header line\nPK\u0003\u0004\u0000\u0000\u0001\u0002 data\nlast';
    stub.openEditor(text, [[12, 24]]);
    assert.equal(await run(), undefined);
    const [mark] = marks();
    assert.ok(mark, 'a mark next to the selection');
    assert.match(api.messages().at(-1)!.text, /binary/);
    assert.equal(mark.hoverMessage, api.messages().at(-1)!.text, 'the whole message on hover');
    assert.ok(mark.renderOptions.after.contentText.startsWith('⚠ Attention Lens: The selection looks like binary data'), mark.renderOptions.after.contentText);
    assert.deepEqual([mark.range.start.line, mark.range.start.character], [1, text.split('\n')[1].length]);
    assert.equal(posted().length, postsBefore, 'nothing is sent to a closed panel');
    stub.select(0, 6);
    assert.equal(marks().length, 0, 'moving the selection takes the mark away');

    // A model that cannot load, with the panel closed: the error is marked there too; the next good run clears it.
    stub.state.config.defaultModel = '/nonexistent/model-folder';
    try {
      stub.openEditor('Some text.', [[0, 10]]);
      await api.waitForRun(await run());
      assert.match(marks()[0]?.hoverMessage ?? '', /cannot load its model.*\/nonexistent\/model-folder does not exist/);
    } finally {
      delete stub.state.config.defaultModel;
    }
    await run();
    assert.equal(marks().length, 0, 'a run that starts clears the mark');
  });

  it('opens the panel before the model loads and tells it to prepare; a model that fails closes that panel again', async () => {
    stub.closePanel();
    const created = stub.state.panelsCreated;
    stub.openEditor('The cat sat on the mat.', [[0, 23]]);
    const pending = run();
    assert.equal(stub.state.panelsCreated, created + 1, 'the panel exists before the model has loaded');
    stub.fromPanel({ type: 'ready' });
    const prepare = lastPosted('prepare');
    assert.deepEqual(prepare, { type: 'prepare', modelName: 'lens-gpt (bundled)', backend: 'auto' }, 'posted while the host loads');
    const runId = (await pending)!;
    const types = posted().map((m) => m.type);
    assert.ok(types.lastIndexOf('prepare') < types.lastIndexOf('show'), 'the show follows');
    answer(runId, api.lastRun()!.tokens.length);
    await api.waitForRun(runId);

    stub.closePanel();
    stub.state.config.defaultModel = '/nonexistent/model-folder';
    try {
      await api.waitForRun((await run()));
      assert.equal(stub.state.panelsCreated, created + 2, 'opened early');
      assert.match(api.lastRun()!.error!, /cannot load its model/);
      stub.fromPanel({ type: 'ready' });
      assert.equal(lastPosted('show')?.runId, runId, 'a panel that is gone got no show');
    } finally {
      delete stub.state.config.defaultModel;
    }
  });
});

describe('host flow: restore after reload, compare view', () => {
  let api: AttentionLensApi;
  before(() => {
    api = extension.activate(extensionContext(stub, [], Uri.file(repoRoot)));
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

  it('a restored defaultModel ("/") becomes a resource root only after it loads as a model folder', async () => {
    type RestoredPanel = { webview: { options: { localResourceRoots?: { toString(): string }[] } } };
    const rootsOf = (p: RestoredPanel) => (p.webview.options.localResourceRoots ?? []).map(String);
    const base = ['dist', 'media'].map((d) => `file://${path.join(repoRoot, d)}`);
    stub.openEditor('Restore me on another model.', [[0, 28]], Uri.file('/tmp/restore-root.txt'));
    await stub.state.commands.get('attentionLens.showAttention')!();
    stub.state.config.defaultModel = '/';
    try {
      const restored = stub.restoredPanel() as RestoredPanel;
      await stub.state.serializer!.deserializeWebviewPanel(restored, undefined);
      assert.deepEqual(rootsOf(restored), base, 'only dist/ and media/: "/" was not checked yet, and fails its check');
      assert.match(api.lastRun()!.error!, /^Attention Lens cannot load its model: config\.json is missing in the model folder \/\./);
    } finally {
      delete stub.state.config.defaultModel;
    }
    const restored = stub.restoredPanel() as RestoredPanel;
    await stub.state.serializer!.deserializeWebviewPanel(restored, undefined);
    assert.deepEqual(rootsOf(restored), [...base, `file://${path.join(repoRoot, 'models', 'lens-gpt')}`], 'the bundled model, once loaded');
    assert.equal(api.lastRun()!.error, undefined);
    stub.fromPanel({ type: 'ready' });
  });

  it('the compare view gets [pinned, T, T] matrices after ready, and handles unpin', async () => {
    const { view, posted: viewPosts, send } = stub.compareView();
    stub.state.viewProvider!.resolveWebviewView(view);
    assert.match((view as { webview: { html: string } }).webview.html, /Compare heads/);
    send({ type: 'ready' });
    assert.equal((await until(() => viewPosts.at(-1) as { type: string } | undefined, 'a message')).type, 'clear', 'no result yet');
    stub.openEditor('Compare these heads.', [[0, 20]]);
    const id = (await stub.state.commands.get('attentionLens.showAttention')!()) as number;
    const T = api.lastRun()!.tokens.length;
    answer(id, T);
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: 0, head: 0 });
    await stub.state.commands.get('attentionLens.pinHead')!({ layer: L - 1, head: 'mean' });
    type Related = { head: { stack: string; layer: number; head: number }; meanJsd: number }[][];
    type CompareMsg = { type: string; pinned: unknown[]; matrices: ArrayBuffer; tokens: unknown[]; related: Related };
    // The matrices and nearest heads are asked of the panel's worker: the view gets them once answered.
    const msg = await until(() => viewPosts.find((p) => (p as CompareMsg).pinned?.length === 2) as CompareMsg | undefined, 'the compare message');
    assert.equal(msg.type, 'compare');
    assert.deepEqual(msg.pinned, [{ stack: 'self', layer: 0, head: 0 }, { stack: 'self', layer: L - 1, head: 'mean' }]);
    assert.equal(msg.tokens.length, T);
    assert.equal(msg.matrices.byteLength, 2 * T * T * 4);
    // The matrices are the pinned heads': L0 H0 (previous token) and the mean of the last layer's heads, built here from MIXES.
    const prevHead = headMatrix64(0, T);
    const lastMean = new Float64Array(T * T);
    for (let h = 0; h < H; h++) headMatrix64((L - 1) * H + h, T).forEach((v, k) => { lastMean[k] += v / H; });
    const m = new Float32Array(msg.matrices);
    const closeTo = (got: Float32Array, want: Float64Array, what: string) => {
      const k = got.findIndex((v, q) => !(Math.abs(v - want[q]) <= 1e-6));
      assert.equal(k, -1, `${what}: cell (${Math.floor(k / T)}, ${k % T}) is ${got[k]}, want ${want[k]}`);
    };
    closeTo(m.subarray(0, T * T), prevHead, 'pinned L0 H0');
    closeTo(m.subarray(T * T, 2 * T * T), lastMean, `pinned L${L - 1} mean`);
    // Related heads: per pinned head, the RELATED_HEADS (4) nearest others by mean row JSD, nearest first, the head itself left out.
    const related = (r: Related[number]) => r.map((x) => ({ stack: x.head.stack, layer: x.head.layer, head: x.head.head, meanJsd: x.meanJsd }));
    const expectRelated = (got: Related[number], want: ReturnType<typeof expectedNearest>, what: string) => {
      assert.deepEqual(related(got).map(({ layer, head }) => `L${layer} H${head}`), want.map(({ layer, head }) => `L${layer} H${head}`), `${what}: order`);
      got.forEach((r, k) => {
        assert.equal(r.head.stack, 'self');
        assert.ok(Math.abs(r.meanJsd - want[k].meanJsd) <= 1e-5, `${what}: L${r.head.layer} H${r.head.head} mean JSD ${r.meanJsd}, want ${want[k].meanJsd}`);
      });
    };
    assert.equal(msg.related.length, 2);
    expectRelated(msg.related[0], expectedNearest(prevHead, T, 4, 0), 'related to L0 H0');
    expectRelated(msg.related[1], expectedNearest(lastMean, T, 4), `related to L${L - 1} mean`);

    send({ type: 'unpin', head: { stack: 'self', layer: 0, head: 0 } });
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: L - 1, head: 'mean' }]);
    send({ type: 'focusHead', head: { stack: 'self', layer: L - 1, head: 'mean' } });
    assert.deepEqual(lastPosted('focusHead'), { type: 'focusHead', head: { stack: 'self', layer: L - 1, head: 'mean' } });
    const afterUnpin = await until(() => { const p = viewPosts.at(-1) as CompareMsg; return p.pinned?.length === 1 && p; }, 'the compare message after the unpin');
    assert.deepEqual(afterUnpin.pinned, [{ stack: 'self', layer: L - 1, head: 'mean' }]);
    assert.equal(afterUnpin.related.length, 1);
    expectRelated(afterUnpin.related[0], expectedNearest(lastMean, T, 4), `related to L${L - 1} mean after the unpin`);
    send({ type: 'pin', head: { stack: 'self', layer: 0, head: 1 } });
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: L - 1, head: 'mean' }, { stack: 'self', layer: 0, head: 1 }]);
  });
});
