/**
 * A refusal shown where the user looks when the panel is not on screen: a line of text after the selection
 * (or the current line) in the editor, in the theme's warning colour, with the whole message on hover. It goes
 * away when the selection moves, the document changes or the next run starts.
 */
import * as vscode from 'vscode';

/** The text after the line: the start of the message, kept to one short line. */
export function refusalInlineText(message: string, max = 120): string {
  const text = `⚠ Attention Lens: ${message}`;
  return [...text].length <= max ? text : [...text].slice(0, max - 1).join('') + '…';
}

/** Marks one refusal next to the selection of an editor. */
export class RefusalMarker implements vscode.Disposable {
  private readonly type: vscode.TextEditorDecorationType;
  private readonly disposables: vscode.Disposable[] = [];
  private shownIn: vscode.TextEditor | undefined;

  constructor() {
    this.type = vscode.window.createTextEditorDecorationType({
      after: { color: new vscode.ThemeColor('editorWarning.foreground'), margin: '0 0 0 2em', fontStyle: 'italic' },
    });
    this.disposables.push(
      this.type,
      vscode.window.onDidChangeTextEditorSelection((e) => { if (e.textEditor === this.shownIn) this.clear(); }),
      vscode.workspace.onDidChangeTextDocument((e) => { if (e.document === this.shownIn?.document) this.clear(); }),
    );
  }

  /** Shows `message` at the end of the line the selection ends on (the current line when nothing is selected). */
  show(editor: vscode.TextEditor, message: string): void {
    this.clear();
    const line = editor.document.lineAt(editor.selection.active.line);
    const end = line.range.end;
    editor.setDecorations(this.type, [{
      range: new vscode.Range(end, end),
      hoverMessage: message,
      renderOptions: { after: { contentText: refusalInlineText(message) } },
    }]);
    this.shownIn = editor;
  }

  /** Removes the mark. */
  clear(): void {
    this.shownIn?.setDecorations(this.type, []);
    this.shownIn = undefined;
  }

  /** Removes the mark and its listeners. */
  dispose(): void {
    this.clear();
    for (const d of this.disposables) d.dispose();
  }
}
