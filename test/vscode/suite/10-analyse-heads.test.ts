import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { AGGREGATE_METRICS } from '../../../src/shared/head-aggregate';
import { stackMetrics } from '../../../src/shared/head-labels';
import type { HeadAnalysis } from '../../../src/host/analyse-heads';
import { fixture, getApi, openPath } from '../helpers';

const WINDOW = 16;

describe('Analyse Heads Across File (real VS Code, the panel\'s worker)', () => {
  const config = () => vscode.workspace.getConfiguration('attentionLens');
  before(() => config().update('maxTokens', WINDOW, vscode.ConfigurationTarget.Global));
  after(async () => {
    await config().update('maxTokens', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  });

  it('runs every window of the file in the panel and aggregates the worker\'s metrics', async () => {
    const api = await getApi();
    const editor = await openPath(fixture('prose.txt'));
    const doc = editor.document;
    const analysis = await vscode.commands.executeCommand<HeadAnalysis | undefined>('attentionLens.analyseHeads', { uri: doc.uri.toString() });
    assert.ok(analysis, `the analysis ran (messages: ${api.messages().map((m) => m.text).join(' | ')})`);
    assert.ok(analysis.windows.length >= 3, `${analysis.windows.length} windows of ${WINDOW} tokens`);
    let at = 0;
    for (const w of analysis.windows) {
      assert.equal(w.start, at);
      assert.ok(w.ids.length <= WINDOW);
      assert.equal(w.documentUri, doc.uri.toString());
      at = w.end;
    }
    assert.equal(doc.getText().slice(at).trim(), '', 'the windows cover the file');
    // The last window is the run the worker still holds: its metrics, recomputed here from its attention, are the worker's.
    const last = analysis.windows.at(-1)!;
    const direct = stackMetrics(await api.attention(last.runId), last.ids);
    for (const [k, row] of direct.entries()) {
      for (const m of AGGREGATE_METRICS) {
        const got = last.metrics[k][m];
        if (row[m] === null) assert.equal(got, null);
        else assert.ok(Math.abs(got! - row[m]) <= 1e-6, `L${row.layer} H${row.head} ${m}: ${got} vs ${row[m]}`);
      }
    }
    // And the aggregate is the mean over the windows.
    for (const [k, row] of analysis.rows.entries()) {
      const mean = analysis.windows.reduce((a, w) => a + w.metrics[k].previousToken, 0) / analysis.windows.length;
      assert.ok(Math.abs(row.metrics.previousToken!.mean - mean) <= 1e-9);
    }
    assert.match(api.messages().at(-1)!.text, new RegExp(`analysed ${analysis.windows.length} windows of prose\\.txt\\.`));
  });
});
