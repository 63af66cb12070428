/**
 * The Compare Heads view (webview view attentionLens.compare in the Attention Lens side bar): keeps the
 * pinned heads and, whenever the run or the pins change, asks the panel's worker for every pinned head's
 * matrix and its nearest heads, and sends them to the view (Float32 [pinned, T, T], 'mean' = mean over the
 * layer's heads). The host holds only the pinned heads' matrices, never a run's stack.
 */
import * as vscode from 'vscode';
import { makeNonce, renderCompareHtml } from '../shared/html';
import { assertNever, COMPARE_TO_HOST_TYPES, isMessage, type CompareToHost, type HeadRef, type HostToCompare, type TokenInfo } from '../shared/protocol';
import type { StackShape } from '../shared/attention-query';
import { isValidHead, parseHeadRef, sameHead, stackFor } from './attention-math';
import type { AttentionAsker } from './attention-asker';
import { errorText } from './errors';

/** How many related heads the view lists per pinned head. */
export const RELATED_HEADS = 4;

/** What the compare view asks its owner to do. */
export interface CompareEvents {
  /** Show this head in the panel. */
  onFocusHead(head: HeadRef): void;
  /** The pinned list changed. */
  onPinsChanged(pinned: readonly HeadRef[]): void;
  /** A handler threw; the view keeps working. */
  onHandlerError(e: unknown): void;
}

/** At most this many heads are pinned; pinning more drops the oldest. */
export const MAX_PINNED = 12;
const NO_RUN = 'Run "Attention Lens: Show Attention" on some text, then pin heads from the panel to compare them here.';

/** Provider of the compare webview view and owner of the pinned heads. */
export class CompareViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  /** The view id contributed in package.json. */
  static readonly viewType = 'attentionLens.compare';

  private view: vscode.WebviewView | undefined;
  private viewDisposables: vscode.Disposable[] = [];
  private ready = false;
  private pinned: HeadRef[] = [];
  private source: { runId: number; tokens: readonly TokenInfo[]; shapes: readonly StackShape[] } | undefined;
  private clearReason = NO_RUN;
  /** Bumped by every update, so an answer for an older state is dropped. */
  private generation = 0;

  constructor(private readonly extensionUri: vscode.Uri, private readonly events: CompareEvents, private readonly asker: AttentionAsker) {}

  /** The pinned heads, oldest first. */
  pinnedHeads(): readonly HeadRef[] {
    return this.pinned.slice();
  }

  /** Called by VS Code when the view becomes visible for the first time (or again after being disposed). */
  resolveWebviewView(view: vscode.WebviewView): void {
    this.disposeView();
    this.view = view;
    this.ready = false;
    const webview = view.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    const asset = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...p)).toString();
    this.viewDisposables.push(
      webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      view.onDidDispose(() => this.disposeView()),
    );
    webview.html = renderCompareHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: asset('dist', 'compare.js'),
      styleUri: asset('media', 'compare.css'),
      title: 'Compare heads',
    });
  }

  /** A run to compare heads on: its stacks' shapes (its own, or an encoder–decoder run's encoder, decoder and cross). */
  setSource(runId: number, tokens: readonly TokenInfo[], shapes: readonly StackShape[]): void {
    this.source = { runId, tokens, shapes };
    this.update();
  }

  /** No attention to show (the panel closed, or the run went stale). */
  clearSource(reason: string): void {
    this.source = undefined;
    this.clearReason = reason;
    this.update();
  }

  /** Pins a head (no duplicates; the oldest pin goes beyond MAX_PINNED) and opens the view. */
  pin(head: HeadRef): void {
    if (!this.pinned.some((p) => sameHead(p, head))) {
      this.pinned.push(head);
      if (this.pinned.length > MAX_PINNED) this.pinned.splice(0, this.pinned.length - MAX_PINNED);
      this.pinsChanged();
    }
    this.show();
  }

  /** Removes a pinned head. */
  unpin(head: HeadRef): void {
    const before = this.pinned.length;
    this.pinned = this.pinned.filter((p) => !sameHead(p, head));
    if (this.pinned.length !== before) this.pinsChanged();
  }

  /** Removes every pinned head. */
  clearPinned(): void {
    if (this.pinned.length === 0) return;
    this.pinned = [];
    this.pinsChanged();
  }

  /** Disposes the view's listeners. */
  dispose(): void {
    this.disposeView();
  }

  private show(): void {
    if (this.view) this.view.show(true);
    else void vscode.commands.executeCommand(`${CompareViewProvider.viewType}.focus`).then(undefined, () => undefined);
  }

  private pinsChanged(): void {
    this.events.onPinsChanged(this.pinnedHeads());
    this.update();
  }

  /** The message that describes the current state: the pinned heads' matrices and nearest heads, asked of the worker. */
  private async message(): Promise<HostToCompare> {
    const src = this.source;
    if (!src) return { type: 'clear', reason: this.clearReason };
    // Each pin reads its own stack (a decoder or cross head of an encoder–decoder run is not the encoder's);
    // pins whose stack this run lacks, or whose shape differs from the first pin's, are left out.
    const sizeOf = (p: HeadRef): number | undefined => {
      const s = stackFor(src.shapes, p);
      return s && isValidHead(p, s.layers, s.heads) ? s.queries * s.keys : undefined;
    };
    const n = this.pinned.map(sizeOf).find((x) => x !== undefined) ?? 0;
    const valid = this.pinned.filter((p) => sizeOf(p) === n);
    const answers = await Promise.all(valid.map((head) => Promise.all([
      this.asker.ask(src.runId, { kind: 'matrix', head }),
      this.asker.ask(src.runId, { kind: 'nearest', head, count: RELATED_HEADS }),
    ])));
    const matrices = new Float32Array(valid.length * n);
    answers.forEach(([m], k) => {
      if (m.pooled || m.rows * m.cols !== n) throw new Error(`${m.rows}×${m.cols} matrix for a ${n}-cell head`);
      matrices.set(new Float32Array(m.data), k * n);
    });
    const related = answers.map(([, near]) => near.heads.map((r) => ({ head: r.head, meanJsd: r.meanJsd })));
    return { type: 'compare', tokens: src.tokens, pinned: valid, matrices: matrices.buffer, related };
  }

  private update(): void {
    if (!this.view || !this.ready) return;
    const view = this.view;
    const generation = ++this.generation;
    this.message().then((msg) => {
      if (generation === this.generation && this.view === view) void view.webview.postMessage(msg).then(undefined, () => undefined);
    }, (e: unknown) => {
      if (generation !== this.generation || this.view !== view || this.source === undefined) return;
      // A replaced run cancels its queries: the next setSource updates again. Anything else is said in the view.
      if (e instanceof Error && e.name === 'QueryCancelledError') return;
      void view.webview.postMessage({ type: 'clear', reason: `The pinned heads could not be shown: ${errorText(e)}` } satisfies HostToCompare)
        .then(undefined, () => undefined);
    });
  }

  private receive(raw: unknown): void {
    if (!isMessage<CompareToHost>(raw, COMPARE_TO_HOST_TYPES)) return;
    const msg = raw;
    try {
      switch (msg.type) {
        case 'ready':
          this.ready = true;
          this.update();
          break;
        case 'focusHead': {
          const head = parseHeadRef(msg.head);
          if (head) this.events.onFocusHead(head);
          break;
        }
        case 'unpin': {
          const head = parseHeadRef(msg.head);
          if (head) this.unpin(head);
          break;
        }
        case 'pin': {
          const head = parseHeadRef(msg.head);
          if (head) this.pin(head);
          break;
        }
        default:
          assertNever(msg);
      }
    } catch (e) {
      this.events.onHandlerError(e);
    }
  }

  private disposeView(): void {
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    this.view = undefined;
    this.ready = false;
  }
}
