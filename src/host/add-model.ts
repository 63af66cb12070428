/**
 * "Attention Lens: Add Model…": pick a folder, inspect it on the spot (model-inspect.ts), report what was
 * found (architecture, layers, heads, causal/bidirectional, the inputs that will be fed), and add it to the
 * attentionLens.models setting. Failures say what is wrong and how to fix it; nothing is added then.
 */
import path from 'node:path';
import * as vscode from 'vscode';
import { ModelError } from './model-layout';
import { describeReport, inspectModelFolder, reportNotices, type ModelReport } from './model-inspect';
import { CONFIG_SECTION } from './models';
import { errorText, type Notifier } from './notify';

/**
 * Adds `dir` to attentionLens.models in user settings unless the user's list has it already; true when added.
 * Only the user's own list is read and written: a workspace's folders (config.get merges them in) are never
 * copied into user settings.
 */
export async function addToModelsSetting(dir: string): Promise<boolean> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const listed = config.inspect<unknown>('models')?.globalValue;
  const current = Array.isArray(listed) ? listed.filter((m): m is string => typeof m === 'string') : [];
  if (current.some((m) => path.resolve(m) === path.resolve(dir))) return false;
  await config.update('models', [...current, dir], vscode.ConfigurationTarget.Global);
  return true;
}

/** Inspects a folder and adds it; returns the report, or undefined after telling the user why not. */
export async function addModelFolder(dir: string, notifier: Notifier): Promise<ModelReport | undefined> {
  let report: ModelReport;
  try {
    report = await inspectModelFolder(dir);
  } catch (e) {
    const why = e instanceof ModelError ? e.message : `it could not be inspected (${errorText(e)}).`;
    notifier.error(`Attention Lens cannot add the model folder ${dir}: ${why}`);
    return undefined;
  }
  const added = await addToModelsSetting(dir);
  notifier.info(`${added ? 'Added' : 'Already listed'}: "${path.basename(dir)}". ${describeReport(report)} ` +
    'Switch to it with "Attention Lens: Select Model".');
  for (const notice of reportNotices(report)) notifier.once('warning', notice);
  return report;
}

/** attentionLens.addModel: a folder picker (or `arg`, a folder path, for scripted use), then addModelFolder. */
export async function addModelCommand(notifier: Notifier, arg?: unknown): Promise<ModelReport | undefined> {
  let dir = typeof arg === 'string' && arg.trim() ? arg : undefined;
  if (!dir) {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Add Model',
      title: 'Attention Lens: Add Model… (a folder with config.json, tokenizer.json and onnx/)',
    });
    dir = picked?.[0]?.fsPath;
  }
  if (!dir) return undefined;
  return addModelFolder(dir, notifier);
}
