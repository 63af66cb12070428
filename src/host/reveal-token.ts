/**
 * Showing a run's token in the editor when the panel asks (a double-click or Enter on a token): the document
 * opened at the token's range, with a warning when the document is closed or changed since the run.
 */
import * as vscode from 'vscode';
import { findDocument } from './last-request';
import { errorText, sentence, type Notifier } from './notify';
import { RUN_AGAIN } from './run-result';
import type { RunSnapshot } from './runs';

/** Selects token `tokenIndex` of `run` in its document (`tokenIndex` comes from the webview: only an integer inside the run's tokens names one). */
export async function revealToken(run: RunSnapshot | undefined, tokenIndex: unknown, notifier: Notifier): Promise<void> {
  const i = tokenIndex;
  if (!run || typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= run.tokens.length) return;
  const token = run.tokens[i];
  if (!token || !(token.start >= 0 && token.end >= token.start)) return;
  try {
    const document = await findDocument(run.documentUri);
    if (!document) {
      notifier.warn(`The document of this run is no longer open, so the token cannot be shown. ${RUN_AGAIN}.`);
      return;
    }
    if (run.stale) {
      notifier.warn(`The document changed after this run, so the token may be shown at the wrong place. ${RUN_AGAIN} to refresh.`);
    }
    const range = new vscode.Range(document.positionAt(run.documentOffset + token.start), document.positionAt(run.documentOffset + token.end));
    const visible = vscode.window.visibleTextEditors.find((e) => e.document === document);
    const editor = await vscode.window.showTextDocument(document, {
      viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One, preserveFocus: false, selection: range,
    });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  } catch (e) {
    notifier.error(`Attention Lens could not show the token in the editor: ${sentence(errorText(e))}`);
  }
}
