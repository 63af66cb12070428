/**
 * Analyse Heads Across File: cuts a document (or its selection) into windows of the run's token limit, runs
 * each window in the panel as an ordinary run, asks the panel's worker for every head's metrics on it, and
 * aggregates them (shared/head-aggregate.ts) into mean ± sd per head, with the windows that most express each
 * head one pick away. Streams window by window under a cancellable progress notification.
 */
import * as vscode from 'vscode';
import { formatMeanSpread, AGGREGATE_METRICS, HeadAggregator, type AggregateMetric, type HeadAggregateRow } from '../shared/head-aggregate';
import type { HeadMetricValues } from '../shared/head-labels';
import type { HostToPanel } from '../shared/protocol';
import type { AttentionAsker } from './attention-asker';
import { documentLabel } from './input';
import { findDocument } from './last-request';
import type { Notifier } from './notify';
import type { RunSnapshot } from './runs';
import { pickRange, type PickedText } from './selection';

/** What the analysis needs from the controller: a window run to completion, and the asker of its worker. */
export interface AnalysisDeps {
  /** Starts a Show Attention run on `p` and resolves with the finished run (result or error). */
  runWindow(p: PickedText): Promise<RunSnapshot>;
  readonly asker: AttentionAsker;
  readonly notifier: Notifier;
  /** Sends the aggregate so far to the panel (its Metrics table shows mean ± sd). */
  post(msg: Extract<HostToPanel, { type: 'headAggregate' }>): void;
}

/** One analysed window: its run, its place in its document (UTF-16 offsets, at `version`) and its token ids. */
export interface AnalysedWindow {
  readonly runId: number;
  readonly documentUri: string;
  readonly version: number;
  readonly start: number;
  readonly end: number;
  readonly ids: readonly number[];
  /** Every head's metrics on this window, as the worker computed them. */
  readonly metrics: readonly HeadMetricValues[];
}

/** The result of an analysis: the document, its windows and the per-head aggregate over them. */
export interface HeadAnalysis {
  /** What was analysed, for messages: "notes.md", or "12 files in docs". */
  readonly source: string;
  readonly windows: readonly AnalysedWindow[];
  readonly rows: readonly HeadAggregateRow[];
  /** True when the user cancelled before the end of the text. */
  readonly cancelled: boolean;
  /** True when the document changed during the analysis, which then stopped (later windows would not match the text). */
  readonly edited: boolean;
}

/** Optional argument of attentionLens.analyseHeads for scripted runs: a document and, optionally, a UTF-16 range. */
export interface AnalyseHeadsArgs {
  readonly uri: string;
  readonly start?: number;
  readonly end?: number;
}

const METRIC_NAMES: Readonly<Record<AggregateMetric, string>> = {
  entropy: 'entropy', previousToken: 'previous token', sink: 'first token (sink)', self: 'self', distance: 'distance', duplicate: 'duplicate',
};

/** A document and the UTF-16 range of it to analyse. */
export interface AnalysisTarget {
  readonly document: vscode.TextDocument;
  readonly start: number;
  readonly end: number;
}

/**
 * Analyses each target's range window by window, into one aggregate: each window is the longest prefix of the rest
 * that one run takes (the maxTokens setting, capped by the model's context). Stops between windows once `token` is
 * cancelled, or once the document being analysed changes. A target with nothing to run on (blank, binary) is skipped.
 */
export async function analyseTargets(deps: AnalysisDeps, targets: readonly AnalysisTarget[], source: string,
  token: { readonly isCancellationRequested: boolean }, onWindow: (done: number, total: number, windows: number) => void): Promise<HeadAnalysis> {
  const agg = new HeadAggregator(3);
  const windows: AnalysedWindow[] = [];
  const total = targets.reduce((a, t) => a + (t.end - t.start), 0);
  let before = 0;
  let edited = false;
  let finished = true;
  for (const { document, start, end } of targets) {
    const version = document.version;
    let at = start;
    let exhausted = false; // the target is done: nothing, or only whitespace, is left (or it is not text at all)
    for (;;) {
      if (at >= end) exhausted = true;
      if (exhausted || token.isCancellationRequested || document.version !== version) break;
      const picked = pickRange(document, at, end);
      if (!picked.ok) {
        exhausted = true;
        break;
      }
      const run = await deps.runWindow(picked);
      if (run.error !== undefined) throw new Error(run.error);
      const shape = run.shapes?.[0];
      if (!shape || run.text.length === 0) throw new Error(`Run ${run.runId} returned no attention.`);
      const ids = run.tokens.map((t) => t.id);
      const answer = await deps.asker.ask(run.runId, { kind: 'metrics', stack: shape.kind, ids });
      if (answer.rows.length === 0) throw new Error('This model has no self-attention whose heads can be measured.');
      agg.add(windows.length, answer.rows);
      windows.push({ runId: run.runId, documentUri: document.uri.toString(), version, start: run.documentOffset,
        end: run.documentOffset + run.text.length, ids, metrics: answer.rows });
      at = run.documentOffset + run.text.length;
      deps.post({ type: 'headAggregate', source, windows: windows.length, done: false, rows: agg.rows() });
      onWindow(before + at - start, total, windows.length);
    }
    if (!exhausted) {
      finished = false;
      edited = document.version !== version;
      break;
    }
    before += end - start;
  }
  const rows = agg.rows();
  if (windows.length > 0) deps.post({ type: 'headAggregate', source, windows: windows.length, done: true, rows });
  return { source, windows, rows, cancelled: !finished && !edited, edited };
}

/** The text to analyse: `arg`'s document and range, else the active editor's selection, else its whole document. */
async function pickTarget(arg: unknown): Promise<AnalysisTarget | string> {
  const a = arg as Partial<AnalyseHeadsArgs> | undefined;
  if (typeof a === 'object' && a !== null && typeof a.uri === 'string') {
    const document = await findDocument(a.uri);
    if (!document) return `The document ${a.uri} is not open and cannot be opened.`;
    return { document, start: a.start ?? 0, end: a.end ?? document.getText().length };
  }
  const editor = vscode.window.activeTextEditor;
  if (!editor) return 'There is no active text editor: open a file (or select part of one), then run "Attention Lens: Analyse Heads Across File…".';
  const sel = editor.selection;
  if (sel && !sel.isEmpty) return { document: editor.document, start: editor.document.offsetAt(sel.start), end: editor.document.offsetAt(sel.end) };
  return { document: editor.document, start: 0, end: editor.document.getText().length };
}

/** attentionLens.analyseHeads: analyses the file (or selection), then lists the heads; returns the analysis. */
export async function analyseHeadsCommand(deps: AnalysisDeps, arg?: unknown): Promise<HeadAnalysis | undefined> {
  const target = await pickTarget(arg);
  if (typeof target === 'string') {
    deps.notifier.warn(target);
    return undefined;
  }
  return runAnalysis(deps, [target], documentLabel(target.document.uri.path));
}

/** Runs the analysis of `targets` under a cancellable progress notification, says how it went and lists the heads. */
export async function runAnalysis(deps: AnalysisDeps, targets: readonly AnalysisTarget[], source: string): Promise<HeadAnalysis> {
  const analysis = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, cancellable: true,
    title: `Attention Lens: analysing heads across ${source}` }, (progress, token) => {
    let reported = 0;
    return analyseTargets(deps, targets, source, token, (done, total, windows) => {
      const pct = total > 0 ? (100 * done) / total : 100;
      progress.report({ increment: pct - reported, message: `${windows} window${windows === 1 ? '' : 's'}, ${Math.round(pct)}%` });
      reported = pct;
    });
  });
  const n = analysis.windows.length;
  deps.notifier.info(`Attention Lens analysed ${n} window${n === 1 ? '' : 's'} of ${source}` +
    `${analysis.cancelled ? ' before it was cancelled' : ''}${analysis.edited ? ', then stopped: the document changed' : ''}. Pick` +
    ' a head to see its mean ± sd and the windows that express it most.');
  if (n > 0) void showHeadAnalysis(analysis);
  return analysis;
}

/** Keeps the latest analysis, so the panel's file-wide values can open their windows. */
export class HeadAnalyst {
  private last: HeadAnalysis | undefined;

  constructor(private readonly deps: AnalysisDeps) {}

  /** attentionLens.analyseHeads, or another analysis command given as `command` (the folder one). */
  async analyse(arg?: unknown, command = analyseHeadsCommand): Promise<HeadAnalysis | undefined> {
    const a = await command(this.deps, arg);
    if (a && a.windows.length > 0) this.last = a;
    return a;
  }

  /** Opens the window where `metric` of head L`layer` H`head` was highest in the latest analysis. */
  async revealTop(layer: number, head: number, metric: AggregateMetric): Promise<void> {
    const top = this.last?.rows.find((r) => r.layer === layer && r.head === head)?.top[metric][0];
    const editor = this.last && top && await revealWindow(this.last, top.window);
    if (!editor) this.deps.notifier.warn('That window is no longer available: run "Attention Lens: Analyse Heads Across File…" again.');
    else if (editor.document.version !== this.last!.windows[top.window].version) {
      this.deps.notifier.warn('The document changed since it was analysed, so the window selected may have moved: run "Attention Lens: Analyse Heads Across File…" again.');
    }
  }
}

/** A quick pick of the heads (labels and mean ± sd), then of the chosen head's top windows; the window picked is revealed. */
export async function showHeadAnalysis(analysis: HeadAnalysis): Promise<void> {
  const heads = analysis.rows.map((r) => ({
    label: `L${r.layer} H${r.head}`,
    description: r.labels.join(', ') || 'no label',
    detail: AGGREGATE_METRICS.map((k) => `${METRIC_NAMES[k]} ${formatMeanSpread(r.metrics[k], k)}`).join(' · '),
    row: r,
  }));
  const head = await vscode.window.showQuickPick(heads, { title: `Heads over ${analysis.windows.length} windows (mean ± sd)`, matchOnDetail: true });
  if (!head) return;
  const items: (vscode.QuickPickItem & { window?: number })[] = [];
  for (const k of AGGREGATE_METRICS) {
    if (head.row.top[k].length === 0) continue;
    items.push({ label: `highest ${METRIC_NAMES[k]}`, kind: vscode.QuickPickItemKind.Separator });
    for (const s of head.row.top[k]) {
      const w = analysis.windows[s.window];
      items.push({ label: `window ${s.window + 1}`, description: `${METRIC_NAMES[k]} ${s.value.toFixed(3)}`,
        detail: documentLabel(vscode.Uri.parse(w.documentUri).path), window: s.window });
    }
  }
  const picked = await vscode.window.showQuickPick(items, { title: `${head.label}: the windows that express it most` });
  if (picked?.window !== undefined) await revealWindow(analysis, picked.window);
}

/** Opens the analysed document with window `index` selected and in view. */
export async function revealWindow(analysis: HeadAnalysis, index: number): Promise<vscode.TextEditor | undefined> {
  const w = analysis.windows[index];
  const document = w && await findDocument(w.documentUri);
  if (!w || !document) return undefined;
  const editor = await vscode.window.showTextDocument(document, { preserveFocus: false });
  const range = new vscode.Range(document.positionAt(w.start), document.positionAt(w.end));
  editor.selection = new vscode.Selection(range.start, range.end);
  editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  return editor;
}
