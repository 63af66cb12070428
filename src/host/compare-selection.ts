/**
 * attentionLens.compareSelection: takes the active editor's selection as text B, tokenizes it with the model of the run
 * on show, and asks the panel to run that model on it beside the run (a companion run the worker keeps with the first)
 * and to show the chosen head for A and B side by side.
 */
import * as vscode from 'vscode';
import type { HostToPanel } from '../shared/protocol';
import { clipSelection, documentLabel, runTokenLimit } from './input';
import type { LoadedModel } from './model-folder';
import { errorText, type Notifier } from './notify';
import type { RunSnapshot } from './runs';
import { checkIdsInVocab } from './tokenize';

/** What the command needs from the controller. */
export interface CompareSelectionDeps {
  /** The run on show (the latest). */
  readonly run: RunSnapshot | undefined;
  readonly panelOpen: boolean;
  /** Loads the model the run used; undefined when the selected model is no longer the run's. */
  loadRunModel(): Promise<LoadedModel | undefined>;
  post(msg: HostToPanel): void;
  readonly notifier: Notifier;
  readonly maxTokensSetting: unknown;
}

/** Refusal when there is no finished run on show in an open panel. */
export const NO_RUN_TO_COMPARE = 'There is no run to compare with: run "Attention Lens: Show Attention" on some text (text A) first, ' +
  'keep its panel open, then select text B and run "Attention Lens: Compare With Another Selection".';
/** Refusal when the selection is empty (or only whitespace). */
export const EMPTY_COMPARE_SELECTION = 'Select the text to compare (text B) in an editor first: the selection is empty.';

/** Companion runs get negative ids, so they never collide with the host's run ids. */
let lastCompareId = 0;

/** Runs the command; returns the companion run id, or undefined when refused. */
export async function compareSelectionCommand(deps: CompareSelectionDeps): Promise<number | undefined> {
  const { run, notifier } = deps;
  if (!run || !run.shapes || run.error !== undefined || !deps.panelOpen) {
    notifier.warn(NO_RUN_TO_COMPARE);
    return undefined;
  }
  const editor = vscode.window.activeTextEditor;
  const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
  if (selected.trim().length === 0) {
    notifier.warn(EMPTY_COMPARE_SELECTION);
    return undefined;
  }
  const model = await deps.loadRunModel();
  if (!model) {
    notifier.warn('The selected model is not the one the run on show used: run "Attention Lens: Show Attention" again, then compare.');
    return undefined;
  }
  const { maxTokens } = runTokenLimit(deps.maxTokensSetting, model.dims.context);
  let tokenized;
  try {
    tokenized = await model.tokenizer.tokenize(clipSelection(selected).text, maxTokens);
    checkIdsInVocab(tokenized.tokens, model.vocabSize);
  } catch (e) {
    notifier.error(`Attention Lens could not tokenize text B with "${model.name}": ${errorText(e)}`);
    return undefined;
  }
  const runId = --lastCompareId;
  deps.post({ type: 'compareText', runId, baseRunId: run.runId, documentLabel: documentLabel(editor!.document.uri.path),
    text: tokenized.text, tokens: tokenized.tokens });
  return runId;
}
