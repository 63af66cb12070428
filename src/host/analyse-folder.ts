/**
 * Analyse Heads Across Folder: the files of a folder that match a glob, each analysed whole and window by window
 * into one aggregate (analyse-heads.ts). Files that are not text (binary, blank) are skipped by the analysis.
 */
import path from 'node:path';
import * as vscode from 'vscode';
import { runAnalysis, type AnalysisDeps, type AnalysisTarget, type HeadAnalysis } from './analyse-heads';

/** At most this many files are analysed (the first ones by path); the notice says when more matched. */
export const MAX_FOLDER_FILES = 200;
/** The glob offered first: prose and code people read. */
export const DEFAULT_GLOB = '**/*.{md,txt,py,ts,js}';
/** Never looked into. */
const EXCLUDE = '**/{node_modules,.git,out,dist}/**';

/** Optional argument of attentionLens.analyseHeadsInFolder for scripted runs: a folder path and a glob relative to it. */
export interface AnalyseFolderArgs {
  readonly folder: string;
  readonly glob?: string;
}

/** The folder and glob: from `arg`, else asked (a folder dialog, then the glob); undefined when the user backs out. */
async function pickFolder(arg: unknown): Promise<{ folder: string; glob: string } | undefined> {
  const a = arg as Partial<AnalyseFolderArgs> | undefined;
  if (typeof a === 'object' && a !== null && typeof a.folder === 'string') return { folder: a.folder, glob: a.glob ?? DEFAULT_GLOB };
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false,
    openLabel: 'Analyse heads across this folder', defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
  if (!picked?.[0]) return undefined;
  const glob = await vscode.window.showInputBox({ title: 'Files to analyse (a glob relative to the folder)', value: DEFAULT_GLOB,
    validateInput: (v) => (v.trim() ? undefined : 'Type a glob such as **/*.md.') });
  return glob?.trim() ? { folder: picked[0].fsPath, glob: glob.trim() } : undefined;
}

/** attentionLens.analyseHeadsInFolder: the matching files of a folder, analysed into one aggregate; returns the analysis. */
export async function analyseFolderCommand(deps: AnalysisDeps, arg?: unknown): Promise<HeadAnalysis | undefined> {
  const choice = await pickFolder(arg);
  if (!choice) return undefined;
  const found = await vscode.workspace.findFiles(new vscode.RelativePattern(vscode.Uri.file(choice.folder), choice.glob), EXCLUDE, MAX_FOLDER_FILES + 1);
  const uris = found.slice().sort((x, y) => x.fsPath.localeCompare(y.fsPath));
  if (uris.length === 0) {
    deps.notifier.warn(`No file in ${choice.folder} matches ${choice.glob}. Pick another folder or glob.`);
    return undefined;
  }
  if (uris.length > MAX_FOLDER_FILES) {
    deps.notifier.notice(`More than ${MAX_FOLDER_FILES} files match ${choice.glob}: the first ${MAX_FOLDER_FILES} by path are analysed.`);
  }
  const targets: AnalysisTarget[] = [];
  for (const uri of uris.slice(0, MAX_FOLDER_FILES)) {
    try {
      const document = await vscode.workspace.openTextDocument(uri);
      targets.push({ document, start: 0, end: document.getText().length });
    } catch {
      // Not a text document VS Code can open (binary, too large): skipped, as the analysis skips blank files.
    }
  }
  const n = targets.length;
  return runAnalysis(deps, targets, `${n} file${n === 1 ? '' : 's'} in ${path.basename(choice.folder)} (${choice.glob})`);
}
