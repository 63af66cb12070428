import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { headMetrics, hasRepeat, type HeadMetricValues } from '../../src/shared/head-labels';
import { bundledModelDir, readBundledOnnx, repoRoot } from '../support/model';
import { openTapped, runTapped, type TappedSession } from '../support/run-tapped';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');
const { revealWindow, showHeadAnalysis } = require('../../src/host/analyse-heads') as typeof import('../../src/host/analyse-heads');
type HeadAnalysis = import('../../src/host/analyse-heads').HeadAnalysis;
const ort = require('onnxruntime-node');

const WINDOW = 24;
/** The fixture: the first lines of the bundled model's held-out text, a few windows of WINDOW tokens. */
const TEXT = fs.readFileSync(path.join(bundledModelDir, 'reference', 'heldout.txt'), 'utf8').slice(0, 600);
const METRICS = ['entropy', 'previousToken', 'sink', 'self', 'distance', 'duplicate'] as const;

type Show = { type: 'show'; runId: number; tokens: { id: number }[] };
type Window = { stop?: boolean; progress: { report(v: unknown): void }; token: { isCancellationRequested: boolean } };
const analyse = (arg?: unknown) => stub.state.commands.get('attentionLens.analyseHeads')!(arg) as Promise<HeadAnalysis | undefined>;

describe('Analyse Heads Across File (stubbed VS Code, the bundled model in onnxruntime-node)', function () {
  this.timeout(120000);
  const subscriptions: { dispose(): unknown }[] = [];
  let session: TappedSession;
  let serving = true;
  /** Plays the panel: every 'show' is run in onnxruntime-node and its attention served to the host's queries. */
  const served = new Map<number, HeadMetricValues[]>();
  async function servePanel(): Promise<void> {
    while (serving) {
      const show = await stub.nextPosted('show') as Show;
      const ids = show.tokens.map((t) => t.id);
      const { attention } = await runTapped(ort, session, ids);
      // Computed here, directly on the window's attention, independently of the worker's store.
      const rep = hasRepeat(ids);
      served.set(show.runId, Array.from({ length: attention.layers * attention.heads }, (_, k) =>
        headMetrics(attention, Math.floor(k / attention.heads), k % attention.heads, ids, rep)));
      stub.serveAttention(show.runId, [attention]);
      const { layers, heads, queries, keys, causal } = attention;
      stub.fromPanel({ type: 'result', runId: show.runId, backendUsed: 'wasm', timings: {}, shapes: [{ kind: 'self', layers, heads, queries, keys, causal }] });
    }
  }
  const window = stub.module.window as Record<string, unknown>;
  const plainProgress = window.withProgress;
  const plainQuickPick = window.showQuickPick;
  let doc: ReturnType<VscodeStub['openEditor']>;

  before(async () => {
    session = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
    extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
    stub.state.config.maxTokens = WINDOW;
    doc = stub.openEditor(TEXT, [[0, 0]], Uri.file('/tmp/heldout.txt'));
    void servePanel();
  });
  after(() => {
    serving = false;
    for (const d of subscriptions) d.dispose();
    delete stub.state.config.maxTokens;
    window.withProgress = plainProgress;
    window.showQuickPick = plainQuickPick;
  });

  let analysis: HeadAnalysis;
  it('cuts the whole file into windows of the token limit, in order, covering the text', async () => {
    const pending = analyse();
    await until(() => stub.state.panelsCreated > 0, 'the panel opened');
    stub.fromPanel({ type: 'ready' });
    analysis = (await pending)!;
    assert.ok(!analysis.cancelled);
    assert.ok(analysis.windows.length >= 4, `${analysis.windows.length} windows`);
    let at = 0;
    for (const w of analysis.windows) {
      assert.equal(w.start, at, 'each window starts where the previous one ended');
      assert.ok(w.ids.length > 0 && w.ids.length <= WINDOW, `${w.ids.length} tokens`);
      at = w.end;
    }
    assert.equal(TEXT.slice(at).trim(), '', 'the windows reach the end of the text');
    assert.equal(analysis.windows.slice(0, -1).filter((w) => w.ids.length !== WINDOW).length, 0, 'every window but the last is full');
  });

  it('gives each head the mean of the per-window metrics computed directly on onnxruntime-node\'s attention (1e-6)', () => {
    const direct = analysis.windows.map((w) => served.get(w.runId)!);
    assert.equal(direct.length, analysis.windows.length);
    for (const [k, row] of analysis.rows.entries()) {
      for (const m of METRICS) {
        const values = direct.map((d) => d[k][m]).filter((v): v is number => v !== null);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
        const got = row.metrics[m];
        if (values.length === 0) { assert.equal(got, null); continue; }
        assert.ok(got && Math.abs(got.mean - mean) <= 1e-6, `L${row.layer} H${row.head} ${m}: ${got?.mean} vs ${mean}`);
        assert.ok(Math.abs(got.sd - sd) <= 1e-6, `L${row.layer} H${row.head} ${m} sd: ${got.sd} vs ${sd}`);
        assert.equal(got.n, values.length);
      }
    }
    // The windows differ, so the spread is real: some head's previous-token score varies across them.
    assert.ok(analysis.rows.some((r) => r.metrics.previousToken!.sd > 1e-3));
  });

  it('streams the aggregate to the panel after every window, the last one marked done', () => {
    const sent = (stub.state.posted as { type: string; windows?: number; done?: boolean; rows?: unknown; source?: string }[])
      .filter((m) => m.type === 'headAggregate');
    assert.deepEqual(sent.map((m) => m.windows), [...analysis.windows.map((_, i) => i + 1), analysis.windows.length]);
    assert.deepEqual(sent.map((m) => m.done), [...analysis.windows.map(() => false), true]);
    assert.deepEqual(sent.at(-1)!.rows, analysis.rows);
    assert.equal(sent.at(-1)!.source, 'heldout.txt');
  });

  it('opens the top window of a head and metric when the panel\'s file-wide value is clicked', async () => {
    const direct = analysis.windows.map((w) => served.get(w.runId)!);
    const k = 5; // L1 H1
    let best = 0;
    direct.forEach((d, i) => { if (d[k].entropy > direct[best][k].entropy) best = i; });
    const reveals = stub.state.reveals.length;
    stub.fromPanel({ type: 'revealWindow', layer: 1, head: 1, metric: 'entropy' });
    await until(() => stub.state.reveals.length > reveals, 'the window was revealed');
    const range = stub.state.reveals.at(-1)!.range as { start: unknown; end: unknown };
    assert.deepEqual([range.start, range.end], [doc.positionAt(analysis.windows[best].start), doc.positionAt(analysis.windows[best].end)]);
  });

  it('opens the editor at the window that most expresses the head picked', async () => {
    const direct = analysis.windows.map((w) => served.get(w.runId)!);
    const k = 2; // L0 H2, the bundled model's previous-token head
    let best = 0;
    direct.forEach((d, i) => { if (d[k].previousToken > direct[best][k].previousToken) best = i; });
    const picks: unknown[][] = [];
    window.showQuickPick = async (items: { label: string; window?: number; description?: string }[]) => {
      picks.push(items);
      if (picks.length === 1) return items[k];
      // The first window listed under "highest previous token".
      const at = items.findIndex((x) => x.label === 'highest previous token');
      return items[at + 1];
    };
    const reveals = stub.state.reveals.length;
    await showHeadAnalysis(analysis);
    assert.equal(picks.length, 2);
    const range = stub.state.reveals.at(-1)!.range as { start: unknown; end: unknown };
    assert.equal(stub.state.reveals.length, reveals + 1);
    assert.deepEqual(range.start, doc.positionAt(analysis.windows[best].start));
    assert.deepEqual(range.end, doc.positionAt(analysis.windows[best].end));
    assert.deepEqual(analysis.rows[k].top.previousToken[0], { window: best, value: analysis.rows[k].top.previousToken[0].value });
    assert.ok(await revealWindow(analysis, analysis.windows.length) === undefined, 'no window, no reveal');
  });

  it('analyses only the selection when there is one', async () => {
    const [a, b] = [TEXT.indexOf('\n') + 1, 300];
    stub.select(a, b);
    const part = (await analyse())!;
    assert.equal(part.windows[0].start, a);
    assert.ok(part.windows.at(-1)!.end <= b && TEXT.slice(part.windows.at(-1)!.end, b).trim() === '', 'the windows end with the selection');
    assert.ok(part.windows.length >= 2 && part.windows.length < analysis.windows.length);
  });

  it('stops between windows when cancelled', async () => {
    stub.select(0, 0); // the reveal above selected a window; with no selection the whole file is analysed
    const before = served.size;
    const w: Window = { progress: { report: () => { w.token.isCancellationRequested = true; } }, token: { isCancellationRequested: false } };
    window.withProgress = (_o: unknown, task: (p: Window['progress'], t: Window['token']) => Promise<unknown>) => task(w.progress, w.token);
    const cancelled = (await analyse())!;
    assert.equal(cancelled.cancelled, true);
    assert.equal(cancelled.windows.length, 1, 'the cancel after the first window stops the analysis there');
    assert.equal(served.size, before + 1, 'no second window was run');
    assert.match(stub.state.messages.at(-1)!.text, /1 window of heldout\.txt before it was cancelled/);
  });

  it('stops when the document changes during the analysis, and says so', async () => {
    stub.select(0, 0);
    const w: Window = { progress: { report: () => stub.edit(doc, `${TEXT}\nAn edit.\n`) }, token: { isCancellationRequested: false } };
    window.withProgress = (_o: unknown, task: (p: Window['progress'], t: Window['token']) => Promise<unknown>) => task(w.progress, w.token);
    const stopped = (await analyse())!;
    assert.deepEqual([stopped.edited, stopped.cancelled, stopped.windows.length], [true, false, 1]);
    assert.match(stub.state.messages.at(-1)!.text, /stopped: the document changed/);
  });

  it('analyses the files of a folder that match a glob into one aggregate, skipping what is not text', async () => {
    window.withProgress = plainProgress;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-folder-'));
    try {
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.writeFileSync(path.join(dir, 'a.md'), TEXT.slice(0, 250));
      fs.writeFileSync(path.join(dir, 'sub', 'b.txt'), TEXT.slice(250, 500));
      fs.writeFileSync(path.join(dir, 'c.md'), '\0\0\0binary\0\0');
      fs.writeFileSync(path.join(dir, 'd.js'), TEXT.slice(0, 100)); // not matched by the glob
      fs.writeFileSync(path.join(dir, 'node_modules', 'e.md'), TEXT.slice(0, 100)); // excluded
      const before = served.size;
      const folder = (await stub.state.commands.get('attentionLens.analyseHeadsInFolder')!({ folder: dir, glob: '**/*.{md,txt}' })) as HeadAnalysis;
      assert.deepEqual([...new Set(folder.windows.map((w) => w.documentUri))], [Uri.file(path.join(dir, 'a.md')).toString(), Uri.file(path.join(dir, 'sub', 'b.txt')).toString()]);
      assert.equal(served.size, before + folder.windows.length);
      assert.match(folder.source, /^3 files in al-folder-\w+ \(\*\*\/\*\.\{md,txt\}\)$/);
      // File by file, each window starts where the previous one of its file ended.
      for (const uri of new Set(folder.windows.map((w) => w.documentUri))) {
        const ws = folder.windows.filter((w) => w.documentUri === uri);
        assert.equal(ws[0].start, 0);
        for (let k = 1; k < ws.length; k++) assert.equal(ws[k].start, ws[k - 1].end);
      }
      const direct = folder.windows.map((w) => served.get(w.runId)!);
      for (const [k, row] of folder.rows.entries()) {
        const values = direct.map((d) => d[k].sink);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        assert.ok(Math.abs(row.metrics.sink!.mean - mean) <= 1e-6, `L${row.layer} H${row.head} sink: ${row.metrics.sink!.mean} vs ${mean}`);
      }
      // A window of the second file opens that file.
      const last = folder.windows.length - 1;
      const editor = (await revealWindow(folder, last))!;
      assert.equal(editor.document.uri.toString(), folder.windows[last].documentUri);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
