/**
 * The one Attention Lens panel (viewType attentionLens.panel): created beside the editor without taking
 * focus, reused by every run, restored after a reload through the serializer. Messages to the webview
 * wait in a queue until it posts `ready`; when it reloads and posts `ready` again, the last `show` is
 * sent again. Every message from the webview is checked and dispatched in one exhaustive switch.
 */
import * as vscode from 'vscode';
import { makeNonce, renderPanelHtml } from '../shared/html';
import { assertNever, isMessage, PANEL_TO_HOST_TYPES, type HostToPanel, type PanelToHost } from '../shared/protocol';

/** What the panel reports to its owner. */
export interface PanelEvents {
  onResult(msg: Extract<PanelToHost, { type: 'result' }>): void;
  onRunError(msg: Extract<PanelToHost, { type: 'runError' }>): void;
  onFocus(msg: Extract<PanelToHost, { type: 'focus' }>): void;
  onPinHead(msg: Extract<PanelToHost, { type: 'pinHead' }>): void;
  onReveal(msg: Extract<PanelToHost, { type: 'reveal' }>): void;
  /** The answer to a 'query' the host sent (AttentionAsker). */
  onAnswer(msg: Extract<PanelToHost, { type: 'answer' }>): void;
  /** Induction-probe scores the worker computed for a run's model. */
  onProbe(msg: Extract<PanelToHost, { type: 'probe' }>): void;
  /** The user asked to change the model from the panel. */
  onSelectModel(): void;
  /** "Save image…": a PNG of the view on show. */
  onSaveImage(msg: Extract<PanelToHost, { type: 'saveImage' }>): void;
  /** "Export data…": run Export Attention. */
  onExportData(): void;
  /** "Save SVG…" / "Save HTML…": the view on show, described by the panel. */
  onExportView(msg: Extract<PanelToHost, { type: 'exportView' }>): void;
  /** A Compare With Another Selection run finished or failed. */
  onCompared(msg: Extract<PanelToHost, { type: 'compared' }>): void;
  /** A file-wide value in the Metrics table was clicked: open its head's top window (analyse-heads.ts). */
  onRevealWindow(msg: Extract<PanelToHost, { type: 'revealWindow' }>): void;
  /** "Insert into document" under a generation. */
  onInsertGenerated(msg: Extract<PanelToHost, { type: 'insertGenerated' }>): void;
  /** The user closed the panel. */
  onClosed(): void;
  /** A handler threw; the panel keeps working. */
  onHandlerError(e: unknown): void;
}

/** Most messages kept while the webview is not ready; older ones are dropped first. */
const MAX_QUEUE = 100;

/** Owns the attention WebviewPanel and its message traffic. */
export class AttentionPanel implements vscode.Disposable {
  /** The webview panel type, also used by the serializer and the activation event. */
  static readonly viewType = 'attentionLens.panel';

  private panel: vscode.WebviewPanel | undefined;
  private panelDisposables: vscode.Disposable[] = [];
  private ready = false;
  private everReady = false;
  private queue: HostToPanel[] = [];
  private lastShow: HostToPanel | undefined;
  private roots: vscode.Uri[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly events: PanelEvents) {}

  /** True while the panel exists (visible or not). */
  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  /** True while the panel is on screen (open and its tab in front). */
  get isVisible(): boolean {
    return this.panel?.visible === true;
  }

  /**
   * Opens the panel beside the editor (or reuses it), allowing resources from `modelDirs`; a new panel shows
   * `progress` from its first paint (its script then takes over the line).
   */
  open(modelDirs: readonly vscode.Uri[], title: string, progress?: string): vscode.Webview {
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(AttentionPanel.viewType, title,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: this.rootsFor(modelDirs) });
      this.attach(panel, modelDirs, progress);
    } else {
      this.panel.title = title;
      this.ensureRoots(modelDirs);
      if (!this.panel.visible) this.panel.reveal(undefined, true);
    }
    return this.panel!.webview;
  }

  /** Takes over a panel VS Code restored after a reload (the serializer's panel). */
  adopt(panel: vscode.WebviewPanel, modelDirs: readonly vscode.Uri[]): void {
    if (this.panel && this.panel !== panel) this.panel.dispose();
    panel.webview.options = { enableScripts: true, localResourceRoots: this.rootsFor(modelDirs) };
    this.attach(panel, modelDirs);
  }

  /** Sends a message now, or when the webview is ready. A new `show` replaces everything still queued. */
  post(msg: HostToPanel): void {
    if (!this.panel) return;
    if (msg.type === 'show') {
      this.lastShow = msg;
      this.queue = [];
    }
    if (this.ready) this.send(msg);
    else {
      this.queue.push(msg);
      if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    }
  }

  /** Brings the panel to the front without taking focus. */
  reveal(): void {
    this.panel?.reveal(undefined, true);
  }

  /** The webview URI of a local file, for the panel's current webview. */
  asWebviewUri(uri: vscode.Uri): vscode.Uri | undefined {
    return this.panel?.webview.asWebviewUri(uri);
  }

  /** Closes the panel. */
  dispose(): void {
    this.panel?.dispose();
    this.detach();
  }

  private rootsFor(modelDirs: readonly vscode.Uri[]): vscode.Uri[] {
    const roots = [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')];
    for (const dir of modelDirs) if (!roots.some((r) => r.toString() === dir.toString())) roots.push(dir);
    return roots;
  }

  /** Widens localResourceRoots when a run uses a model folder the panel cannot read yet; reloads the page. */
  private ensureRoots(modelDirs: readonly vscode.Uri[]): void {
    const missing = modelDirs.filter((d) => !this.roots.some((r) => r.toString() === d.toString()));
    if (!this.panel || missing.length === 0) return;
    this.roots = this.rootsFor([...this.roots.slice(2), ...missing]);
    this.panel.webview.options = { enableScripts: true, localResourceRoots: this.roots };
    this.setHtml(); // a fresh page; it posts `ready` again and gets the queued messages
  }

  private attach(panel: vscode.WebviewPanel, modelDirs: readonly vscode.Uri[], progress?: string): void {
    this.detachListeners();
    this.panel = panel;
    this.roots = this.rootsFor(modelDirs);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    this.panelDisposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      panel.onDidDispose(() => {
        this.detach();
        this.events.onClosed();
      }),
    );
    this.setHtml(progress);
  }

  private setHtml(progress?: string): void {
    if (!this.panel) return;
    const webview = this.panel.webview;
    const asset = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...p)).toString();
    this.ready = false;
    if (this.lastShow && !this.queue.some((m) => m.type === 'show')) this.queue.unshift(this.lastShow);
    webview.html = renderPanelHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: asset('dist', 'panel.js'),
      styleUri: asset('media', 'panel.css'),
      workerUri: asset('dist', 'worker.js'),
      wasmBase: `${asset('dist', 'ort')}/`,
      title: 'Attention Lens',
      ...(progress === undefined ? {} : { progress }),
    });
  }

  private receive(raw: unknown): void {
    if (!isMessage<PanelToHost>(raw, PANEL_TO_HOST_TYPES)) return;
    const msg = raw;
    try {
      switch (msg.type) {
        case 'ready':
          this.onReady();
          break;
        case 'result':
          this.events.onResult(msg);
          break;
        case 'runError':
          this.events.onRunError(msg);
          break;
        case 'focus':
          this.events.onFocus(msg);
          break;
        case 'pinHead':
          this.events.onPinHead(msg);
          break;
        case 'reveal':
          this.events.onReveal(msg);
          break;
        case 'selectModel':
          this.events.onSelectModel();
          break;
        case 'saveImage':
          this.events.onSaveImage(msg);
          break;
        case 'exportData':
          this.events.onExportData();
          break;
        case 'exportView':
          this.events.onExportView(msg);
          break;
        case 'revealWindow':
          this.events.onRevealWindow(msg);
          break;
        case 'probe':
          this.events.onProbe(msg);
          break;
        case 'answer':
          this.events.onAnswer(msg);
          break;
        case 'compared':
          this.events.onCompared(msg);
          break;
        case 'insertGenerated':
          this.events.onInsertGenerated(msg);
          break;
        default:
          assertNever(msg);
      }
    } catch (e) {
      this.events.onHandlerError(e);
    }
  }

  /** First `ready`: flush the queue. A later `ready` means the page reloaded: show the last run again. */
  private onReady(): void {
    if (this.everReady && this.lastShow && !this.queue.some((m) => m.type === 'show')) this.queue.unshift(this.lastShow);
    this.ready = true;
    this.everReady = true;
    const queued = this.queue;
    this.queue = [];
    for (const m of queued) this.send(m);
  }

  private send(msg: HostToPanel): void {
    this.panel?.webview.postMessage(msg).then(undefined, () => undefined);
  }

  private detachListeners(): void {
    for (const d of this.panelDisposables) d.dispose();
    this.panelDisposables = [];
  }

  private detach(): void {
    this.detachListeners();
    this.panel = undefined;
    this.ready = false;
    this.everReady = false;
    this.queue = [];
    this.lastShow = undefined;
  }
}
