import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { LABEL_THRESHOLDS } from '../../src/shared/head-labels';
import { headView } from '../../src/shared/attention';
import { createTokenizer, tokenizeWithLimit } from '../../src/host/tokenize';
import { bundledModelDir, readBundledOnnx, repoRoot } from '../support/model';
import { openTapped, runTapped } from '../support/run-tapped';
import { extensionContext, installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// The host modules import `vscode`; the stub must be installed before they load, hence require() below.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');
const ort = require('onnxruntime-node');

const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const nls: Record<string, string> = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.nls.json'), 'utf8'));
const text = (v: string) => nls[/^%([^%]+)%$/.exec(v)?.[1] ?? ''] ?? v;

interface Step { id: string; title: string; description: string; media: { markdown?: string }; completionEvents?: string[] }
const walkthrough: { id: string; steps: Step[] } = manifest.contributes.walkthroughs?.[0];

/** The command links of a step's description: [label](command:id?args), with args decoded from the URI. */
function buttons(step: Step): { label: string; id: string; args?: unknown }[] {
  return [...text(step.description).matchAll(/\[([^\]]+)\]\(command:([\w.]+)(?:\?([^)]*))?\)/g)]
    .map((m) => ({ label: m[1], id: m[2], ...(m[3] ? { args: JSON.parse(decodeURIComponent(m[3])) } : {}) }));
}

describe('the Get Started walkthrough', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  before(() => { api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot))); });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('has four steps, each with a button, markdown that ships, and a completion event on its own command', () => {
    assert.ok(walkthrough, 'contributes.walkthroughs');
    assert.equal(walkthrough.steps.length, 4);
    const commands = new Set<string>(manifest.contributes.commands.map((c: { command: string }) => c.command));
    const views = new Set<string>(Object.values(manifest.contributes.views).flat().map((v) => (v as { id: string }).id));
    for (const step of walkthrough.steps) {
      const bs = buttons(step);
      assert.ok(bs.length >= 1, `${step.id} has a button`);
      for (const b of bs) {
        // A contributed command the extension registers, or the focus command VS Code makes for a contributed view.
        const view = /^(.*)\.focus$/.exec(b.id)?.[1];
        assert.ok(view ? views.has(view) : commands.has(b.id) && stub.state.commands.has(b.id), `${step.id}: "${b.label}" runs ${b.id}`);
      }
      const md = step.media.markdown!;
      assert.match(md, /^media\/walkthrough\/[\w-]+\.md$/, 'under media/, which .vscodeignore ships');
      assert.ok(fs.statSync(path.join(repoRoot, md)).size > 0, md);
      for (const e of step.completionEvents ?? []) {
        const id = /^onCommand:(.*)$/.exec(e)?.[1];
        assert.ok(id && stub.state.commands.has(id), `${step.id}: completion event ${e} names a registered command`);
      }
      assert.ok(step.completionEvents?.some((e) => bs.some((b) => e === `onCommand:${b.id}`)), `${step.id}: its button completes it`);
    }
  });

  it('runs every step\'s buttons in order: sample, Show Attention on it, the Model grid, pins of L0 H2 and L1 H2', async () => {
    const [open, show, grid, pin] = walkthrough.steps.map(buttons);
    const run = async (b: { id: string; args?: unknown }) => stub.state.commands.get(b.id)!(...(b.args === undefined ? [] : [b.args]));

    // Before any run, the grid button says what to do first.
    await run(grid[0]);
    assert.match(api.messages().at(-1)!.text, /Model grid .* shows no result yet: select some text and run "Attention Lens: Show Attention"/);

    await run(open[0]);
    const sample = fs.readFileSync(path.join(repoRoot, 'media', 'walkthrough', 'sample.txt'), 'utf8');
    const editor = stub.module.window as { activeTextEditor: { document: { getText(): string; uri: Uri }; selection: { start: unknown; end: unknown } } };
    const doc = editor.activeTextEditor.document;
    assert.equal(doc.getText(), sample, 'the sample, in a new editor');
    assert.equal(doc.uri.toString().startsWith('untitled:'), true, 'untitled: edits never touch the shipped file');

    // The walkthrough page is the active editor when its button is clicked: no text editor is active then.
    stub.noEditor();
    const runId = await run(show[0]) as number;
    const snap = api.lastRun()!;
    assert.equal(snap.runId, runId);
    assert.equal(snap.text, sample, 'all of the sample is analysed');
    assert.equal(snap.documentUri, doc.uri.toString());
    stub.fromPanel({ type: 'ready' });
    stub.serveAttention(runId, []);
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: {},
      shapes: [{ kind: 'self', layers: 3, heads: 4, queries: snap.tokens.length, keys: snap.tokens.length, causal: true }] });

    await run(grid[0]);
    assert.deepEqual((stub.state.posted as { type: string }[]).filter((m) => m.type === 'showView').at(-1), { type: 'showView', view: 'grid' });

    for (const b of pin.filter((x) => x.id === 'attentionLens.pinHead')) await run(b);
    assert.deepEqual(api.pinnedHeads(), [{ stack: 'self', layer: 0, head: 2 }, { stack: 'self', layer: 1, head: 2 }]);
  });

  // What the steps promise, on the bundled model in onnxruntime-node: on the sample the grid's L0 H2 is a
  // previous-token head and L1 H2 follows the first copy of the sentence (induction) while reading the second.
  it('shows on the sample what the steps say: L0 H2 looks one token back, L1 H2 follows the earlier copy', async function () {
    this.timeout(60000);
    const sample = fs.readFileSync(path.join(repoRoot, 'media', 'walkthrough', 'sample.txt'), 'utf8');
    const tok = createTokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')), {});
    const { tokens, truncated } = tokenizeWithLimit(tok, sample, 128);
    assert.equal(truncated, false, 'the sample fits the bundled model\'s context');
    const ids = tokens.map((t) => t.id);
    const T = ids.length;
    // The copy: the largest shift p at which a run of at least 10 tokens repeats (independent of the model).
    let period = 0;
    let start = 0;
    for (let p = Math.floor(T / 2) + 2; p >= 10 && !period; p--) {
      for (let k = 0; k + p + 10 <= T; k++) {
        if (ids.slice(k, k + 10).every((id, d) => id === ids[k + p + d])) { period = p; start = k; break; }
      }
    }
    assert.ok(period > 0, 'the sample repeats');
    const s = await openTapped(ort, readBundledOnnx(), { intraOpNumThreads: 1 });
    const { attention } = await runTapped(ort, s, ids);
    const head = (l: number, h: number) => headView(attention, l, h);
    const prev = head(0, 2);
    let p = 0;
    for (let i = 1; i < T; i++) p += prev[i * T + i - 1];
    p /= T - 1;
    const ind = head(1, 2);
    let q = 0;
    let n = 0;
    for (let i = start + period; i + 1 < T && ids[i] === ids[i - period]; i++, n++) q += ind[i * T + (i - period + 1)];
    q /= n;
    console.log(`      sample: ${T} tokens, copy at +${period} over ${n} tokens; L0 H2 A[i, i−1] ${p.toFixed(3)}, L1 H2 A[i, i−p+1] ${q.toFixed(3)}`);
    assert.ok(p >= LABEL_THRESHOLDS.previousToken, `L0 H2 previous-token ${p}`);
    assert.ok(q >= LABEL_THRESHOLDS.induction, `L1 H2 on the second copy ${q}`);
  });
});
