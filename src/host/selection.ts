/**
 * Choosing the text a run starts from: the active editor's primary selection, or its current line when
 * nothing is selected, refusing what Attention Lens cannot show (no editor, output views, empty,
 * whitespace-only or binary-looking text) with a message that says what to do.
 */
import * as vscode from 'vscode';
import { isBlank, looksBinary, refusalForScheme } from './input';

/** Text to analyse: a document range as UTF-16 offsets, plus notices about how it was chosen. */
export interface PickedText {
  readonly ok: true;
  readonly document: vscode.TextDocument;
  readonly start: number;
  readonly end: number;
  readonly notices: readonly string[];
}

/** Why no run starts; `kind` is how loudly to say it. */
export interface Refusal {
  readonly ok: false;
  readonly kind: 'info' | 'warning';
  readonly message: string;
}

const RUN_AGAIN = 'select some text and run "Attention Lens: Show Attention" again';

/** True when the document holds no characters at all (without copying its text). */
function isEmptyDocument(document: vscode.TextDocument): boolean {
  return document.lineCount <= 1 && document.lineAt(0).text.length === 0;
}

/** Refusals that depend on the document only. */
export function checkDocument(document: vscode.TextDocument): Refusal | undefined {
  const scheme = refusalForScheme(document.uri.scheme);
  if (scheme) return { ok: false, kind: 'warning', message: scheme };
  if (isEmptyDocument(document)) {
    return { ok: false, kind: 'warning', message: 'The document is empty, so there is no text to analyse: type or paste ' +
      `some text, then ${RUN_AGAIN}.` };
  }
  return undefined;
}

/** Refusals that depend on the chosen text; `what` names it ("The selection", "Line 3"). */
export function checkText(text: string, what: string): Refusal | undefined {
  if (isBlank(text)) {
    return { ok: false, kind: 'warning', message: `${what} is only whitespace, so there is nothing to analyse: ${RUN_AGAIN}.` };
  }
  if (looksBinary(text)) {
    return { ok: false, kind: 'warning', message: `${what} looks like binary data (it contains NUL or many control ` +
      `characters), so Attention Lens did not run on it. Open a text file, ${RUN_AGAIN}.` };
  }
  return undefined;
}

/** The text of the active editor to analyse, or why there is none. */
export function pickFromEditor(editor: vscode.TextEditor | undefined): PickedText | Refusal {
  if (!editor) {
    return { ok: false, kind: 'warning', message: `There is no active text editor. Open a file or an untitled editor, ${RUN_AGAIN}.` };
  }
  const document = editor.document;
  const refused = checkDocument(document);
  if (refused) return refused;

  const notices: string[] = [];
  if (editor.selections.length > 1) {
    notices.push(`There are ${editor.selections.length} selections: showing the primary one (lines ` +
      `${editor.selection.start.line + 1}–${editor.selection.end.line + 1}); the others were ignored.`);
  }
  let range: vscode.Range = editor.selection;
  let what = 'The selection';
  if (editor.selection.isEmpty) {
    const line = document.lineAt(editor.selection.active.line);
    range = line.range;
    what = `The current line (line ${line.lineNumber + 1})`;
    if (line.isEmptyOrWhitespace) {
      return { ok: false, kind: 'warning', message: `Nothing is selected and ${what.charAt(0).toLowerCase()}${what.slice(1)} ` +
        `is empty: ${RUN_AGAIN}.` };
    }
    notices.push(`Nothing was selected: showing the current line (line ${line.lineNumber + 1}).`);
  }
  const textRefusal = checkText(document.getText(range), what);
  if (textRefusal) return textRefusal;
  return { ok: true, document, start: document.offsetAt(range.start), end: document.offsetAt(range.end), notices };
}

/** Validates an explicit document range (a restored or scripted run). */
export function pickRange(document: vscode.TextDocument, start: number, end: number, notices: readonly string[] = []): PickedText | Refusal {
  const refused = checkDocument(document);
  if (refused) return refused;
  const length = document.offsetAt(document.lineAt(document.lineCount - 1).range.end);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= length)) {
    return { ok: false, kind: 'warning', message: `The range ${start}–${end} is not inside ${document.uri.toString(true)} ` +
      `(length ${length}): ${RUN_AGAIN}.` };
  }
  const textRefusal = checkText(document.getText(new vscode.Range(document.positionAt(start), document.positionAt(end))), 'The text');
  if (textRefusal) return textRefusal;
  return { ok: true, document, start, end, notices };
}
