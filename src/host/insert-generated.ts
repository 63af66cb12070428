/**
 * "Insert into document" under a generation: the panel's generated tokens are written into the document only when the
 * user asks, right after the text the run analysed, as the model's tokenizer spells them after that text. Refused,
 * with the reason, when the run is not the latest, the document changed since, or the model is no longer the run's.
 */
import * as vscode from 'vscode';
import type { PanelToHost } from '../shared/protocol';
import { findDocument } from './last-request';
import type { LoadedModel } from './model-folder';
import { errorText, sentence, type Notifier } from './notify';
import { RUN_AGAIN } from './run-result';
import type { RunSnapshot } from './runs';

/** What inserting needs from the controller. */
export interface InsertGeneratedDeps {
  /** The latest run. */
  readonly run: RunSnapshot | undefined;
  /** Loads the model the run used; undefined when the selected model is no longer the run's. */
  loadRunModel(): Promise<LoadedModel | undefined>;
  readonly notifier: Notifier;
}

/** Writes the generated tokens' text after the run's text; the text inserted, or undefined when refused. */
export async function insertGenerated(msg: Extract<PanelToHost, { type: 'insertGenerated' }>, deps: InsertGeneratedDeps): Promise<string | undefined> {
  const { run, notifier } = deps;
  const ids: unknown = msg.tokens;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((t) => Number.isInteger(t) && t >= 0)) return undefined;
  if (!run || run.runId !== msg.runId || run.error !== undefined) {
    notifier.warn(`Only the latest run's generation can be inserted. ${RUN_AGAIN}, generate, then insert.`);
    return undefined;
  }
  if (run.stale) {
    notifier.warn(`The document changed after this run, so the generated text has no place to go. ${RUN_AGAIN}, generate, then insert.`);
    return undefined;
  }
  const document = await findDocument(run.documentUri);
  if (!document) {
    notifier.warn(`The document of this run is no longer open. ${RUN_AGAIN}.`);
    return undefined;
  }
  const model = await deps.loadRunModel();
  if (!model) {
    notifier.warn(`The selected model is not the one that generated these tokens. ${RUN_AGAIN}, generate, then insert.`);
    return undefined;
  }
  try {
    const prompt = run.tokens.map((t) => t.id);
    const text = await model.tokenizer.decodeAfter(prompt, ids as number[]);
    const at = document.positionAt(run.documentOffset + run.text.length);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(document.uri, at, text);
    if (!(await vscode.workspace.applyEdit(edit))) throw new Error('VS Code did not apply the edit');
    notifier.info(`Inserted ${ids.length} generated token${ids.length === 1 ? '' : 's'} after the analysed text.`);
    return text;
  } catch (e) {
    notifier.error(`Attention Lens could not insert the generated text: ${sentence(errorText(e))}`);
    return undefined;
  }
}
