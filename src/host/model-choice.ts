/**
 * Which model folder a run uses: the bundled one, or a folder named in settings (absolute, `~/…`,
 * `${workspaceFolder}/…`, or relative to the first workspace folder). Pure (no `vscode`).
 */
import path from 'node:path';

/**
 * Settings that name files to read, which a workspace may not set in Restricted Mode: package.json declares
 * them in capabilities.untrustedWorkspaces.restrictedConfigurations, and models.ts reads only the user's own
 * values of them while the workspace is not trusted.
 */
export const RESTRICTED_SETTINGS = ['defaultModel', 'models'] as const;
export type RestrictedSetting = typeof RESTRICTED_SETTINGS[number];

/** What `WorkspaceConfiguration.inspect` tells about a setting, as far as it is used here. */
export interface SettingScopes {
  readonly defaultValue?: unknown;
  readonly globalValue?: unknown;
  readonly workspaceValue?: unknown;
  readonly workspaceFolderValue?: unknown;
}

/**
 * The value of a restricted setting that may be used: in a trusted workspace the effective one (`effective`,
 * what `get` returns); otherwise only the user's own value (else the default), whatever the workspace sets.
 * VS Code already ignores workspace values of restricted settings in Restricted Mode; this holds even where it would not.
 */
export function restrictedValue(trusted: boolean, effective: unknown, scopes: SettingScopes | undefined): unknown {
  if (trusted) return effective;
  return scopes?.globalValue !== undefined ? scopes.globalValue : scopes?.defaultValue;
}

/**
 * The folders of `attentionLens.models` to offer: the user's own list, then (trusted workspaces only) the
 * workspace's. VS Code lets a workspace array replace the user's, which would hide folders the user added.
 */
export function modelsValue(trusted: boolean, scopes: SettingScopes | undefined): unknown[] {
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  return trusted ? [...list(scopes?.globalValue), ...list(scopes?.workspaceValue), ...list(scopes?.workspaceFolderValue)]
    : list(scopes?.globalValue);
}

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
