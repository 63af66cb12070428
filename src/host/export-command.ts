/**
 * attentionLens.exportAttention: asks what to export (the head on show, its layer, or the whole stack) and in
 * which format (.npy with a JSON sidecar, or JSON), where to save it, then writes it with progress and cancel.
 * A scripted call may pass { scope, format, file } and skip the questions.
 */
import path from 'node:path';
import * as vscode from 'vscode';
import { stackFor } from '../shared/attention-query';
import { headLabel, type HeadRef } from '../shared/protocol';
import type { AttentionAsker } from './attention-asker';
import { ExportCancelled, exportedHeads, writeExport, type ExportPlan, type ExportScope } from './export';
import { errorText, sentence, type Notifier } from './notify';
import type { RunSnapshot } from './runs';

/** What the command needs from the controller. */
export interface ExportContext {
  readonly run: RunSnapshot | undefined;
  /** The head the panel shows (its last focus message), if any. */
  readonly head: HeadRef | undefined;
  readonly model: string;
  readonly asker: AttentionAsker;
  readonly notifier: Notifier;
  readonly panelOpen: boolean;
}

/** Reads { scope, format, file } from a scripted call; undefined when it is not one. */
function scripted(arg: unknown): { scope: ExportScope; format: 'npy' | 'json'; file: string } | undefined {
  const a = arg as { scope?: unknown; format?: unknown; file?: unknown } | null;
  if (typeof a !== 'object' || a === null) return undefined;
  const okScope = a.scope === 'head' || a.scope === 'layer' || a.scope === 'stack';
  const okFormat = a.format === 'npy' || a.format === 'json';
  return okScope && okFormat && typeof a.file === 'string' && path.isAbsolute(a.file) ? { scope: a.scope as ExportScope, format: a.format as 'npy' | 'json', file: a.file } : undefined;
}

/** Runs the export command; resolves with the files written (none when cancelled or refused). */
export async function exportAttentionCommand(ctx: ExportContext, arg?: unknown): Promise<string[]> {
  const run = ctx.run;
  if (!run?.shapes || !ctx.panelOpen || run.error !== undefined) {
    ctx.notifier.warn('There is no attention to export. Run "Attention Lens: Show Attention" first, and keep its panel open.');
    return [];
  }
  const shown = ctx.head ?? { stack: 'self', layer: 0, head: 0 };
  const shape = stackFor(run.shapes, shown) ?? run.shapes[0];
  const head: HeadRef = stackFor(run.shapes, shown) ? shown : { stack: 'self', layer: 0, head: 0 };
  let choice = scripted(arg);
  if (!choice) {
    const mib = (scope: ExportScope) => (exportedHeads({ shape, scope, head }).heads.length * shape.queries * shape.keys * 4) / 2 ** 20;
    const scopes: (vscode.QuickPickItem & { scope: ExportScope })[] = [
      { label: `This head: ${headLabel(head)}`, description: `${shape.queries} × ${shape.keys}`, scope: 'head' },
      { label: `This layer: L${head.layer}, all ${shape.heads} heads`, description: `${mib('layer').toFixed(1)} MiB`, scope: 'layer' },
      { label: `The whole ${shape.kind === 'self' ? '' : `${shape.kind} `}stack: ${shape.layers} layers × ${shape.heads} heads`,
        description: `${mib('stack').toFixed(1)} MiB`, scope: 'stack' },
    ];
    const scope = await vscode.window.showQuickPick(scopes, { title: 'Export attention', placeHolder: 'What to export' });
    if (!scope) return [];
    const formats = [
      { label: 'NumPy .npy', description: 'float32, with a .json sidecar naming the axes and tokens', format: 'npy' as const },
      { label: 'JSON', description: 'nested arrays with the tokens (large for a whole stack)', format: 'json' as const },
    ];
    const format = await vscode.window.showQuickPick(formats, { title: 'Export attention', placeHolder: 'Format' });
    if (!format) return [];
    const name = `attention-${scope.scope === 'stack' ? shape.kind : scope.scope === 'layer' ? `L${head.layer}` : headLabel(head).replace(/\s+/g, '-')}.${format.format}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri = await vscode.window.showSaveDialog({
      title: 'Export attention', saveLabel: 'Export', ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      filters: format.format === 'npy' ? { NumPy: ['npy'] } : { JSON: ['json'] },
    });
    if (!uri) return [];
    if (uri.scheme !== 'file') {
      ctx.notifier.warn('Attention Lens can export only to a file on this machine; choose a local folder.');
      return [];
    }
    choice = { scope: scope.scope, format: format.format, file: uri.fsPath };
  }
  const plan: ExportPlan = {
    runId: run.runId, shape, scope: choice.scope, head, format: choice.format, file: choice.file,
    meta: {
      model: ctx.model, document: run.documentUri, text: run.text,
      tokens: shape.kind === 'decoder' || shape.kind === 'cross' ? run.decoderTokens ?? [] : run.tokens,
      ...(shape.kind === 'cross' ? { keyTokens: run.tokens } : shape.kind === 'decoder' ? { keyTokens: run.decoderTokens ?? [] } : {}),
    },
  };
  try {
    const out = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Exporting attention', cancellable: true },
      (progress, token) => {
        let last = 0;
        return writeExport(ctx.asker, plan, (done, total) => {
          progress.report({ message: `${done} of ${total} head${total === 1 ? '' : 's'}`, increment: ((done - last) / total) * 100 });
          last = done;
        }, () => token.isCancellationRequested);
      });
    ctx.notifier.info(`Exported ${exportedHeads(plan).heads.length === 1 ? headLabel(head) : `${exportedHeads(plan).heads.length} heads`} to ` +
      `${out.files.map((f) => path.basename(f)).join(' and ')} (${(out.bytes / 2 ** 20).toFixed(1)} MiB).`);
    return out.files;
  } catch (e) {
    if (e instanceof ExportCancelled) return [];
    ctx.notifier.error(`Attention Lens could not export the attention: ${sentence(errorText(e))}`);
    return [];
  }
}
