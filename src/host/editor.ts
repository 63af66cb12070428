/**
 * The editor side of a run: a hover card for analysed tokens (top attended tokens, and the panel is told
 * which token is hovered), decorations that paint what the focused token attends to (five theme colours,
 * attentionLens.weight1..5, plus an outline on the focused token), and stale detection when the
 * document is edited after the run.
 */
import * as vscode from 'vscode';
import type { HeadRef, TokenInfo } from '../shared/protocol';
import { attentionRow, isValidHead, WEIGHT_LEVELS, weightBuckets, type AttentionData } from './attention-math';
import { hoverMarkdown } from './hover-card';
import { tokenAtOffset } from '../shared/offsets';

/** The head shown before the panel reports one: layer 0, mean over heads. */
export const DEFAULT_HEAD: HeadRef = { stack: 'self', layer: 0, head: 'mean' };

/** The run the editor link paints and explains. */
export interface LinkedRun {
  readonly runId: number;
  readonly documentUri: string;
  readonly documentOffset: number;
  readonly tokens: readonly TokenInfo[];
}

/** What the editor link tells its owner. */
export interface EditorLinkEvents {
  /** A token of the run was hovered in the editor. */
  onEditorHover(runId: number, tokenIndex: number): void;
  /** The run's document changed; its ranges and decorations no longer hold. */
  onStale(runId: number, reason: string): void;
}

/** Hover, decorations and stale detection for the latest run. */
export class EditorLink implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly weightTypes: vscode.TextEditorDecorationType[];
  private readonly focusType: vscode.TextEditorDecorationType;
  private run: LinkedRun | undefined;
  private attention: (AttentionData & { causal: boolean }) | undefined;
  private stale = false;
  private focus: { tokenIndex: number | null; head: HeadRef } = { tokenIndex: null, head: DEFAULT_HEAD };
  private hoverRegistration: vscode.Disposable | undefined;

  constructor(private readonly events: EditorLinkEvents) {
    this.weightTypes = Array.from({ length: WEIGHT_LEVELS }, (_, i) => vscode.window.createTextEditorDecorationType({
      backgroundColor: new vscode.ThemeColor(`attentionLens.weight${i + 1}`),
      borderRadius: '2px',
      overviewRulerColor: i === WEIGHT_LEVELS - 1 ? new vscode.ThemeColor(`attentionLens.weight${WEIGHT_LEVELS}`) : undefined,
      overviewRulerLane: vscode.OverviewRulerLane.Center,
    }));
    this.focusType = vscode.window.createTextEditorDecorationType({
      border: '1px solid',
      borderColor: new vscode.ThemeColor('focusBorder'),
      borderRadius: '2px',
    });
    this.disposables.push(
      ...this.weightTypes, this.focusType,
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChanged(e)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.paint()),
    );
  }

  /** Starts following a new run (no attention yet): old decorations go. */
  setRun(run: LinkedRun): void {
    this.run = run;
    this.attention = undefined;
    this.stale = false;
    this.focus = { tokenIndex: null, head: DEFAULT_HEAD };
    this.paint();
  }

  /** The run's attention arrived: hovers start to work. */
  setAttention(runId: number, attention: AttentionData & { causal: boolean }): void {
    if (this.run?.runId !== runId) return;
    this.attention = attention;
    this.hoverRegistration ??= vscode.languages.registerHoverProvider('*', { provideHover: (d, p) => this.provideHover(d, p) });
    this.paint();
  }

  /** The panel's focused token and head changed: repaint. */
  setFocus(runId: number, tokenIndex: number | null, head: HeadRef): void {
    if (this.run?.runId !== runId) return;
    this.focus = { tokenIndex, head };
    this.paint();
  }

  /** The panel closed: forget the run, remove decorations and the hover. */
  clear(): void {
    this.run = undefined;
    this.attention = undefined;
    this.paint();
    this.hoverRegistration?.dispose();
    this.hoverRegistration = undefined;
  }

  /** Removes decorations, the hover and every listener. */
  dispose(): void {
    this.clear();
    for (const d of this.disposables) d.dispose();
  }

  private editorsOfRun(): vscode.TextEditor[] {
    const uri = this.run?.documentUri;
    return uri ? vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === uri) : [];
  }

  private tokenRange(document: vscode.TextDocument, index: number): vscode.Range | undefined {
    const t = this.run?.tokens[index];
    if (!t || t.start < 0 || t.end <= t.start) return undefined;
    const base = this.run!.documentOffset;
    return new vscode.Range(document.positionAt(base + t.start), document.positionAt(base + t.end));
  }

  /** Paints the attended tokens of the focused token in every visible editor of the run's document. */
  private paint(): void {
    const levels: vscode.Range[][] = this.weightTypes.map(() => []);
    const focusRanges: vscode.Range[] = [];
    const editors = this.editorsOfRun();
    const att = this.attention;
    const q = this.focus.tokenIndex;
    const canPaint = !this.stale && att && editors.length > 0 && q !== null && q >= 0 && q < att.tokens &&
      isValidHead(this.focus.head, att.layers, att.heads);
    for (const editor of vscode.window.visibleTextEditors) {
      if (!canPaint || !editors.includes(editor)) {
        for (const t of this.weightTypes) editor.setDecorations(t, []);
        editor.setDecorations(this.focusType, []);
      }
    }
    if (!canPaint) return;
    const buckets = weightBuckets(attentionRow(att, this.focus.head, q));
    const doc = editors[0].document;
    buckets.forEach((level, j) => {
      const r = level > 0 ? this.tokenRange(doc, j) : undefined;
      if (r) levels[level - 1].push(r);
    });
    const qr = this.tokenRange(doc, q);
    if (qr) focusRanges.push(qr);
    for (const editor of editors) {
      this.weightTypes.forEach((t, i) => editor.setDecorations(t, levels[i]));
      editor.setDecorations(this.focusType, focusRanges);
    }
  }

  private provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const run = this.run;
    const att = this.attention;
    if (!run || !att || this.stale || document.uri.toString() !== run.documentUri) return undefined;
    const rel = document.offsetAt(position) - run.documentOffset;
    const ranges = run.tokens.map((t) => (t.start >= 0 ? ([t.start, t.end] as const) : null));
    const index = tokenAtOffset(ranges, rel);
    if (index < 0 || index >= att.tokens) return undefined;
    const head = isValidHead(this.focus.head, att.layers, att.heads) ? this.focus.head : DEFAULT_HEAD;
    const md = new vscode.MarkdownString(hoverMarkdown(run.tokens, index, attentionRow(att, head, index), head, att.causal));
    md.isTrusted = false;
    md.supportHtml = false;
    this.events.onEditorHover(run.runId, index);
    return new vscode.Hover(md, this.tokenRange(document, index));
  }

  private onDocumentChanged(e: vscode.TextDocumentChangeEvent): void {
    const run = this.run;
    if (!run || this.stale || e.contentChanges.length === 0 || e.document.uri.toString() !== run.documentUri) return;
    this.stale = true;
    this.paint();
    this.events.onStale(run.runId, 'The document was edited after this run, so token positions and decorations may no ' +
      'longer match. Run "Attention Lens: Show Attention" again to refresh.');
  }
}
