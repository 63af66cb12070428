/**
 * "Attention Lens: Download Model…": only with attentionLens.allowDownloads on (otherwise it says how to
 * turn it on and touches no network), asks for a model id, downloads it into global storage with a
 * cancellable progress notification (hub.ts), then checks and lists it like "Add Model…".
 */
import * as vscode from 'vscode';
import { addModelFolder } from './add-model';
import { DownloadError, downloadModel, hubBaseUrl, parseModelId } from './hub';
import { CONFIG_SECTION } from './models';
import { errorText, type Notifier } from './notify';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** attentionLens.downloadModel; `arg` may be a model id for scripted use. Returns the model folder. */
export async function downloadModelCommand(notifier: Notifier, storageDir: string | undefined, arg?: unknown): Promise<string | undefined> {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  if (config.get('allowDownloads') !== true) {
    notifier.info('Attention Lens downloads nothing unless "attentionLens.allowDownloads" is on. Turn it on in Settings to ' +
      'download models by id, or download a model folder yourself and use "Attention Lens: Add Model…".');
    return undefined;
  }
  if (!storageDir) {
    notifier.error('Attention Lens has no storage folder to download models into. Reload the window and try again.');
    return undefined;
  }
  const id = typeof arg === 'string' && arg.trim() ? arg.trim() : await vscode.window.showInputBox({
    title: 'Attention Lens: Download Model…', prompt: 'A model id on the hub whose repository has onnx/model.onnx',
    placeHolder: 'Xenova/distilgpt2',
    validateInput: (v) => { try { parseModelId(v); return undefined; } catch (e) { return errorText(e); } },
  });
  if (!id) return undefined;
  const baseUrl = hubBaseUrl(config.get('hubUrl'));
  let dir: string;
  try {
    dir = await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: `Downloading ${id} from ${baseUrl}`, cancellable: true,
    }, async (progress, token) => {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      let lastPct = 0;
      let lastFile = '';
      try {
        return await downloadModel({
          id, baseUrl, storageDir, signal: abort.signal,
          onProgress: (p) => {
            if (p.file !== lastFile) { lastFile = p.file; lastPct = 0; }
            const pct = p.total ? Math.floor((100 * p.received) / p.total) : 0;
            const share = 100 / p.fileCount;
            progress.report({ message: `${p.file} (${p.fileIndex + 1}/${p.fileCount}): ${mb(p.received)}${p.total ? ` of ${mb(p.total)}` : ''}`,
              increment: ((pct - lastPct) * share) / 100 });
            lastPct = pct;
          },
        });
      } finally {
        sub.dispose();
      }
    });
  } catch (e) {
    if (e instanceof DownloadError && e.cancelled) notifier.info(`The download of ${id} was cancelled; nothing was added.`);
    else notifier.error(`Attention Lens could not download ${id}: ${errorText(e)}`);
    return undefined;
  }
  await addModelFolder(dir, notifier);
  return dir;
}
