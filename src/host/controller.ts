/**
 * The Show Attention flow and the glue between its parts: pick the text, load the model, tokenize in the
 * host, send `show` to the panel, then route what the panel, the editor and the compare view report
 * (results, errors, focus, pins, reveals, staleness) into run snapshots and the other parts.
 */
import path from 'node:path';
import * as vscode from 'vscode';
import type { AttentionLensApi } from '../api';
import { headLabel, type HeadRef, type PanelToHost, type PanelView } from '../shared/protocol';
import { isValidHead, parseHeadRef } from './attention-math';
import { AttentionAsker } from './attention-asker';
import { HeadAnalyst, type HeadAnalysis } from './analyse-heads';
import { analyseFolderCommand } from './analyse-folder';
import { exportAttentionCommand } from './export-command';
import { saveImage } from './save-image';
import { exportViewCommand } from './view-export-command';
import { CompareViewProvider } from './compare';
import { EditorLink } from './editor';
import { documentLabel } from './input';
import { modelInfo, tokenizeForRun } from './run-input';
import { findDocument, recallRequest, rememberRequest } from './last-request';
import { CONFIG_SECTION, ModelSettings, selectModel } from './models';
import { errorText, guardCommand, Notifier, sentence } from './notify';
import { AttentionPanel } from './panel';
import { revealToken } from './reveal-token';
import { RunStore } from './runs';
import { checkResult, expectationWarning, RUN_AGAIN } from './run-result';
import { backendSettings, runSettings } from './run-settings';
import { pickFromEditor, pickRange, type PickedText } from './selection';
import { ProbeStore } from './probe-store';
import { RefusalMarker } from './refusal-marker';
import { decoderTokens } from '../shared/stacks';
import { tokensAsShown } from '../shared/token-display';
import { StatusProgress } from './status-progress';
import { compareSelectionCommand } from './compare-selection';

/** Optional argument of attentionLens.showAttention for scripted runs: a document and UTF-16 offsets. */
export interface ShowAttentionArgs {
  readonly uri: string;
  readonly start: number;
  readonly end: number;
}

function isShowAttentionArgs(arg: unknown): arg is ShowAttentionArgs {
  const a = arg as Partial<ShowAttentionArgs> | undefined;
  return typeof a === 'object' && a !== null && typeof a.uri === 'string' && typeof a.start === 'number' && typeof a.end === 'number';
}

/** Owns every part of the extension and routes messages between them. */
export class AttentionLensController implements vscode.Disposable {
  readonly notifier = new Notifier();
  readonly runs = new RunStore();
  readonly models: ModelSettings;
  readonly compare: CompareViewProvider;
  private readonly panel: AttentionPanel;
  private readonly editorLink: EditorLink;
  /** Asks the panel's worker for rows and matrices of a run (the host never holds a stack). */
  private readonly asker: AttentionAsker;
  private focusState: { tokenIndex: number | null; head: HeadRef } | undefined;
  /** What config.json said about each run's model, checked against the result. */
  private readonly expectations = new Map<number, string | undefined>();
  /** The model folder the latest run used (or failed to load). */
  private runModelDir: string | undefined;
  /** Induction-probe scores by model, kept in global state across panels and reloads. */
  private readonly probes: ProbeStore;
  /** Analyse Heads Across File and its latest result. */
  private readonly analyst: HeadAnalyst;
  /** Refusals next to the selection, when the panel is not on screen. */
  private readonly refusalMarker = new RefusalMarker();
  /** The status bar's progress for the request in flight. */
  private readonly progress = new StatusProgress();

  constructor(private readonly context: vscode.ExtensionContext) {
    const onHandlerError = (e: unknown) => this.notifier.error(`Attention Lens could not handle a message from its view: ` +
      `${sentence(errorText(e))} ${RUN_AGAIN}; if it keeps happening, reload the window.`);
    this.models = new ModelSettings(context.extensionUri, context.globalStorageUri?.fsPath, this.notifier);
    this.probes = new ProbeStore(context.globalState);
    this.panel = new AttentionPanel(context.extensionUri, {
      onResult: (m) => this.onResult(m),
      onRunError: (m) => this.onRunError(m),
      onFocus: (m) => this.onFocus(m),
      onPinHead: (m) => {
        const head = parseHeadRef(m.head);
        if (head) this.compare.pin(head);
      },
      onReveal: (m) => void this.onReveal(m),
      onProbe: (m) => void this.probes.accept(m, this.runs.get(m.runId)?.shapes?.[0]).catch(onHandlerError),
      onAnswer: (m) => this.asker.receive(m),
      onSelectModel: () => void guardCommand(this.notifier, 'Select Model', () => this.selectModelFromPanel())(),
      onSaveImage: (m) => void guardCommand(this.notifier, 'Save Image', () => saveImage(m, this.notifier))(),
      onExportData: () => void guardCommand(this.notifier, 'Export Attention', () => this.exportAttention())(),
      onRevealWindow: (m) => void guardCommand(this.notifier, 'Open Window', () => this.analyst.revealTop(m.layer, m.head, m.metric))(),
      onExportView: (m) => void guardCommand(this.notifier, 'Export View', () => exportViewCommand({ run: this.runs.latest(), asker: this.asker,
        notifier: this.notifier, model: this.runModelDir ? path.basename(this.runModelDir) : 'unknown', extensionPath: context.extensionUri.fsPath }, m))(),
      onCompared: (m) => { if (m.error) this.notifier.warn(`Compare With Another Selection: ${sentence(m.error)}`); },
      onClosed: () => this.onPanelClosed(),
      onHandlerError,
    });
    this.asker = new AttentionAsker((m) => {
      if (!this.panel.isOpen) return false;
      this.panel.post(m);
      return true;
    });
    this.analyst = new HeadAnalyst({ runWindow: async (p) => this.runs.waitFor(await this.run(p)), asker: this.asker, notifier: this.notifier,
      post: (m) => this.panel.post(m) });
    this.editorLink = new EditorLink({
      onEditorHover: (runId, tokenIndex) => {
        if (runId === this.runs.latest()?.runId) this.panel.post({ type: 'editorHover', tokenIndex });
      },
      onStale: (runId, reason) => {
        this.runs.update(runId, { stale: true });
        this.panel.post({ type: 'stale', reason });
      },
    }, this.asker);
    this.compare = new CompareViewProvider(context.extensionUri, {
      onFocusHead: (head) => {
        this.panel.post({ type: 'focusHead', head });
        this.panel.reveal();
      },
      onPinsChanged: () => undefined,
      onHandlerError,
    }, this.asker);
  }

  /** The test API that activate() returns. */
  api(): AttentionLensApi {
    return {
      lastRun: () => this.runs.latest(),
      waitForRun: (runId?: number) => this.runs.waitFor(runId),
      messages: () => this.notifier.messages(),
      focus: () => this.focusState,
      pinnedHeads: () => this.compare.pinnedHeads(),
      attention: async (runId, kind) => {
        const shapes = this.runs.get(runId)?.shapes;
        const shape = kind ? shapes?.find((s) => s.kind === kind) : shapes?.[0];
        if (!shape) throw new Error(`Run ${runId} has no ${kind ?? ''} attention (not finished, failed, or forgotten).`);
        return this.asker.stack(runId, shape);
      },
    };
  }

  /** attentionLens.showAttention: runs on the active editor (or on `arg` = {uri,start,end}); returns the run id. */
  async showAttention(arg?: unknown): Promise<number | undefined> {
    let picked: ReturnType<typeof pickFromEditor>;
    if (isShowAttentionArgs(arg)) {
      const document = await findDocument(arg.uri);
      if (!document) {
        const message = `The document ${arg.uri} is not open and cannot be opened. Open it, then ${RUN_AGAIN.toLowerCase()}.`;
        this.notifier.warn(message);
        this.showWhereTheUserLooks(message, arg.uri);
        return undefined;
      }
      picked = pickRange(document, arg.start, arg.end);
    } else {
      picked = pickFromEditor(vscode.window.activeTextEditor);
    }
    if (!picked.ok) {
      if (picked.kind === 'info') this.notifier.info(picked.message);
      else this.notifier.warn(picked.message);
      this.showWhereTheUserLooks(picked.message, isShowAttentionArgs(arg) ? arg.uri : undefined);
      return undefined;
    }
    this.refusalMarker.clear();
    return this.run(picked);
  }

  /** attentionLens.analyseHeads: head metrics over every window of the file or selection (analyse-heads.ts). */
  analyseHeads(arg?: unknown): Promise<HeadAnalysis | undefined> {
    return this.analyst.analyse(arg);
  }

  /** attentionLens.analyseHeadsInFolder: the same over the files of a folder that match a glob (analyse-folder.ts). */
  analyseHeadsInFolder(arg?: unknown): Promise<HeadAnalysis | undefined> {
    return this.analyst.analyse(arg, analyseFolderCommand);
  }

  /** attentionLens.exportAttention: the head on show, its layer or the whole stack to .npy or JSON (export-command.ts). */
  exportAttention(arg?: unknown): Promise<string[]> {
    const run = this.runs.latest();
    return exportAttentionCommand({
      run, head: this.focusState?.head, asker: this.asker, notifier: this.notifier, panelOpen: this.panel.isOpen,
      model: this.runModelDir ? path.basename(this.runModelDir) : 'unknown',
    }, arg);
  }

  /** Export View as SVG/HTML (command palette): the panel describes its view and the host writes it (view-export-command.ts). */
  requestViewExport(format: 'svg' | 'html'): void {
    const run = this.runs.latest();
    if (!run?.shapes || !this.panel.isOpen || run.error !== undefined) {
      this.notifier.warn('There is no view to export. Run "Attention Lens: Show Attention" first, and keep its panel open.');
      return;
    }
    this.panel.post({ type: 'exportView', format });
  }

  /**
   * Besides the toast, a refusal or a failed start is shown where the user is looking: as a banner in the panel when
   * it is open (unless `banner` is false: a failed run's error is there already), and next to the selection in the
   * editor when the panel is not on screen. The mark goes only to the active editor, and only when it shows `documentUri`.
   */
  private showWhereTheUserLooks(message: string, documentUri?: string, banner = true): void {
    if (banner && this.panel.isOpen) this.panel.post({ type: 'refusal', message });
    if (this.panel.isVisible) return;
    const editor = vscode.window.activeTextEditor;
    if (editor && (documentUri === undefined || editor.document.uri.toString() === documentUri)) this.refusalMarker.show(editor, message);
  }

  /** attentionLens.compareSelection: the selection as text B beside the run on show (compare-selection.ts); the companion run id. */
  compareSelection(): Promise<number | undefined> {
    const runDir = this.runModelDir;
    return compareSelectionCommand({
      run: this.runs.latest(), panelOpen: this.panel.isOpen, notifier: this.notifier, post: (m) => this.panel.post(m),
      maxTokensSetting: vscode.workspace.getConfiguration(CONFIG_SECTION).get('maxTokens'),
      loadRunModel: async () => {
        const choice = this.models.current();
        return runDir && path.resolve(choice.dir) === path.resolve(runDir) ? this.models.load(choice) : undefined;
      },
    });
  }

  /** Brings the panel forward on `view`; false when no panel with a run is open. */
  showPanelView(view: PanelView): boolean {
    if (!this.panel.isOpen || !this.runs.latest()) return false;
    this.panel.post({ type: 'showView', view });
    this.panel.reveal();
    return true;
  }

  /** attentionLens.pinHead: pins a head ({stack?, layer, head}) to the compare view. */
  pinHead(arg: unknown): void {
    const head = parseHeadRef(arg);
    if (!head) {
      this.notifier.warn('Attention Lens: Pin Head needs a head such as {"layer": 0, "head": 1} or {"layer": 0, "head": "mean"}. ' +
        'Use the "Pin head" button in the Attention Lens panel instead.');
      return;
    }
    const att = this.runs.latest()?.shapes?.[0];
    if (att && !isValidHead(head, att.layers, att.heads)) {
      this.notifier.warn(`The model has ${att.layers} layers and ${att.heads} heads, so ${headLabel(head)} does not exist. ` +
        'Pin a head inside that range.');
      return;
    }
    this.compare.pin(head);
  }

  /** attentionLens.selectModel. */
  async selectModel(): Promise<void> {
    await selectModel(this.models, this.notifier);
  }

  /**
   * The panel's "Change model…" button: the Select Model quick pick, then, when the panel has a run and
   * the model picked is not the one it ran on, the last request again on the new model. Cancelling changes nothing.
   */
  async selectModelFromPanel(): Promise<void> {
    const hasRun = this.panel.isOpen && this.runs.latest() !== undefined;
    const picked = await selectModel(this.models, this.notifier, hasRun ? 'The panel shows the last selection with it.' : undefined);
    if (!picked || !hasRun || !this.panel.isOpen || !this.runModelDir) return;
    if (path.resolve(picked.dir) === path.resolve(this.runModelDir)) return;
    await this.rerunLastRequest(`Model changed to "${this.models.nameOf(picked)}": the last selection was analysed again.`);
  }

  /**
   * Rebuilds the panel VS Code restored after a reload, and re-runs the last request if its document is there.
   * A model folder becomes a resource root of the panel only once it has loaded and passed its checks (a
   * restored attentionLens.defaultModel may name any folder, "/" included); when it fails, the run says why.
   */
  async restorePanel(webviewPanel: vscode.WebviewPanel): Promise<void> {
    const roots = this.models.storageDir ? [vscode.Uri.file(this.models.storageDir)] : [];
    try {
      roots.unshift(vscode.Uri.file((await this.models.load()).dir)); // cached: the run below reuses it
    } catch {
      // Not a usable model folder: it gets no root, and the run below reports the error.
    }
    this.panel.adopt(webviewPanel, roots);
    await this.rerunLastRequest('Restored after a reload: the last selection was analysed again.');
  }

  /** Runs the last request again with `notice`; when it cannot, says why in the panel. */
  private async rerunLastRequest(notice: string): Promise<void> {
    const picked = await recallRequest(this.context.workspaceState, notice);
    if (picked.ok) {
      await this.run(picked);
      return;
    }
    this.notifier.shownInPanel('warning', picked.message);
    this.panel.post({ type: 'error', message: picked.message });
  }

  /** Closes the panel and releases every listener. */
  dispose(): void {
    this.progress.dispose();
    this.panel.dispose();
    this.refusalMarker.dispose();
    this.editorLink.dispose();
    this.compare.dispose();
    this.runs.dispose();
  }

  /** Loads the model, tokenizes the picked text and sends it to the panel. Returns the run id. */
  private async run(p: PickedText): Promise<number> {
    const { document, start, end } = p;
    const notices = [...p.notices];
    const documentUri = document.uri.toString();
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
    let openedHere = false;
    const fail = (message: string): number => {
      this.progress.end();
      // A panel this run opened early goes again: the message then shows where the user looks (the editor).
      if (openedHere) this.panel.dispose();
      const run = this.runs.begin({ documentUri, documentOffset: start, text: '', tokens: [], notices, timings: {} });
      this.runs.update(run.runId, { error: message });
      this.notifier.error(message);
      this.editorLink.clear();
      if (this.panel.isOpen) this.panel.post({ type: 'error', message });
      this.showWhereTheUserLooks(message, documentUri, false);
      return run.runId;
    };

    // Remembered before anything can fail, so a reload or another model can run this request again.
    const fullText = document.getText(new vscode.Range(document.positionAt(start), document.positionAt(end)));
    rememberRequest(this.context.workspaceState, documentUri, start, end, fullText);
    const choice = this.models.current();
    this.runModelDir = choice.dir;
    this.progress.start('Attention Lens', `loading ${this.models.nameOf(choice)} and tokenizing…`);
    // A panel opens at once, so that it says what is happening and starts its runtime while the model loads (cold start).
    // Its resource roots get a model folder only once the model has loaded and passed its checks; the bundled one is ours.
    if (!this.panel.isOpen) {
      openedHere = true;
      const storage = this.models.storageDir ? [vscode.Uri.file(this.models.storageDir)] : [];
      this.panel.open(choice.bundled ? [vscode.Uri.file(choice.dir), ...storage] : storage, `Attention: ${documentLabel(document.uri.path)}`,
        `Loading the model and tokenizing: ${this.models.nameOf(choice)}…`);
      this.panel.post({ type: 'prepare', modelName: this.models.nameOf(choice), ...backendSettings(config) });
    }
    let model;
    try {
      model = await this.models.load(choice);
    } catch (e) {
      return fail(`Attention Lens cannot load its model: ${errorText(e)}`);
    }
    const input = await tokenizeForRun(model, config, document, start, fullText);
    if ('error' in input) return fail(input.error);
    const { tokenized, tokenizeMs, truncation, firstLine, lastLine, maxTokens } = input;
    notices.push(...input.notices);
    this.progress.say(`computing attention in the panel (${tokenized.tokens.length} tokens)…`);

    const decoder = model.decoderOnnxPath ? decoderTokens(tokenized.tokens, model.decoderStartId ?? 0) : undefined;
    // The model's own notices (layer order) were shown once by the loader; they stay listed with every run.
    const runNotices = [...notices, ...(model.notices ?? [])];
    const run = this.runs.begin({ documentUri, documentOffset: start, text: tokenized.text, tokens: tokenized.tokens,
      notices: runNotices, timings: { tokenizeMs }, ...(decoder ? { decoderTokens: decoder } : {}) });
    this.focusState = undefined;
    this.asker.cancelOthers(run.runId, `Run ${run.runId} replaced the run this question was about.`);
    if (notices.length) this.notifier.notice(notices.join(' '));

    const label = `${documentLabel(document.uri.path)}, ${firstLine === lastLine ? `line ${firstLine}` : `lines ${firstLine}–${lastLine}`}`;
    const roots = [vscode.Uri.file(model.dir), ...(this.models.storageDir ? [vscode.Uri.file(this.models.storageDir)] : [])];
    const webview = this.panel.open(roots, `Attention: ${documentLabel(document.uri.path)}`);
    const uri = (p: string) => webview.asWebviewUri(vscode.Uri.file(p)).toString();
    this.expectations.set(run.runId, model.expectedAttention);
    const probe = decoder ? undefined : this.probes.forRun(run.runId, model.sha256, model.dims.context);
    this.panel.post({
      type: 'show',
      runId: run.runId,
      documentLabel: label,
      text: tokenized.text,
      tokens: tokenized.tokens,
      decoderTokens: decoder,
      model: modelInfo(model, maxTokens, uri, probe),
      ...runSettings(config),
      notices: runNotices,
      timings: { tokenizeMs },
    });
    this.editorLink.setRun({ runId: run.runId, documentUri, documentOffset: start, tokens: tokenized.tokens, text: tokenized.text,
      decoderTokens: decoder, ...(truncation === undefined ? {} : { truncation }) });
    return run.runId;
  }

  private onResult(msg: Extract<PanelToHost, { type: 'result' }>): void {
    if (this.runs.latest()?.runId === msg.runId) this.progress.end();
    const run = this.runs.get(msg.runId);
    if (!run || run.error !== undefined || run.shapes) return; // cancelled, failed or already answered
    const checked = checkResult(run, msg);
    if ('error' in checked) {
      this.runs.update(run.runId, { error: checked.error });
      this.notifier.error(checked.error);
      return;
    }
    const { main } = checked;
    this.runs.update(run.runId, checked.patch);
    if (msg.fallbackReason) {
      const asked = vscode.workspace.getConfiguration(CONFIG_SECTION).get('backend') === 'webgpu';
      this.notifier.once(asked ? 'warning' : 'info', `Attention Lens ran on ${msg.backendUsed === 'wasm' ? 'WebAssembly' : msg.backendUsed} ` +
        `instead of WebGPU: ${sentence(msg.fallbackReason)}${asked ? ' Set "attentionLens.backend" to "auto" or "wasm" to hide this warning.' : ''}`);
    }
    const warning = expectationWarning(this.expectations.get(run.runId), main.causal);
    this.expectations.delete(run.runId);
    if (warning) this.notifier.once('warning', warning);
    if (this.runs.latest()?.runId !== run.runId) return;
    void vscode.commands.executeCommand('setContext', 'attentionLens.hasRun', true);
    this.editorLink.setResult(run.runId, checked.patch.shapes!);
    this.compare.setSource(run.runId, tokensAsShown(run.tokens, run.text), checked.patch.shapes!);
  }

  private onRunError(msg: Extract<PanelToHost, { type: 'runError' }>): void {
    if (this.runs.latest()?.runId === msg.runId) this.progress.end();
    const run = this.runs.get(msg.runId);
    if (!run || run.error !== undefined || run.shapes || this.runs.latest()?.runId !== run.runId) return;
    const message = `Attention Lens could not compute attention: ${sentence(String(msg.message))}`;
    this.runs.update(run.runId, { error: message });
    this.notifier.error(message);
  }

  private onFocus(msg: Extract<PanelToHost, { type: 'focus' }>): void {
    const head = parseHeadRef(msg.head);
    if (!head || msg.runId !== this.runs.latest()?.runId) return;
    const tokenIndex = typeof msg.tokenIndex === 'number' && Number.isInteger(msg.tokenIndex) ? msg.tokenIndex : null;
    this.focusState = { tokenIndex, head };
    this.editorLink.setFocus(msg.runId, tokenIndex, head);
  }

  private onReveal(msg: Extract<PanelToHost, { type: 'reveal' }>): Promise<void> {
    return revealToken(this.runs.get(msg.runId), msg.tokenIndex, this.notifier);
  }

  private onPanelClosed(): void {
    this.progress.end();
    void vscode.commands.executeCommand('setContext', 'attentionLens.hasRun', false);
    this.asker.cancelOthers(undefined, 'The Attention Lens panel was closed.');
    this.editorLink.clear();
    this.compare.clearSource('The Attention Lens panel was closed. Run "Attention Lens: Show Attention" to compare heads again.');
    const latest = this.runs.latest();
    if (latest && latest.shapes === undefined && latest.error === undefined) {
      this.runs.update(latest.runId, { error: 'The Attention Lens panel was closed before the run finished.' });
    }
  }
}
