/**
 * The editor side of a run: a hover card for analysed tokens (top attended tokens, and the panel is told
 * which token is hovered), decorations that paint what the focused token attends to (five theme colours,
 * attentionLens.weight1..5, plus an outline on the focused token), and stale detection when the
 * document is edited after the run.
 */
import * as vscode from 'vscode';
import type { HeadRef, TokenInfo } from '../shared/protocol';
import { isValidHead, stackFor, type StackShape } from '../shared/attention-query';
import { WEIGHT_LEVELS, weightBuckets } from './attention-math';
import type { AttentionAsker } from './attention-asker';
import { hoverMarkdown } from './hover-card';
import { tokenAtOffset } from '../shared/offsets';
import { graphemeEndAt, graphemePaint, widenToGraphemes } from '../shared/grapheme-paint';
import { graphemeBounds } from '../shared/graphemes';
import { formatCount } from './input';

/** The head shown before the panel reports one: layer 0, mean over heads. */
export const DEFAULT_HEAD: HeadRef = { stack: 'self', layer: 0, head: 'mean' };

/** The run the editor link paints and explains. */
export interface LinkedRun {
  readonly runId: number;
  readonly documentUri: string;
  readonly documentOffset: number;
  readonly tokens: readonly TokenInfo[];
  /** The analysed text the tokens' ranges point into (the hover card shows tokens as slices of it, as the panel does). */
  readonly text: string;
  /** Encoder–decoder runs: the decoder's tokens (the queries of decoder and cross heads). */
  readonly decoderTokens?: readonly TokenInfo[];
  /** Set when the run analysed only the start of the selection: the notice that says so (the stop mark's hover). */
  readonly truncation?: string;
}

/** The focused token's row, as fetched for the focus it was asked for. */
interface FocusedRow {
  readonly key: string;
  readonly row: Float32Array;
  readonly keys: readonly TokenInfo[];
  readonly queries: readonly TokenInfo[];
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
  /** The mark after the last analysed character of a truncated run. */
  private readonly stopType: vscode.TextEditorDecorationType;
  /** Grapheme boundaries of the run's text, computed on the first paint that needs them. */
  private bounds: Int32Array | undefined;
  private run: LinkedRun | undefined;
  /** The run's stack shapes once its result is in (the worker keeps the data; rows are asked for). */
  private shapes: readonly StackShape[] | undefined;
  private focused: FocusedRow | undefined;
  private stale = false;
  private focus: { tokenIndex: number | null; head: HeadRef } = { tokenIndex: null, head: DEFAULT_HEAD };
  private hoverRegistration: vscode.Disposable | undefined;

  constructor(private readonly events: EditorLinkEvents, private readonly asker: AttentionAsker) {
    this.weightTypes = Array.from({ length: WEIGHT_LEVELS }, (_, i) => vscode.window.createTextEditorDecorationType({
      backgroundColor: new vscode.ThemeColor(`attentionLens.weight${i + 1}`),
      borderRadius: '2px',
      // An opaque underline, thicker for stronger weights: the translucent backgrounds alone vanish under the selection colour.
      borderStyle: 'none none solid none',
      borderWidth: `0 0 ${i < 2 ? 1 : i < 4 ? 2 : 3}px 0`,
      borderColor: new vscode.ThemeColor('attentionLens.weightBorder'),
      overviewRulerColor: i === WEIGHT_LEVELS - 1 ? new vscode.ThemeColor(`attentionLens.weight${WEIGHT_LEVELS}`) : undefined,
      overviewRulerLane: vscode.OverviewRulerLane.Center,
    }));
    this.focusType = vscode.window.createTextEditorDecorationType({
      border: '1px solid',
      borderColor: new vscode.ThemeColor('focusBorder'),
      borderRadius: '2px',
    });
    this.stopType = vscode.window.createTextEditorDecorationType({
      after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'italic', margin: '0 0 0 0.5em' },
    });
    this.disposables.push(
      ...this.weightTypes, this.focusType, this.stopType,
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChanged(e)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.paint()),
    );
  }

  /**
   * Starts following a new run (no attention yet): old decorations go, the analysed text is scrolled into view
   * (its start too, so a long line does not stay scrolled to its end) and a truncated run's stop is marked.
   */
  setRun(run: LinkedRun): void {
    this.run = run;
    this.bounds = undefined;
    this.shapes = undefined;
    this.focused = undefined;
    this.stale = false;
    this.focus = { tokenIndex: null, head: DEFAULT_HEAD };
    this.paint();
    for (const editor of this.editorsOfRun()) {
      const doc = editor.document;
      const start = doc.positionAt(run.documentOffset);
      editor.revealRange(new vscode.Range(start, doc.positionAt(run.documentOffset + run.text.length)), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      editor.revealRange(new vscode.Range(start, start), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
  }

  /** The run's result arrived (its stacks' shapes): hovers start to work. */
  setResult(runId: number, shapes: readonly StackShape[]): void {
    if (this.run?.runId !== runId) return;
    this.shapes = shapes;
    this.hoverRegistration ??= vscode.languages.registerHoverProvider('*', { provideHover: (d, p) => this.provideHover(d, p) });
    this.refresh();
  }

  /** The panel's focused token and head changed: fetch its row, then repaint. */
  setFocus(runId: number, tokenIndex: number | null, head: HeadRef): void {
    if (this.run?.runId !== runId) return;
    this.focus = { tokenIndex, head };
    this.refresh();
  }

  /** The panel closed: forget the run, remove decorations and the hover. */
  clear(): void {
    this.run = undefined;
    this.bounds = undefined;
    this.shapes = undefined;
    this.focused = undefined;
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
   * What the focus names: the stack, the head drawn and the token lists of its axes. Decoder and cross heads of
   * encoder–decoder runs have decoder tokens as queries (cross keys are the input tokens); aggregates other than
   * the mean are not drawn there, so they show the mean. Undefined when nothing is focused or it does not exist.
   */
  private focusTarget(): { key: string; head: HeadRef; query: number; keys: readonly TokenInfo[]; queries: readonly TokenInfo[] } | undefined {
    const run = this.run;
    const q = this.focus.tokenIndex;
    const ref = this.focus.head;
    const stack = this.shapes && stackFor(this.shapes, ref);
    if (!run || !stack || q === null || q < 0 || q >= stack.queries || !isValidHead(ref, stack.layers, stack.heads)) return undefined;
    const seq2seq = ref.stack === 'decoder' || ref.stack === 'cross';
    const head: HeadRef = seq2seq && typeof ref.head !== 'number' ? { ...ref, head: 'mean' } : ref;
    const dec = run.decoderTokens ?? [];
    return {
      key: `${run.runId}|${head.stack}|${head.layer}|${head.head}|${q}`, head, query: q,
      keys: ref.stack === 'decoder' ? dec : run.tokens, queries: seq2seq ? dec : run.tokens,
    };
  }

  /** Asks for the focused row (unless it is the one held), then repaints; a late answer for an old focus is dropped. */
  private refresh(): void {
    const target = this.focusTarget();
    if (!target || this.focused?.key === target.key) return this.paint();
    this.focused = undefined;
    this.paint();
    const runId = this.run!.runId;
    this.asker.ask(runId, { kind: 'row', head: target.head, query: target.query }).then((a) => {
      if (this.focusTarget()?.key !== target.key) return;
      this.focused = { key: target.key, row: new Float32Array(a.weights), keys: target.keys, queries: target.queries };
      this.paint();
    }, () => undefined); // a replaced run or a closed panel: nothing to paint
  }

  /** A document range for [start, end) of the run's text. */
  private textRange(document: vscode.TextDocument, start: number, end: number): vscode.Range {
    const base = this.run!.documentOffset;
    return new vscode.Range(document.positionAt(base + start), document.positionAt(base + end));
  }

  /**
   * The stop mark of a truncated run: after its last analysed character, the notice on hover. A run that stopped
   * inside a character (between two tokens of one emoji) is marked after that whole character, so the mark does
   * not split its glyph (the character's line, up to 256 code units either side, is segmented).
   */
  private stopMarks(document: vscode.TextDocument): vscode.DecorationOptions[] {
    const run = this.run!;
    if (run.truncation === undefined) return [];
    const stop = document.positionAt(run.documentOffset + run.text.length);
    const from = Math.max(0, stop.character - 256);
    const line = document.lineAt(stop.line).text.slice(from, stop.character + 256);
    const at = new vscode.Position(stop.line, from + graphemeEndAt(line, stop.character - from));
    return [{
      range: new vscode.Range(at, at),
      hoverMessage: run.truncation,
      renderOptions: { after: { contentText: `⟨Attention Lens stopped here: ${formatCount(run.tokens.length)} tokens⟩` } },
    }];
  }

  /**
   * Paints, in every visible editor of the run's document, the stop mark and what the focused token attends to:
   * each token over the whole characters (graphemes) it touches, a character several tokens share once, at the
   * level of its strongest piece (grapheme-paint.ts); the focused token is outlined the same way.
   */
  private paint(): void {
    const editors = this.editorsOfRun();
    const run = this.run;
    const live = run !== undefined && !this.stale && editors.length > 0;
    for (const editor of vscode.window.visibleTextEditors) {
      if (live && editors.includes(editor)) continue;
      for (const t of [...this.weightTypes, this.focusType, this.stopType]) editor.setDecorations(t, []);
    }
    if (!live) return;
    const levels: vscode.Range[][] = this.weightTypes.map(() => []);
    const focusRanges: vscode.Range[] = [];
    const doc = editors[0].document;
    const current = this.focused;
    if (current && current.key === this.focusTarget()?.key) {
      const bounds = this.bounds ??= graphemeBounds(run.text);
      const buckets = weightBuckets(current.row);
      const ranges = current.keys.map((t) => (t.start >= 0 ? [t.start, t.end] as const : null));
      const painted = buckets.flatMap((level, j) => (level > 0 ? [j] : []));
      for (const p of graphemePaint(bounds, ranges, current.row, painted)) levels[buckets[p.token] - 1].push(this.textRange(doc, p.start, p.end));
      const q = current.queries[this.focus.tokenIndex!];
      const wide = q && widenToGraphemes(bounds, q.start, q.end);
      if (wide) focusRanges.push(this.textRange(doc, wide[0], wide[1]));
    }
    const stop = this.stopMarks(doc);
    for (const editor of editors) {
      this.weightTypes.forEach((t, i) => editor.setDecorations(t, levels[i]));
      editor.setDecorations(this.focusType, focusRanges);
      editor.setDecorations(this.stopType, stop);
    }
  }

  private async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const run = this.run;
    const att = this.shapes && stackFor(this.shapes, { stack: 'self', layer: 0, head: 0 });
    if (!run || !att || this.stale || document.uri.toString() !== run.documentUri) return undefined;
    const rel = document.offsetAt(position) - run.documentOffset;
    const ranges = run.tokens.map((t) => (t.start >= 0 ? ([t.start, t.end] as const) : null));
    const index = tokenAtOffset(ranges, rel);
    if (index < 0 || index >= att.queries) return undefined;
    // The hover card lists input tokens, so it reads the input's own stack (a decoder or cross focus shows layer 0's mean).
    const focus = this.focus.head;
    const head = (focus.stack === 'self' || focus.stack === 'encoder') && isValidHead(focus, att.layers, att.heads) ? focus : DEFAULT_HEAD;
    this.events.onEditorHover(run.runId, index);
    let row: Float32Array;
    try {
      row = new Float32Array((await this.asker.ask(run.runId, { kind: 'row', head, query: index })).weights);
    } catch {
      return undefined; // the run was replaced or the panel closed meanwhile
    }
    if (this.run !== run || this.stale) return undefined;
    const md = new vscode.MarkdownString(hoverMarkdown(run.tokens, run.text, index, row, head, att.causal));
    md.isTrusted = false;
    md.supportHtml = false;
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
