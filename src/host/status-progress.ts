/**
 * The status bar's progress for a Show Attention request, from the command until its run is answered. VS Code draws
 * it at once, before any webview exists: the first panel of a window can take seconds to appear (code-server starts
 * its webview machinery then), and the user sees what is happening from the first moment.
 */
import * as vscode from 'vscode';

/** One request's progress in the status bar (ProgressLocation.Window); a new start ends the previous one. */
export class RunProgress implements vscode.Disposable {
  private finish: (() => void) | undefined;
  private report: ((message: string) => void) | undefined;
  private pending: string | undefined;

  /** Shows `title: message` with a spinner until end() or the next start(). */
  start(title: string, message: string): void {
    this.end();
    this.pending = message;
    const done = new Promise<void>((resolve) => { this.finish = resolve; });
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, (p) => {
      this.report = (m) => p.report({ message: m });
      if (this.pending !== undefined) this.report(this.pending);
      return done;
    });
  }

  /** Replaces the message (while shown). */
  say(message: string): void {
    if (!this.finish) return;
    this.pending = message;
    this.report?.(message);
  }

  /** Takes the progress away. */
  end(): void {
    this.finish?.();
    this.finish = this.report = this.pending = undefined;
  }

  /** Ends the progress. */
  dispose(): void {
    this.end();
  }
}
