import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import {
  checkAttention, checkDocumentRanges, checkTiling, fixture, getApi, isOrdinary, openPath, rangedTokens, selectOffsets,
  showAttentionRun,
} from '../helpers';
import { formatWeight } from '../../../src/shared/attention';
import { tokenSymbolText } from '../../../src/shared/token-display';

describe('a prose sentence', () => {
  it('tokens map back to the document exactly and attention is a causal distribution', async () => {
    const api = await getApi();
    const editor = await openPath(fixture('prose.txt'));
    const doc = editor.document;
    // The second line's sentence: a selection that does not start at offset 0.
    const line = doc.lineAt(1);
    const text = line.text;
    const start = doc.offsetAt(line.range.start);
    const end = start + text.indexOf('.') + 1;
    assert.ok(end > start + 10, 'fixture line 2 holds a sentence');
    const sel = selectOffsets(editor, start, end);

    const run = await showAttentionRun(api);
    assert.equal(run.documentUri, doc.uri.toString(), 'the run is for this document');
    assert.equal(run.documentOffset, doc.offsetAt(sel.start), 'documentOffset is the selection start');
    assert.equal(run.text, doc.getText(sel), 'the run tokenized exactly the selection');
    assert.equal(run.stale, false, 'a fresh run is not stale');
    assert.ok(run.backendUsed, 'backendUsed is defined');

    const ranged = rangedTokens(run);
    assert.ok(ranged.length >= 5, `a sentence has several tokens (got ${ranged.length})`);
    assert.ok(ranged.every(isOrdinary), 'plain ASCII prose has no byte-fragment tokens');
    const checked = checkDocumentRanges(doc, run);
    assert.equal(checked, ranged.length, 'every token was checked against the document');
    checkTiling(run);
    await checkAttention(run);
  });

  it('opens the Attention Lens panel', async () => {
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    const panel = tabs.find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('attentionLens.panel'));
    assert.ok(panel, `a webview tab of type attentionLens.panel is open (tabs: ${tabs.map((t) => t.label).join(', ')})`);
  });

  it('a second run on the same selection gives the same attention', async () => {
    const api = await getApi();
    const first = api.lastRun();
    assert.ok(first?.shapes, 'a previous run exists');
    // The worker holds only the latest run's stacks: read the first run's before running again.
    const a = (await api.attention(first.runId)).data;
    const again = await showAttentionRun(api);
    assert.notEqual(again.runId, first.runId, 'a new run id');
    assert.deepEqual(again.tokens, first.tokens, 'same tokens');
    const b = (await api.attention(again.runId)).data;
    assert.equal(b.length, a.length);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    assert.ok(maxDiff < 1e-5, `deterministic up to float noise (max diff ${maxDiff})`);
  });
});

describe('the editor hover card', () => {
  it("hovering a token of the analysed text lists the tokens it attends to most, with the run's weights", async () => {
    const api = await getApi();
    const run = api.lastRun();
    assert.ok(run?.shapes, 'a finished run exists (see above)');
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === run.documentUri);
    assert.ok(doc, 'the analysed document is open');
    const { layers, heads, queries: T, data } = await api.attention(run.runId);
    const k = Math.floor(T / 2);
    const position = doc.positionAt(run.documentOffset + run.tokens[k].start);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, position);
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).find((v) => v.includes('**Attention Lens**'));
    assert.ok(text, `an Attention Lens hover card (got ${hovers.length} hover(s))`);
    // The panel's vocabulary: tokens numbered from #0, spaces as ␣ (token-display.ts), weights as formatWeight writes them.
    assert.ok(text.includes(`Token #${k} of ${T} (numbered from #0)`), 'the card names the hovered token as the panel does');
    assert.ok(text.includes(`\`${tokenSymbolText(run.tokens[k], run.text)}\``), 'the card shows the token as the panel does');

    const shown = /\*\*Attention Lens\*\* · L(\d+) (H(\d+)|mean)/.exec(text);
    assert.ok(shown, `the card names a layer and head: ${text.split('\n')[0]}`);
    const layer = Number(shown[1]);
    const headsUsed = shown[3] !== undefined ? [Number(shown[3])] : Array.from({ length: heads }, (_, h) => h);
    assert.ok(layer < layers);
    const row = Array.from({ length: T }, (_, j) =>
      headsUsed.reduce((sum, h) => sum + data[((layer * heads + h) * T + k) * T + j], 0) / headsUsed.length);
    const expected = row.map((w, j) => ({ j, w })).filter((e) => e.w > 0).sort((a, b) => b.w - a.w).slice(0, 5);
    const listed = [...text.matchAll(/\| #(\d+) \| (\d\.\d{4}) \|/g)].map((m) => ({ j: Number(m[1]), weight: m[2] }));
    assert.deepEqual(listed.map((l) => l.j), expected.map((e) => e.j), 'the top tokens, strongest first');
    for (const l of listed) {
      const w = row[l.j];
      assert.equal(l.weight, formatWeight(w), `weight of #${l.j}`);
      assert.equal(w.toFixed(4), formatWeight(w));
      assert.ok(l.j <= k, 'causal: only earlier tokens or itself');
    }
  });
});
