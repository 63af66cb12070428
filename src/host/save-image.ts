/**
 * The panel's "Save image…": a PNG of the view on show comes from the webview; the host checks that it is a PNG
 * of sane size, asks where to save it and writes it. The bytes are untrusted, so nothing else is done with them.
 */
import fs from 'node:fs';
import * as vscode from 'vscode';
import type { PanelToHost } from '../shared/protocol';
import { errorText, sentence, type Notifier } from './notify';

/** The largest image accepted (a 4 096 × 4 096 RGBA PNG is at most 64 MiB uncompressed; real ones are far smaller). */
export const MAX_IMAGE_BYTES = 64 * 2 ** 20;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height of a PNG (from its IHDR chunk), or why the bytes are not one. */
export function pngSize(bytes: unknown): { width: number; height: number } | string {
  if (!(bytes instanceof ArrayBuffer)) return 'the image is not binary data';
  if (bytes.byteLength > MAX_IMAGE_BYTES) return `the image is ${(bytes.byteLength / 2 ** 20).toFixed(0)} MiB, more than ${MAX_IMAGE_BYTES / 2 ** 20} MiB`;
  const b = new Uint8Array(bytes);
  if (b.length < 24 || PNG_SIGNATURE.some((x, k) => b[k] !== x) || String.fromCharCode(...b.subarray(12, 16)) !== 'IHDR') return 'the image is not a PNG';
  const view = new DataView(bytes);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** A file name from the panel's suggestion: letters, digits, dots, dashes and underscores only. */
export function safeImageName(name: unknown): string {
  const base = typeof name === 'string' ? name.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 80) : '';
  return `${base || 'attention'}.png`.replace(/(\.png)+$/i, '.png');
}

/** Handles a 'saveImage' message: checks it, asks where, writes it; says what happened. Resolves with the file written. */
export async function saveImage(msg: Extract<PanelToHost, { type: 'saveImage' }>, notifier: Notifier): Promise<string | undefined> {
  const size = pngSize(msg.png);
  if (typeof size === 'string') {
    notifier.error(`Attention Lens could not save the image: ${size}.`);
    return undefined;
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const name = safeImageName(msg.name);
  const uri = await vscode.window.showSaveDialog({
    title: 'Save image', saveLabel: 'Save', filters: { 'PNG image': ['png'] }, ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
  });
  if (!uri) return undefined;
  if (uri.scheme !== 'file') {
    notifier.warn('Attention Lens can save images only to a file on this machine; choose a local folder.');
    return undefined;
  }
  try {
    await fs.promises.writeFile(uri.fsPath, new Uint8Array(msg.png));
  } catch (e) {
    notifier.error(`Attention Lens could not save the image: ${sentence(errorText(e))}`);
    return undefined;
  }
  notifier.info(`Saved the ${msg.view === 'grid' ? 'model grid' : 'heatmap'} (${size.width} × ${size.height} px) to ${uri.fsPath}.`);
  return uri.fsPath;
}
