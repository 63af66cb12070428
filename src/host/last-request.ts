/**
 * The last Show Attention request (document, UTF-16 range, fingerprint of its text), kept in workspaceState
 * so the same text can be analysed again: by the serializer after a reload, and after the panel's model
 * picker switched models. Also finds a run's document again by URI.
 */
import * as vscode from 'vscode';
import { fingerprint } from './input';
import { pickRange, type PickedText } from './selection';

/** workspaceState key of the last run request. */
const LAST_REQUEST_KEY = 'attentionLens.lastRequest';

/** What is stored to run the last request again. */
interface StoredRequest {
  readonly uri: string;
  readonly start: number;
  readonly end: number;
  /** Fingerprint of the analysed text, to tell whether it changed meanwhile. */
  readonly fingerprint: string;
}

/** Why the last request cannot run again; the message says what to do. */
export interface RecallFailure {
  readonly ok: false;
  readonly message: string;
}

/** Stores the request of a run starting now: `text` is the document's text from `start` to `end`. */
export function rememberRequest(state: vscode.Memento, uri: string, start: number, end: number, text: string): void {
  const stored: StoredRequest = { uri, start, end, fingerprint: fingerprint(text) };
  state.update(LAST_REQUEST_KEY, stored).then(undefined, () => undefined);
}

/**
 * The last request picked again from its document, with `notice` before the pick's notices (and one more
 * when its text changed since), or why that is not possible.
 */
export async function recallRequest(state: vscode.Memento, notice: string): Promise<PickedText | RecallFailure> {
  const req = state.get<StoredRequest>(LAST_REQUEST_KEY);
  if (!req) return { ok: false, message: `Nothing to show yet: select some text and run "Attention Lens: Show Attention".` };
  const document = await findDocument(req.uri);
  if (!document) {
    return { ok: false, message: `The document of the last run (${req.uri}) is no longer available. Select some text and ` +
      'run "Attention Lens: Show Attention" again.' };
  }
  const picked = pickRange(document, req.start, req.end, [notice]);
  if (!picked.ok) return { ok: false, message: picked.message };
  const now = document.getText(new vscode.Range(document.positionAt(req.start), document.positionAt(req.end)));
  const notices = fingerprint(now) === req.fingerprint ? picked.notices
    : [...picked.notices, 'The text at the last selection changed since it was analysed; this shows the current text.'];
  return { ...picked, notices };
}

/** An open document by URI string, or a file opened for it; undefined when it no longer exists. */
export async function findDocument(uri: string): Promise<vscode.TextDocument | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  if (open) return open;
  let parsed: vscode.Uri;
  try {
    parsed = vscode.Uri.parse(uri, true);
  } catch {
    return undefined;
  }
  if (parsed.scheme === 'untitled') return undefined; // opening it would create a new, empty document
  try {
    return await vscode.workspace.openTextDocument(parsed);
  } catch {
    return undefined;
  }
}
