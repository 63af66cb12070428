import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { mulberry32 } from '../../src/shared/head-labels';
import type { ViewSpec } from '../../src/shared/view-spec';
import { repoRoot } from '../support/model';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

/** Max-pools a [n, n] matrix into [out, out] blocks (block b covers ⌊b·n/out⌋ up to ⌊(b+1)·n/out⌋), written here apart from display.ts. */
function pooled(m: Float32Array, n: number, out: number): Float32Array {
  const edge = (b: number) => Math.floor((b * n) / out);
  const r = new Float32Array(out * out);
  for (let a = 0; a < out; a++) {
    for (let b = 0; b < out; b++) {
      let best = -Infinity;
      for (let i = edge(a); i < edge(a + 1); i++) for (let j = edge(b); j < edge(b + 1); j++) best = Math.max(best, m[i * n + j]);
      r[a * out + b] = best;
    }
  }
  return r;
}

describe('exporting the view as SVG and HTML through the host (stubbed VS Code)', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-view-export-'));
  const [L, H] = [2, 3];
  let T = 0;
  let data: Float32Array;
  let runId = 0;
  const window = stub.module.window as Record<string, unknown>;
  const theme = { bg: { r: 30, g: 30, b: 30, a: 1 }, fg: { r: 212, g: 212, b: 212, a: 1 }, accent: { r: 55, g: 148, b: 255, a: 1 },
    masked: { r: 42, g: 42, b: 42, a: 1 }, hatch: { r: 81, g: 81, b: 81, a: 1 }, focus: { r: 0, g: 120, b: 212, a: 1 }, fontFamily: 'monospace', fontSize: 13 };
  const spec = (over: Partial<ViewSpec> = {}): ViewSpec => ({
    runId, view: 'heatmap', head: { stack: 'self', layer: 1, head: 2 }, layers: L, heads: H, queries: T, keys: T, causal: false, valueWeighted: false,
    cell: 12, labels: Array.from({ length: T }, (_, i) => `t${i}`), keyLabels: Array.from({ length: T }, (_, i) => `t${i}`), theme, ...over,
  });
  const head = (l: number, h: number) => data.subarray((l * H + h) * T * T, (l * H + h + 1) * T * T);
  /** Resolves with the next message the host shows (info, warning or error), however long the file work before it takes. */
  function nextMessage(): Promise<{ kind: string; text: string }> {
    const kinds = { showInformationMessage: 'info', showWarningMessage: 'warning', showErrorMessage: 'error' } as const;
    const originals = Object.fromEntries(Object.keys(kinds).map((k) => [k, window[k]]));
    return new Promise((resolve) => {
      for (const [k, kind] of Object.entries(kinds)) {
        window[k] = (text: string) => {
          Object.assign(window, originals);
          resolve({ kind, text });
          return (originals[k] as (t: string) => Promise<unknown>)(text);
        };
      }
    });
  }
  /** Sends an exportView from the panel with the save dialog answering `file`; resolves with the host's next message. */
  async function exportView(format: 'svg' | 'html', s: ViewSpec, file: string | undefined): Promise<{ kind: string; text: string }> {
    const said = nextMessage();
    window.showSaveDialog = async () => (file ? Uri.file(file) : undefined);
    stub.fromPanel({ type: 'exportView', format, spec: s });
    return said;
  }

  before(async () => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
    stub.openEditor('The cat sat on the mat, and the dog sat on the log.', [[0, 51]]);
    runId = (await stub.state.commands.get('attentionLens.showAttention')!()) as number;
    stub.fromPanel({ type: 'ready' });
    T = api.lastRun()!.tokens.length;
    const rnd = mulberry32(5);
    data = Float32Array.from({ length: L * H * T * T }, () => rnd());
    stub.serveAttention(runId, [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: false, data }]);
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: {}, shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: false }] });
    await api.waitForRun(runId);
  });
  after(() => {
    delete window.showSaveDialog;
    for (const d of subscriptions) d.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks the worker only for pooled matrices and writes the heatmap at the size drawn (half a CSS px a token: each cell drawn pools 2 × 2 tokens)', async () => {
    const file = path.join(dir, 'pooled.svg');
    const queries = stub.state.posted.length;
    const said = await exportView('svg', spec({ cell: 0.5 }), file);
    assert.match(said.text, /Saved the heatmap as SVG to .*pooled\.svg/);
    const asked = stub.state.posted.slice(queries).filter((m) => (m as { type: string }).type === 'query') as { query: { maxSide?: number } }[];
    const side = Math.ceil(T * 0.5);
    assert.deepEqual(asked.map((q) => q.query.maxSide), [side], 'one query, pooled to the pixels drawn');
    const svg = fs.readFileSync(file, 'utf8');
    const group = /<g class="matrix"[^>]*data-rows="(\d+)" data-cols="(\d+)" data-pooled="true" data-scale="([^"]+)"/.exec(svg);
    assert.ok(group, 'a pooled matrix group');
    assert.deepEqual([+group[1], +group[2]], [side, side]);
    const want = pooled(head(1, 2), T, side);
    const scale = +group[3];
    const cells: string[] = [];
    for (const r of svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="(\d+)" height="1" fill="(#[0-9a-f]{6})"\/>/g)) {
      for (let j = +r[1]; j < +r[1] + +r[3]; j++) cells[+r[2] * side + j] = r[4];
    }
    for (let k = 0; k < side * side; k++) {
      const t = Math.sqrt(Math.min(1, want[k] / scale));
      const rgb = (['r', 'g', 'b'] as const).map((c) => theme.bg[c] + (theme.accent[c] - theme.bg[c]) * t);
      const got = [1, 3, 5].map((o) => parseInt(cells[k].slice(o, o + 2), 16));
      assert.ok(got.every((v, c) => Math.abs(v - rgb[c]) <= 1), `block ${k}: ${cells[k]} for the block's largest weight ${want[k]}`);
    }
  });

  it('writes an HTML page whose stored weights are every head and mean within 7.7e-6, with a CSP that hashes exactly its script and style', async () => {
    const file = path.join(dir, 'page.html');
    assert.match((await exportView('html', spec(), file)).text, /Saved the heatmap as HTML page/);
    const html = fs.readFileSync(file, 'utf8');
    const page = JSON.parse(/<script type="application\/json" id="attention-data">(.*?)<\/script>/s.exec(html)![1]);
    assert.equal(page.stored.length, L * (H + 1));
    for (const s of page.stored) {
      const codes = Buffer.from(s.codes, 'base64');
      const want = s.head === 'mean'
        ? Float32Array.from({ length: T * T }, (_, k) => Array.from({ length: H }, (_, h) => head(s.layer, h)[k]).reduce((a, b) => a + b) / H)
        : head(s.layer, s.head);
      assert.deepEqual([s.rows, s.cols, s.pooled], [T, T, false]);
      for (let k = 0; k < T * T; k++) {
        const v = (codes.readUInt16LE(k * 2) / page.steps) * s.max;
        assert.ok(Math.abs(v - want[k]) <= 7.7e-6, `L${s.layer} ${s.head} cell ${k}: ${v} vs ${want[k]}`);
      }
    }
    const hash = (s: string) => `'sha256-${crypto.createHash('sha256').update(s).digest('base64')}'`;
    const script = /<script>(.*)<\/script>/s.exec(html)![1];
    const style = /<style>(.*?)<\/style>/s.exec(html)![1];
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.equal(csp, `default-src 'none'; script-src ${hash(script)}; style-src ${hash(style)}; base-uri 'none'; form-action 'none'`);
    assert.doesNotMatch(html.replace(/<script>.*<\/script>/s, ''), /https?:\/\//, 'no address outside the viewer script');
  });

  it('asks for the value-weighted stack when the view shows it', async () => {
    const queries = stub.state.posted.length;
    assert.match((await exportView('svg', spec({ valueWeighted: true }), path.join(dir, 'weighted.svg'))).text, /Saved the heatmap/);
    const asked = stub.state.posted.slice(queries).filter((m) => (m as { type: string }).type === 'query') as { weighted?: boolean }[];
    assert.deepEqual(asked.map((q) => q.weighted), [true]);
  });

  it('Export View as SVG/HTML (palette) asks the panel to describe its view', async () => {
    const asked = stub.nextPosted('exportView');
    await stub.state.commands.get('attentionLens.exportViewHtml')!();
    assert.deepEqual(await asked, { type: 'exportView', format: 'html' });
  });

  it('refuses a view that does not match the run, writes nothing when the dialog is dismissed, and leaves no partial file when cancelled', async () => {
    assert.match((await exportView('svg', spec({ runId: runId + 1 }), path.join(dir, 'x.svg'))).text, /could not export the view: the panel shows another run/);
    assert.match((await exportView('svg', spec({ queries: T + 1 }), path.join(dir, 'x.svg'))).text, /token labels do not match/);
    assert.match((await exportView('svg', spec({ theme: { ...theme, bg: { r: 300, g: 0, b: 0, a: 1 } } }), path.join(dir, 'x.svg'))).text, /theme colours are malformed/);
    let asked = false;
    const seen = api.messages().length;
    window.showSaveDialog = async () => { asked = true; return undefined; };
    stub.fromPanel({ type: 'exportView', format: 'html', spec: spec() });
    await until(() => asked || undefined, 'the save dialog');
    await new Promise((r) => setImmediate(r));
    assert.equal(api.messages().length, seen, 'a dismissed dialog says nothing');
    assert.ok(!fs.existsSync(path.join(dir, 'x.svg')));
    const original = window.withProgress;
    let reported = 0;
    // Held in an object: a promise resolved with a promise would wait for that one.
    let started!: (export_: { done: Promise<unknown> }) => void;
    const running = new Promise<{ done: Promise<unknown> }>((r) => { started = r; });
    window.withProgress = (_o: unknown, task: (p: unknown, t: { isCancellationRequested: boolean }) => Promise<unknown>) => {
      const token = { isCancellationRequested: false };
      const export_ = task({ report: () => { if (++reported === 3) token.isCancellationRequested = true; } }, token);
      started({ done: export_ });
      return export_;
    };
    try {
      const file = path.join(dir, 'cancelled.svg');
      const before = api.messages().length;
      window.showSaveDialog = async () => Uri.file(file);
      stub.fromPanel({ type: 'exportView', format: 'svg', spec: spec({ view: 'grid', cell: 40 }) });
      await assert.rejects((await running).done, /cancelled/, 'the export ends cancelled');
      await new Promise((r) => setImmediate(r));
      assert.ok(!fs.existsSync(file), 'no partial file is left');
      assert.equal(reported, 3, 'stopped after the third head');
      assert.equal(api.messages().length, before, 'a cancel says nothing');
    } finally {
      window.withProgress = original;
    }
  });
});
