/**
 * The editor side of a run: a hover card for analysed tokens (top attended tokens, and the panel is told
 * which token is hovered), decorations that paint what the focused token attends to (five theme colours,
 * attentionLens.weight1..5, plus an outline on the focused token), and stale detection when the
 * document is edited after the run.
 */
import * as vscode from 'vscode';
import type { HeadRef, TokenInfo } from '../shared/protocol';
import { headRow, type Attention } from '../shared/attention';
import { isValidHead, WEIGHT_LEVELS, weightBuckets } from './attention-math';
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

/** Encoder–decoder runs: the decoder's tokens and the run's stacks (decoder and cross among them). */
export interface LinkedStacks {
  readonly decoderTokens: readonly TokenInfo[];
  readonly stacks: readonly Attention[];
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
  private attention: Attention | undefined;
  private seq2seq: LinkedStacks | undefined;
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
    this.seq2seq = undefined;
    this.stale = false;
    this.focus = { tokenIndex: null, head: DEFAULT_HEAD };
    this.paint();
  }

  /** The run's attention arrived: hovers start to work. */
  setAttention(runId: number, attention: Attention): void {
    if (this.run?.runId !== runId) return;
    this.attention = attention;
    this.hoverRegistration ??= vscode.languages.registerHoverProvider('*', { provideHover: (d, p) => this.provideHover(d, p) });
    this.paint();
  }

  /** Encoder–decoder runs: decoder and cross heads paint too (their queries are decoder tokens). */
  setStacks(runId: number, stacks: LinkedStacks): void {
    if (this.run?.runId !== runId) return;
    this.seq2seq = stacks;
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

  private tokenRange(document: vscode.TextDocument, index: number, tokens = this.run?.tokens): vscode.Range | undefined {
    const t = tokens?.[index];
    if (!t || t.start < 0 || t.end <= t.start) return undefined;
    const base = this.run!.documentOffset;
    return new vscode.Range(document.positionAt(base + t.start), document.positionAt(base + t.end));
  }

  /**
   * The focused row: weights over key tokens, the key tokens, and the query's token list. Self/encoder heads
   * read the run's attention; decoder and cross heads of encoder–decoder runs read their stack, whose
   * queries are decoder tokens (cross keys are the input tokens, decoder keys the decoder tokens).
   */
  private focusedRow(): { row: Float32Array; keys: readonly TokenInfo[]; queries: readonly TokenInfo[] } | undefined {
    const att = this.attention;
    const q = this.focus.tokenIndex;
    const head = this.focus.head;
    if (!att || !this.run || q === null || q < 0) return undefined;
    if (head.stack === 'decoder' || head.stack === 'cross') {
      const s = this.seq2seq?.stacks.find((x) => x.kind === head.stack);
      if (!s || q >= s.queries || !isValidHead(head, s.layers, s.heads)) return undefined;
      // Aggregates other than the mean are not drawn for decoder/cross stacks: they show the mean there.
      const row = headRow(s, head.layer, typeof head.head === 'number' ? head.head : 'mean', q);
      const decoderTokens = this.seq2seq!.decoderTokens;
      return { row, keys: head.stack === 'cross' ? this.run.tokens : decoderTokens, queries: decoderTokens };
    }
    if (q >= att.queries || !isValidHead(head, att.layers, att.heads)) return undefined;
    return { row: headRow(att, head.layer, head.head, q), keys: this.run.tokens, queries: this.run.tokens };
  }

  /** Paints the attended tokens of the focused token in every visible editor of the run's document. */
  private paint(): void {
    const levels: vscode.Range[][] = this.weightTypes.map(() => []);
    const focusRanges: vscode.Range[] = [];
    const editors = this.editorsOfRun();
    const focused = this.stale || editors.length === 0 ? undefined : this.focusedRow();
    for (const editor of vscode.window.visibleTextEditors) {
      if (!focused || !editors.includes(editor)) {
        for (const t of this.weightTypes) editor.setDecorations(t, []);
        editor.setDecorations(this.focusType, []);
      }
    }
    if (!focused) return;
    const buckets = weightBuckets(focused.row);
    const doc = editors[0].document;
    buckets.forEach((level, j) => {
      const r = level > 0 ? this.tokenRange(doc, j, focused.keys) : undefined;
      if (r) levels[level - 1].push(r);
    });
    const qr = this.tokenRange(doc, this.focus.tokenIndex!, focused.queries);
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
    if (index < 0 || index >= att.queries) return undefined;
    const head = isValidHead(this.focus.head, att.layers, att.heads) ? this.focus.head : DEFAULT_HEAD;
    const md = new vscode.MarkdownString(hoverMarkdown(run.tokens, index, headRow(att, head.layer, head.head, index), head, att.causal));
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
    // A clause: the panel's banner adds what to do ("Out of date: <reason>. Run … again to refresh.").
    this.events.onStale(run.runId, 'the document was edited after this run, so token positions and highlights may no longer match');
  }
}
