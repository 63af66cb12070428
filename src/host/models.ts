/**
 * Model selection: which folder runs use (settings attentionLens.defaultModel / attentionLens.models,
 * else the bundled model), the status bar item that names it, and the "Select Model" quick pick, which
 * checks a folder before switching to it. Both settings are restricted (model-choice.ts RESTRICTED_SETTINGS):
 * in an untrusted workspace only the user's own values are read, so the bundled model still works in
 * Restricted Mode and a workspace cannot point the extension at files.
 */
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import { StatusProgress } from './status-progress';
import {
  chooseModel, listedModels, modelsValue, restrictedValue, type ModelChoice, type PathContext,
} from './model-choice';
import { loadModelFolder, type LoadedModel } from './model-folder';
import { errorText, type Notifier } from './notify';
import { tapCacheMaxBytes } from './tap-cache';

/** Settings section of every Attention Lens setting. */
export const CONFIG_SECTION = 'attentionLens';
/** Folder name of the bundled model under models/. */
const BUNDLED_MODEL = 'lens-gpt';

/** The value of attentionLens.defaultModel that may be used: the user's own unless the workspace is trusted. */
export function defaultModelSetting(): unknown {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  return restrictedValue(vscode.workspace.isTrusted, config.get('defaultModel'), config.inspect('defaultModel'));
}

/** The folders of attentionLens.models that may be offered: the user's own, and the workspace's when it is trusted. */
export function modelsSetting(): unknown[] {
  return modelsValue(vscode.workspace.isTrusted, vscode.workspace.getConfiguration(CONFIG_SECTION).inspect('models'));
}

/** Resolves and loads the model that runs use. */
export class ModelSettings {
  /**
   * `storageDir` (the extension's global storage) holds the tap cache; without it models are tapped in the
   * worker. `notifier` shows the notices of loaded models (LoadedModel.notices), each once per session.
   */
  constructor(private readonly extensionUri: vscode.Uri, readonly storageDir?: string, private readonly notifier?: Notifier) {}

  /** Where bundled and relative folders resolve. */
  pathContext(): PathContext {
    return {
      bundledDir: vscode.Uri.joinPath(this.extensionUri, 'models', BUNDLED_MODEL).fsPath,
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      home: os.homedir(),
    };
  }

  /** The folder runs use now. */
  current(): ModelChoice {
    return chooseModel(defaultModelSetting(), this.pathContext());
  }

  /** Display name of a choice, without loading it. */
  nameOf(choice: ModelChoice): string {
    return choice.bundled ? `${path.basename(choice.dir)} (bundled)` : path.basename(choice.dir);
  }

  /** Loads (or reuses) the current model and warns about its notices; throws ModelError with a message for the user. */
  async load(choice = this.current()): Promise<LoadedModel> {
    const tapCache = { maxBytes: tapCacheMaxBytes(vscode.workspace.getConfiguration(CONFIG_SECTION).get('tapCacheMaxMB')) };
    // A large tokenizer.json reports its loading (on the tokenizer thread) in the status bar; small ones never show it.
    const progress = new StatusProgress();
    let shown = false;
    const onProgress = (message: string) => {
      if (shown) return progress.say(message);
      progress.start(`Attention Lens: ${this.nameOf(choice)}`, message);
      shown = true;
    };
    try {
      const model = await loadModelFolder(choice.dir, { bundled: choice.bundled, name: this.nameOf(choice), storageDir: this.storageDir, tapCache,
        onProgress });
      for (const notice of model.notices ?? []) this.notifier?.once('warning', notice);
      return model;
    } finally {
      progress.end();
    }
  }

  /** The bundled model plus every folder in attentionLens.models. */
  choices(): ModelChoice[] {
    const ctx = this.pathContext();
    const listed = listedModels(modelsSetting(), ctx)
      .filter((d) => path.resolve(d) !== path.resolve(ctx.bundledDir));
    return [{ dir: ctx.bundledDir, bundled: true }, ...listed.map((dir) => ({ dir, bundled: false }))];
  }
}

/** The status bar item showing the current model; clicking it runs attentionLens.selectModel. */
export class ModelStatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly listener: vscode.Disposable;

  constructor(private readonly settings: ModelSettings) {
    this.item = vscode.window.createStatusBarItem('attentionLens.model', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Attention Lens Model';
    this.item.command = 'attentionLens.selectModel';
    this.listener = vscode.Disposable.from(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(CONFIG_SECTION)) this.refresh();
      }),
      // Trust changes which settings apply (restricted settings).
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh()),
    );
    this.refresh();
    this.item.show();
  }

  /** Shows the current model's name. */
  refresh(): void {
    const choice = this.settings.current();
    this.item.text = `$(eye) ${this.settings.nameOf(choice)}`;
    this.item.tooltip = `Attention Lens model: ${choice.dir}\nClick to select another model.`;
  }

  /** Removes the item. */
  dispose(): void {
    this.listener.dispose();
    this.item.dispose();
  }
}

/**
 * The quick pick of models; checks the picked folder, then sets attentionLens.defaultModel and says so,
 * followed by `nextStep`. Returns the folder now in use, or undefined when the pick was cancelled, the
 * folder failed its check, or Add/Download Model… ran instead.
 */
export async function selectModel(settings: ModelSettings, notifier: Notifier,
  nextStep = 'Run "Attention Lens: Show Attention" to see it.'): Promise<ModelChoice | undefined> {
  const current = settings.current();
  const items: (vscode.QuickPickItem & { choice?: ModelChoice; command?: string })[] = settings.choices().map((c) => ({
    label: settings.nameOf(c),
    description: c.dir === current.dir ? 'current' : undefined,
    detail: c.dir,
    choice: c,
  }));
  items.push(
    { label: '$(add) Add Model…', detail: 'Check a model folder (config.json, tokenizer.json, onnx/) and list it here', command: 'attentionLens.addModel' },
    { label: '$(cloud-download) Download Model…', detail: 'Download a model by id (needs "attentionLens.allowDownloads")', command: 'attentionLens.downloadModel' },
  );
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Attention Lens: Select Model',
    placeHolder: 'Model folders come from the bundled model and the attentionLens.models setting',
  });
  if (!picked) return undefined;
  if (picked.command) {
    await vscode.commands.executeCommand(picked.command);
    return undefined;
  }
  if (!picked.choice) return undefined;
  try {
    await settings.load(picked.choice);
  } catch (e) {
    notifier.error(`Cannot use the model "${picked.label}": ${errorText(e)}`);
    return undefined;
  }
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const inspect = config.inspect('defaultModel');
  // A workspace value is replaced only where it applies (a trusted workspace); otherwise the user's own is set.
  const target = vscode.workspace.isTrusted && inspect?.workspaceValue !== undefined && vscode.workspace.workspaceFolders
    ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('defaultModel', picked.choice.bundled ? '' : picked.choice.dir, target);
  notifier.info(`Attention Lens now uses the model "${picked.label}". ${nextStep}`);
  return picked.choice;
}
