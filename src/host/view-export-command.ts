/**
 * The panel's "Save SVG…" and "Save HTML…": checks the view the panel describes against the run the host knows,
 * asks where to save it, then writes it (svg-export.ts, html-export.ts) asking the worker one head at a time, with
 * progress and cancel in a notification. The panel only answers small pooled-matrix queries meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { stackFor } from '../shared/attention-query';
import { headLabel, type PanelToHost } from '../shared/protocol';
import { viewSpecProblem, type ViewSpec } from '../shared/view-spec';
import type { AttentionAsker } from './attention-asker';
import { writeHtmlExport } from './html-export';
import { errorText, sentence, type Notifier } from './notify';
import type { RunSnapshot } from './runs';
import { writeSvgExport } from './svg-export';
import { ViewExportCancelled, type MatrixAsk } from './view-export';

/** What the export needs from the controller. */
export interface ViewExportContext {
  readonly run: RunSnapshot | undefined;
  readonly model: string;
  readonly asker: AttentionAsker;
  readonly notifier: Notifier;
  /** The extension's folder (dist/export-viewer.js is inlined into HTML exports). */
  readonly extensionPath: string;
}

/** Why the described view cannot be exported from `run`, or undefined when it can. */
function mismatch(spec: ViewSpec, run: RunSnapshot | undefined): string | undefined {
  if (!run?.shapes || run.runId !== spec.runId) return 'the panel shows another run than the latest; run Show Attention again';
  const s = stackFor(run.shapes, spec.head);
  const same = s && s.layers === spec.layers && s.heads === spec.heads && s.queries === spec.queries && s.keys === spec.keys && s.causal === spec.causal;
  return same ? undefined : 'the view does not match the run’s attention';
}

/** Handles an 'exportView' message; resolves with the file written, or undefined (refused, not saved, cancelled). */
export async function exportViewCommand(ctx: ViewExportContext, msg: Extract<PanelToHost, { type: 'exportView' }>): Promise<string | undefined> {
  const what = msg.format === 'svg' ? 'SVG' : 'HTML page';
  const problem = (msg.format === 'svg' || msg.format === 'html' ? viewSpecProblem(msg.spec) : 'the format is neither SVG nor HTML')
    ?? mismatch(msg.spec, ctx.run);
  if (problem !== undefined) {
    ctx.notifier.error(`Attention Lens could not export the view: ${problem}.`);
    return undefined;
  }
  const spec = msg.spec;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const name = `${spec.view === 'grid' ? 'attention-grid' : `attention-${headLabel(spec.head).replace(/\s+/g, '-')}`}.${msg.format}`;
  const uri = await vscode.window.showSaveDialog({
    title: `Save the view as ${what}`, saveLabel: 'Save', ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
    filters: msg.format === 'svg' ? { 'SVG image': ['svg'] } : { 'HTML page': ['html', 'htm'] },
  });
  if (!uri) return undefined;
  if (uri.scheme !== 'file') {
    ctx.notifier.warn('Attention Lens can export only to a file on this machine; choose a local folder.');
    return undefined;
  }
  const run = ctx.run!;
  const meta = { model: ctx.model, document: decodeURIComponent(run.documentUri.split('/').pop() ?? run.documentUri) };
  const ask: MatrixAsk = (q) => ctx.asker.ask(spec.runId, q, spec.valueWeighted);
  try {
    const viewer = msg.format === 'html' ? await fs.promises.readFile(path.join(ctx.extensionPath, 'dist', 'export-viewer.js'), 'utf8') : '';
    const bytes = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Exporting the view as ${what}`, cancellable: true },
      (progress, token) => {
        let last = 0;
        const ctl = {
          progress: (done: number, total: number) => {
            progress.report({ message: `${done} of ${total} head${total === 1 ? '' : 's'}`, increment: ((done - last) / total) * 100 });
            last = done;
          },
          cancelled: () => token.isCancellationRequested,
        };
        return msg.format === 'svg' ? writeSvgExport(ask, spec, meta, uri.fsPath, ctl) : writeHtmlExport(ask, spec, meta, viewer, uri.fsPath, ctl);
      });
    ctx.notifier.info(`Saved the ${spec.view === 'grid' ? 'model grid' : 'heatmap'} as ${what} to ${uri.fsPath} (${(bytes / 2 ** 20).toFixed(1)} MiB).`);
    return uri.fsPath;
  } catch (e) {
    if (e instanceof ViewExportCancelled) return undefined;
    ctx.notifier.error(`Attention Lens could not export the view: ${sentence(errorText(e))}`);
    return undefined;
  }
}
