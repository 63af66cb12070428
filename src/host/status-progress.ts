/**
 * A progress in the status bar (ProgressLocation.Window) that can be started, updated and ended from anywhere: a Show
 * Attention request's, from the command until its run is answered (VS Code draws it at once, before any webview exists:
 * the first panel of a window can take seconds to appear), and a large tokenizer's while it loads.
 */
import * as vscode from 'vscode';

/** One progress in the status bar; a new start ends the previous one. */
export class StatusProgress implements vscode.Disposable {
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
