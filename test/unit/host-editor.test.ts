import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { bundledModelDir, repoRoot } from '../support/model';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub, type Range } from './host-vscode-stub';

// The editor side of a run through the host with a stubbed VS Code: the analysed text is revealed, a truncated
// run's stop is marked, and highlights cover whole characters (graphemes) at the level of their strongest piece.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');
// The native Hugging Face library tells where the first tokens end (the oracle for the stop mark's place).
const native = require('tokenizers');

const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;
const run = () => stub.state.commands.get('attentionLens.showAttention')!() as Promise<number | undefined>;

type DecorationType = { options: { after?: unknown; backgroundColor?: { id: string }; border?: string; borderColor?: { id: string } } };
type Mark = { range: Range; hoverMessage: string; renderOptions: { after: { contentText: string } } };
const decorations = () => [...stub.state.decorations] as [DecorationType, (Range | Mark)[]][];
const stopMarks = () => decorations().filter(([t]) => t.options.after && !('backgroundColor' in t.options)).flatMap(([, r]) => r as Mark[])
  .filter((m) => m.renderOptions?.after.contentText.includes('stopped here'));
/** Painted ranges by weight level (1–5), as [line, from, line, to]. */
function weightRanges(): Map<number, number[][]> {
  const out = new Map<number, number[][]>();
  for (const [t, ranges] of decorations()) {
    const m = /^attentionLens\.weight(\d)$/.exec(t.options.backgroundColor?.id ?? '');
    if (m && ranges.length) out.set(Number(m[1]), (ranges as Range[]).map((r) => [r.start.line, r.start.character, r.end.line, r.end.character]));
  }
  return out;
}
const at = (r: Range) => [r.start.line, r.start.character, r.end.line, r.end.character];

/** Plays the panel: every head's row q is `rows(q)` (length T), and the result names the stack's shape. */
function answer(runId: number, T: number, rows: (q: number) => number[]): void {
  const data = new Float32Array(L * H * T * T);
  for (let m = 0; m < L * H; m++) for (let q = 0; q < T; q++) data.set(rows(q), (m * T + q) * T);
  stub.serveAttention(runId, [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true, data }]);
  stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: { inferenceMs: 1 },
    shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true }] });
}

describe('the editor side of a run (stubbed VS Code)', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  before(() => { api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot))); });
  after(() => { for (const d of subscriptions) d.dispose(); delete stub.state.config.maxTokens; });

  it('reveals the analysed text, its start last, and marks where a truncated run stopped until the document changes', async () => {
    const words = 'Attention lets every token look back at the tokens before it and weigh them. ';
    const text = `Header\n${words.repeat(40)}tail`;
    const start = text.indexOf('Attention');
    stub.state.config.maxTokens = 12;
    const doc = stub.openEditor(text, [[start, text.length]]);
    stub.state.reveals.length = 0;
    await run();
    stub.fromPanel({ type: 'ready' });
    const snap = api.lastRun()!;
    const encoding = await native.Tokenizer.fromFile(path.join(bundledModelDir, 'tokenizer.json')).encode(text.slice(start));
    const stop = start + (encoding.getOffsets() as [number, number][])[11][1]; // ASCII: characters are UTF-16 units
    assert.equal(snap.tokens.length, 12);
    assert.equal(snap.documentOffset + snap.text.length, stop);
    // Line 1 from the analysed start to where it stopped, then the start alone, so a long line scrolls back to it.
    assert.deepEqual(stub.state.reveals.map((r) => [...at(r.range), r.type]), [[1, 0, 1, stop - start, 2], [1, 0, 1, 0, 2]]);

    const [mark] = stopMarks();
    assert.ok(mark, 'a stop mark');
    assert.equal(stopMarks().length, 1);
    assert.deepEqual(at(mark.range), [1, stop - start, 1, stop - start]);
    assert.equal(mark.renderOptions.after.contentText, '⟨Attention Lens stopped here: 12 tokens⟩');
    assert.equal(mark.hoverMessage, snap.notices[0]);
    assert.match(mark.hoverMessage, /^Showing the first 12 tokens: \d+ of [\d,]+ characters, line 2\.$/);

    stub.edit(doc, `${text} more`);
    assert.equal(stopMarks().length, 0, 'an edit clears the mark with the other decorations');
    delete stub.state.config.maxTokens;
    stub.openEditor('Not cut at all.', [[0, 15]]);
    await run();
    assert.equal(stopMarks().length, 0, 'a run that analysed all of its text has no mark');
  });

  it('marks a run that stopped inside a character after that whole character, so the mark does not split its glyph', async () => {
    const text = 'Family: 👨\u200d👩\u200d👧 at home.';
    stub.state.config.maxTokens = 10;
    stub.openEditor(`x\n${text}`, [[2, 2 + text.length]]);
    await run();
    delete stub.state.config.maxTokens;
    const snap = api.lastRun()!;
    assert.ok(snap.text.length > 8 && snap.text.length < 16, `the run stopped inside the emoji (after ${snap.text.length} units)`);
    const [mark] = stopMarks();
    assert.deepEqual(at(mark.range), [1, 16, 1, 16], 'after the whole family emoji (written by hand: it spans 8–16)');
  });

  it('paints each character of an emoji family once, at the level of its strongest piece, and outlines a fragment\'s whole character', async () => {
    const text = 'Family: 👨\u200d👩\u200d👧 at home.';
    const emoji = [8, 16]; // written by hand: F-a-m-i-l-y-:-space, then 3 people (2 units each) and 2 ZWJs
    stub.openEditor(text, [[0, text.length]]);
    const runId = (await run())!;
    const tokens = api.lastRun()!.tokens;
    const T = tokens.length;
    const touches = (t: { start: number; end: number }) =>
      (t.end > t.start ? t.start < emoji[1] && t.end > emoji[0] : t.start > emoji[0] && t.start <= emoji[1]);
    const pieces = tokens.flatMap((t, i) => (touches(t) ? [i] : []));
    assert.ok(pieces.length >= 4, `the family emoji is split into ${pieces.length} byte-level tokens`);
    assert.ok(pieces.some((i) => tokens[i].end === tokens[i].start), 'some of them are empty-range fragments');
    // Row T-1, as multiples of its largest weight a (token 0): the strongest piece, an inner fragment, 0.5a (level
    // ceil(0.5 × 5) = 3), every other token 0.15a (level 1); the row sums to 1.
    const strongest = pieces.find((i) => tokens[i].end === tokens[i].start)!;
    const others = Array.from({ length: T }, (_, j) => j).filter((j) => j !== 0 && !pieces.includes(j));
    const a = 1 / (1 + 0.5 + 0.15 * (T - 2));
    const last = Array.from({ length: T }, (_, j) => (j === 0 ? a : j === strongest ? 0.5 * a : 0.15 * a));
    answer(runId, T, (q) => (q === T - 1 ? last : Array.from({ length: T }, (_, j) => (j <= q ? 1 / (q + 1) : 0))));
    await api.waitForRun(runId);
    stub.fromPanel({ type: 'focus', runId, tokenIndex: T - 1, head: { stack: 'self', layer: 0, head: 0 } });
    const painted = await until(() => weightRanges().size > 0 && weightRanges(), 'decorations');
    // Expected, written here: the emoji once at level 3; every other token over its own range (ASCII: whole characters).
    const own = [0, ...others].map((j) => [0, tokens[j].start, 0, tokens[j].end]);
    assert.deepEqual([...painted.keys()].sort(), [1, 3, 5]);
    assert.deepEqual(painted.get(5), [own[0]]);
    assert.deepEqual(painted.get(3), [[0, emoji[0], 0, emoji[1]]]);
    assert.deepEqual(painted.get(1), own.slice(1));

    // Focusing a fragment with an empty range outlines the whole character it belongs to.
    stub.fromPanel({ type: 'focus', runId, tokenIndex: strongest, head: { stack: 'self', layer: 0, head: 0 } });
    const outline = await until(() => decorations().find(([t, r]) => t.options.borderColor?.id === 'focusBorder' && r.length), 'the outline');
    assert.deepEqual((outline[1] as Range[]).map(at), [[0, emoji[0], 0, emoji[1]]]);
  });

  it('underlines weights in an opaque colour, so they show over the selection the run leaves in place', () => {
    const types = decorations().map(([t]) => t.options).filter((o) => /weight\d$/.test(o.backgroundColor?.id ?? ''));
    assert.equal(types.length, 5);
    for (const o of types) assert.equal(o.borderColor?.id, 'attentionLens.weightBorder');
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const border = manifest.contributes.colors.find((c: { id: string }) => c.id === 'attentionLens.weightBorder');
    for (const v of Object.values(border.defaults)) assert.match(String(v), /^#[0-9A-Fa-f]{6}$/, 'opaque');
  });
});
