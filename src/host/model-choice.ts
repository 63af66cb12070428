/**
 * Which model folder a run uses: the bundled one, or a folder named in settings (absolute, `~/…`,
 * `${workspaceFolder}/…`, or relative to the first workspace folder). Pure (no `vscode`).
 */
import path from 'node:path';

/** A model folder chosen by settings. */
export interface ModelChoice {
  readonly dir: string;
  readonly bundled: boolean;
}

/** Where relative paths resolve. */
export interface PathContext {
  readonly bundledDir: string;
  readonly workspaceFolder?: string;
  readonly home: string;
}

/** Resolves a folder path from settings to an absolute path. */
export function resolveFolderPath(setting: string, ctx: PathContext): string {
  let p = setting.trim();
  if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) p = path.join(ctx.home, p.slice(1));
  if (ctx.workspaceFolder) p = p.replace(/\$\{workspaceFolder\}/g, ctx.workspaceFolder);
  if (!path.isAbsolute(p) && ctx.workspaceFolder) p = path.join(ctx.workspaceFolder, p);
  return path.resolve(p);
}

/** The model a run uses: `attentionLens.defaultModel` if set, else the bundled model. */
export function chooseModel(defaultModel: unknown, ctx: PathContext): ModelChoice {
  if (typeof defaultModel !== 'string' || defaultModel.trim() === '') return { dir: ctx.bundledDir, bundled: true };
  const dir = resolveFolderPath(defaultModel, ctx);
  return { dir, bundled: path.resolve(dir) === path.resolve(ctx.bundledDir) };
}

/** The folders listed in `attentionLens.models`, resolved, without blanks and duplicates. */
export function listedModels(models: unknown, ctx: PathContext): string[] {
  if (!Array.isArray(models)) return [];
  const out: string[] = [];
  for (const m of models) {
    if (typeof m !== 'string' || m.trim() === '') continue;
    const dir = resolveFolderPath(m, ctx);
    if (!out.includes(dir)) out.push(dir);
  }
  return out;
}
