/**
 * A small in-memory stand-in for the `vscode` module, enough to drive the extension host's Show Attention
 * flow in plain Node: documents, editors with selections, a webview panel whose messages are captured,
 * decorations, hover providers, settings, messages and commands. Install it with `installVscodeStub()`
 * before requiring any host module that imports `vscode`.
 */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { AttentionStore } from '../../src/shared/attention-query';
import type { Attention } from '../../src/shared/attention';

type Listener<T> = (e: T) => void;

/** A minimal vscode.EventEmitter. */
export class Emitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (l: Listener<T>) => {
    this.listeners.push(l);
    return { dispose: () => { this.listeners = this.listeners.filter((x) => x !== l); } };
  };

  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
}

export class Position {
  constructor(readonly line: number, readonly character: number) {}
}
export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c!, d!) : (b as Position);
  }

  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}
export class Selection extends Range {
  get active(): Position {
    return this.end;
  }
}

export class Uri {
  private constructor(readonly scheme: string, readonly path: string) {}
  static file(p: string): Uri { return new Uri('file', p); }
  static parse(s: string): Uri {
    const m = /^([a-z-]+):(?:\/\/)?(.*)$/.exec(s);
    if (!m) throw new Error(`bad uri ${s}`);
    return new Uri(m[1], m[1] === 'file' ? m[2] : m[2]);
  }

  static joinPath(u: Uri, ...parts: string[]): Uri { return new Uri(u.scheme, path.join(u.path, ...parts)); }
  get fsPath(): string { return this.path; }
  toString(): string { return this.scheme === 'file' ? `file://${this.path}` : `${this.scheme}:${this.path}`; }
  with(): Uri { return this; }
}

/** An in-memory text document with VS Code's offset/position rules (a position never sits inside \r\n). */
export class StubDocument {
  version = 1;
  constructor(readonly uri: Uri, public text: string) {}
  private lineStarts(): number[] {
    const starts = [0];
    for (let i = 0; i < this.text.length; i++) {
      if (this.text[i] === '\r' && this.text[i + 1] === '\n') {
        starts.push(i + 2);
        i++;
      } else if (this.text[i] === '\n' || this.text[i] === '\r') {
        starts.push(i + 1);
      }
    }
    return starts;
  }

  get lineCount(): number { return this.lineStarts().length; }
  offsetAt(p: Position): number {
    const starts = this.lineStarts();
    const line = Math.min(p.line, starts.length - 1);
    return Math.min(starts[line] + p.character, this.lineEnd(line));
  }

  private lineEnd(line: number): number {
    const starts = this.lineStarts();
    if (line + 1 >= starts.length) return this.text.length;
    let end = starts[line + 1];
    if (this.text[end - 1] === '\n') end--;
    if (this.text[end - 1] === '\r') end--;
    return end;
  }

  positionAt(offset: number): Position {
    const starts = this.lineStarts();
    offset = Math.max(0, Math.min(offset, this.text.length));
    let line = 0;
    while (line + 1 < starts.length && starts[line + 1] <= offset) line++;
    return new Position(line, Math.min(offset, this.lineEnd(line)) - starts[line]);
  }

  getText(r?: Range): string {
    return r ? this.text.slice(this.offsetAt(r.start), this.offsetAt(r.end)) : this.text;
  }

  lineAt(line: number) {
    const start = this.lineStarts()[line];
    const text = this.text.slice(start, this.lineEnd(line));
    return { lineNumber: line, text, range: new Range(line, 0, line, text.length), isEmptyOrWhitespace: text.trim() === '' };
  }
}

/** Everything the stub recorded, for assertions. */
export interface StubState {
  messages: { kind: string; text: string }[];
  statusMessages: string[];
  posted: unknown[];
  panelsCreated: number;
  html: string[];
  decorations: Map<unknown, Range[]>;
  /** Every editor.revealRange call, in order: the range and the TextEditorRevealType. */
  reveals: { range: Range; type: unknown }[];
  hoverProviders: { provideHover(d: StubDocument, p: Position): unknown }[];
  /** User settings by key without the section; `update` writes here (unless it targets the workspace). */
  config: Record<string, unknown>;
  /**
   * Workspace settings by key: `get` prefers them, as VS Code does; `inspect` tells them apart. The stub does not
   * drop them in an untrusted workspace (VS Code does for restricted settings): the code must not rely on that.
   */
  workspaceConfig: Record<string, unknown>;
  /** vscode.workspace.isTrusted (true unless a test says otherwise). */
  trusted: boolean;
  /** Status bar items as the host left them. */
  statusItems: { text?: string; tooltip?: string; command?: string }[];
  commands: Map<string, (...a: unknown[]) => unknown>;
  workspaceState: Map<string, unknown>;
  /** What registerWebviewPanelSerializer / registerWebviewViewProvider were given. */
  serializer?: { deserializeWebviewPanel(panel: unknown, state: unknown): Promise<void> };
  viewProvider?: { resolveWebviewView(view: unknown): void };
}

/** The stub and its controls. */
export interface VscodeStub {
  readonly module: Record<string, unknown>;
  readonly state: StubState;
  /** Opens a document in the active editor with the given selections (UTF-16 offsets). */
  openEditor(text: string, selections: [number, number][], uri?: Uri): StubDocument;
  /** Sends a message from the panel webview to the host. */
  fromPanel(msg: unknown): void;
  /**
   * Plays the panel's worker for run `runId`: the host's 'query' messages about it are answered (on a later turn)
   * by the worker's own AttentionStore over `stacks`; queries about other runs are answered stale.
   */
  serveAttention(runId: number, stacks: readonly Attention[]): void;
  /** Resolves with the next message of this type the host posts to the panel webview. */
  nextPosted(type: string): Promise<unknown>;
  /** Resolves with the next HTML document the host gives a panel webview (a new page, which posts `ready` again). */
  nextHtml(): Promise<string>;
  /** Edits a document (replaces its text) and fires onDidChangeTextDocument. */
  edit(doc: StubDocument, text: string): void;
  /** Closes the panel as the user would. */
  closePanel(): void;
  /** Clears the active editor. */
  noEditor(): void;
  /** Moves the active editor's selection (UTF-16 offsets) and fires onDidChangeTextEditorSelection. */
  select(start: number, end: number): void;
  /** Makes the workspace trusted and fires onDidGrantWorkspaceTrust. */
  grantTrust(): void;
  /** A fresh panel object as VS Code would hand to a serializer after a reload. */
  restoredPanel(): unknown;
  /** A webview view for the compare provider; its posts land in the returned array. */
  compareView(): { view: unknown; posted: unknown[]; send: (msg: unknown) => void };
}

/** Builds the stub; `install` makes `require('vscode')` return it. */
/**
 * An ExtensionContext for activate() in these tests: `subscriptions`, the extension at `extensionUri`, the stub's
 * workspace state, and whatever `extra` adds (globalStorageUri, globalState).
 */
export function extensionContext(stub: VscodeStub, subscriptions: { dispose(): unknown }[], extensionUri: Uri,
  extra: Record<string, unknown> = {}): never {
  const state = stub.state.workspaceState;
  return {
    subscriptions, extensionUri, ...extra,
    workspaceState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => { state.set(k, v); } },
  } as never;
}

export function installVscodeStub(): VscodeStub {
  const state: StubState = { messages: [], statusMessages: [], posted: [], panelsCreated: 0, html: [], decorations: new Map(), reveals: [],
    hoverProviders: [], config: {}, workspaceConfig: {}, trusted: true, statusItems: [], commands: new Map(), workspaceState: new Map() };
  const trustGranted = new Emitter<void>();
  const configChanged = new Emitter<{ affectsConfiguration(section: string): boolean }>();
  const postWaiters: { type: string; resolve: (m: unknown) => void }[] = [];
  let htmlWaiters: ((h: string) => void)[] = [];
  const changeDoc = new Emitter<{ document: StubDocument; contentChanges: unknown[] }>();
  const visibleEditorsChanged = new Emitter<unknown>();
  const selectionChanged = new Emitter<{ textEditor: unknown }>();
  const fromWebview = new Emitter<unknown>();
  const panelDisposed = new Emitter<void>();
  const docs: StubDocument[] = [];
  let untitled = 0;
  let active: Record<string, unknown> | undefined;
  const editors: Record<string, unknown>[] = [];
  let panel: Record<string, unknown> | undefined;
  const disposable = { dispose: () => undefined };
  const window = {
    get activeTextEditor() { return active; },
    get visibleTextEditors() { return editors; },
    showInformationMessage: (text: string) => { state.messages.push({ kind: 'info', text }); return Promise.resolve(undefined); },
    showWarningMessage: (text: string) => { state.messages.push({ kind: 'warning', text }); return Promise.resolve(undefined); },
    showErrorMessage: (text: string) => { state.messages.push({ kind: 'error', text }); return Promise.resolve(undefined); },
    setStatusBarMessage: (text: string) => { state.statusMessages.push(text); return disposable; },
    createTextEditorDecorationType: (o: unknown) => ({ options: o, dispose: () => undefined }),
    onDidChangeVisibleTextEditors: visibleEditorsChanged.event,
    onDidChangeTextEditorSelection: selectionChanged.event,
    createStatusBarItem: () => {
      const item: StubState['statusItems'][number] & { show(): void; dispose(): void } = {
        show: () => undefined,
        dispose: () => { state.statusItems = state.statusItems.filter((i) => i !== item); },
      };
      state.statusItems.push(item);
      return item;
    },
    registerWebviewViewProvider: (_id: string, p: StubState['viewProvider']) => { state.viewProvider = p; return disposable; },
    registerWebviewPanelSerializer: (_id: string, s: StubState['serializer']) => { state.serializer = s; return disposable; },
    // A document not shown yet gets an editor, which becomes the active one (untitled documents the host opens).
    showTextDocument: async (d: StubDocument) => editors.find((e) => e.document === d) ?? showEditor(d, [[0, 0]]),
    showQuickPick: async () => undefined,
    /** Runs the task at once with a token that is never cancelled (tests replace it to cancel). */
    withProgress: (_o: unknown, task: (p: { report(v: unknown): void }, t: { isCancellationRequested: boolean }) => Promise<unknown>) =>
      task({ report: () => undefined }, { isCancellationRequested: false }),
    createWebviewPanel: () => {
      state.panelsCreated++;
      return makePanel();
    },
  };
  /** A webview panel whose posts land in state.posted and whose incoming messages come from fromPanel(). */
  /** The run whose attention the stubbed panel's worker holds (serveAttention). */
  let served: { runId: number; store: AttentionStore } | undefined;
  const makePanel = () => {
    {
      const webview = {
        cspSource: 'vscode-resource:',
        options: {},
        set html(h: string) {
          state.html.push(h);
          const waiting = htmlWaiters;
          htmlWaiters = [];
          for (const w of waiting) w(h);
        },
        asWebviewUri: (u: Uri) => `webview:${u.path}`,
        postMessage: (m: unknown) => {
          state.posted.push(m);
          const q = m as { type?: string; id: number; runId: number; query: Parameters<AttentionStore['answer']>[0] };
          if (q.type === 'query') {
            const store = served?.runId === q.runId ? served.store : undefined;
            setImmediate(() => {
              if (!store) return fromWebview.fire({ type: 'answer', id: q.id, runId: q.runId, stale: true, error: 'not held' });
              try {
                fromWebview.fire({ type: 'answer', id: q.id, runId: q.runId, answer: store.answer(q.query).answer });
              } catch (e) {
                fromWebview.fire({ type: 'answer', id: q.id, runId: q.runId, error: String(e) });
              }
            });
          }
          const waiting = postWaiters.filter((w) => w.type === (m as { type?: unknown }).type);
          for (const w of waiting) postWaiters.splice(postWaiters.indexOf(w), 1);
          for (const w of waiting) w.resolve(m);
          return Promise.resolve(true);
        },
        onDidReceiveMessage: fromWebview.event,
      };
      panel = { webview, visible: true, title: '', reveal: () => undefined, onDidDispose: panelDisposed.event,
        dispose: () => { panel = undefined; panelDisposed.fire(); } };
      return panel;
    }
  };
  const module: Record<string, unknown> = {
    Position, Range, Selection, Uri, EventEmitter: Emitter,
    Disposable: { from: (...ds: { dispose(): unknown }[]) => ({ dispose: () => { for (const d of ds) d.dispose(); } }) },
    ThemeColor: class { constructor(readonly id: string) {} },
    MarkdownString: class { isTrusted = false; supportHtml = false; constructor(readonly value: string) {} },
    Hover: class { constructor(readonly contents: unknown, readonly range?: Range) {} },
    ViewColumn: { One: 1, Beside: -2 },
    OverviewRulerLane: { Center: 2 },
    StatusBarAlignment: { Right: 2 },
    ConfigurationTarget: { Global: 1, Workspace: 2 },
    TextEditorRevealType: { InCenterIfOutsideViewport: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    QuickPickItemKind: { Separator: -1, Default: 0 },
    RelativePattern: class { constructor(readonly base: Uri, readonly pattern: string) {} },
    /** Insertions only, as the host makes them; applyEdit applies them to the open documents. */
    WorkspaceEdit: class {
      inserts: { uri: Uri; at: Position; text: string }[] = [];
      insert(uri: Uri, at: Position, text: string) { this.inserts.push({ uri, at, text }); }
    },
    window,
    workspace: {
      get textDocuments() { return docs; },
      workspaceFolders: undefined,
      get isTrusted() { return state.trusted; },
      onDidGrantWorkspaceTrust: trustGranted.event,
      getConfiguration: () => ({
        get: (k: string) => (k in state.workspaceConfig ? state.workspaceConfig[k] : state.config[k]),
        inspect: (k: string) => ({ key: `attentionLens.${k}`, globalValue: state.config[k], workspaceValue: state.workspaceConfig[k] }),
        update: async (k: string, v: unknown, target?: number) => {
          if (target === 2) state.workspaceConfig[k] = v;
          else state.config[k] = v;
          configChanged.fire({ affectsConfiguration: (section: string) => `attentionLens.${k}`.startsWith(section) });
        },
      }),
      onDidChangeTextDocument: changeDoc.event,
      onDidChangeConfiguration: configChanged.event,
      applyEdit: async (edit: { inserts: { uri: Uri; at: Position; text: string }[] }) => {
        for (const { uri, at, text } of edit.inserts) {
          const doc = docs.find((d) => d.uri.toString() === uri.toString());
          if (!doc) return false;
          const o = doc.offsetAt(at);
          doc.text = doc.text.slice(0, o) + text + doc.text.slice(o);
          doc.version++;
          changeDoc.fire({ document: doc, contentChanges: [{}] });
        }
        return true;
      },
      openTextDocument: async (u: Uri | { content: string }) => {
        if ('content' in u) {
          const doc = new StubDocument(Uri.parse(`untitled:Untitled-${++untitled}`), u.content);
          docs.push(doc);
          return doc;
        }
        const open = docs.find((d) => d.uri.toString() === u.toString());
        if (open) return open;
        // A file on disk (Analyse Heads Across Folder) opens as VS Code would open it: its text as UTF-8.
        if (u.scheme !== 'file' || !fs.existsSync(u.fsPath)) return Promise.reject(new Error('nope'));
        const doc = new StubDocument(u, fs.readFileSync(u.fsPath, 'utf8'));
        docs.push(doc);
        return doc;
      },
      /** The files under `p.base` whose relative path matches `p.pattern` (globs with **, *, ? and {a,b}), none under `exclude`'s folders. */
      findFiles: async (p: { base: Uri; pattern: string }, exclude: string | null, max?: number) => {
        const skip = new Set(/\{([^}]*)\}/.exec(exclude ?? '')?.[1].split(',') ?? []);
        const match = globRegExp(p.pattern);
        const out: Uri[] = [];
        const walk = (dir: string) => {
          for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, e.name);
            if (e.isDirectory()) { if (!skip.has(e.name)) walk(full); } else if (match.test(path.relative(p.base.fsPath, full).split(path.sep).join('/'))) out.push(Uri.file(full));
          }
        };
        walk(p.base.fsPath);
        return out.slice(0, max ?? out.length);
      },
    },
    languages: {
      registerHoverProvider: (_sel: unknown, p: StubState['hoverProviders'][number]) => {
        state.hoverProviders.push(p);
        return { dispose: () => { state.hoverProviders = state.hoverProviders.filter((x) => x !== p); } };
      },
    },
    commands: {
      registerCommand: (id: string, f: (...a: unknown[]) => unknown) => { state.commands.set(id, f); return disposable; },
      executeCommand: async (id: string, ...a: unknown[]) => state.commands.get(id)?.(...a),
    },
  };
  const M = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown };
  const orig = M._load;
  M._load = function (req: string, ...rest: unknown[]) {
    return req === 'vscode' ? module : orig.call(this, req, ...rest);
  };
  /** Shows `doc` in the one editor, active, with `selections` (UTF-16 offsets). */
  function showEditor(doc: StubDocument, selections: [number, number][]): Record<string, unknown> {
    const sels = selections.map(([a, b]) => new Selection(doc.positionAt(a), doc.positionAt(b)));
    const editor: Record<string, unknown> = {
      document: doc, selections: sels, selection: sels[0], viewColumn: 1,
      setDecorations: (type: unknown, ranges: Range[]) => state.decorations.set(type, ranges),
      revealRange: (range: Range, type: unknown) => { state.reveals.push({ range, type }); },
    };
    editors.splice(0, editors.length, editor);
    active = editor;
    visibleEditorsChanged.fire(editors);
    return editor;
  }
  return {
    module,
    state,
    openEditor(text, selections, uri = Uri.parse(`untitled:Untitled-${++untitled}`)) {
      const doc = new StubDocument(uri, text);
      docs.push(doc);
      showEditor(doc, selections);
      return doc;
    },
    fromPanel: (msg) => fromWebview.fire(msg),
    serveAttention: (runId, stacks) => { served = { runId, store: new AttentionStore(stacks) }; },
    nextPosted: (type) => new Promise((resolve) => postWaiters.push({ type, resolve })),
    nextHtml: () => new Promise((resolve) => htmlWaiters.push(resolve)),
    edit(doc, text) {
      doc.text = text;
      doc.version++;
      changeDoc.fire({ document: doc, contentChanges: [{}] });
    },
    closePanel: () => (panel?.dispose as () => void)?.(),
    noEditor: () => { active = undefined; },
    select(start, end) {
      const editor = active!;
      const doc = editor.document as StubDocument;
      const sel = new Selection(doc.positionAt(start), doc.positionAt(end));
      Object.assign(editor, { selection: sel, selections: [sel] });
      selectionChanged.fire({ textEditor: editor });
    },
    grantTrust: () => { state.trusted = true; trustGranted.fire(); },
    restoredPanel: () => makePanel(),
    compareView() {
      const posts: unknown[] = [];
      const incoming = new Emitter<unknown>();
      const view = {
        webview: {
          cspSource: 'vscode-resource:', options: {}, html: '',
          asWebviewUri: (u: Uri) => `webview:${u.path}`,
          postMessage: (m: unknown) => { posts.push(m); return Promise.resolve(true); },
          onDidReceiveMessage: incoming.event,
        },
        show: () => undefined,
        onDidDispose: new Emitter<void>().event,
      };
      return { view, posted: posts, send: (m) => incoming.fire(m) };
    },
  };
}

/**
 * Resolves with get()'s first truthy value, checking once per event-loop turn (the stubbed panel answers on a later
 * turn) and, past the first thousand turns, every few milliseconds: what it waits for may be a file written through
 * the disk, which a busy machine takes longer than a thousand turns to finish. Gives up after a minute.
 */
export async function until<T>(get: () => T | undefined | false, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let k = 0; Date.now() < deadline; k++) {
    const v = get();
    if (v) return v;
    await new Promise((r) => (k < 1000 ? setImmediate(r) : setTimeout(r, 5)));
  }
  throw new Error(`never happened: ${what}`);
}

/** A RegExp for a glob with **, *, ? and {a,b} (enough for the tests' findFiles). */
function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (glob.startsWith('**/', i)) { re += '(?:.*/)?'; i += 2; } else if (glob.startsWith('**', i)) { re += '.*'; i++; } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
