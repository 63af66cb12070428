/**
 * The one way Attention Lens talks to the user: every message is shown (toast or status bar) and also
 * recorded, so `AttentionLensApi.messages()` lists everything the user saw. Showing never blocks.
 */
import * as vscode from 'vscode';

import { errorText, sentence } from './errors';

export { errorText, sentence };

/** A message the extension showed to the user. */
export interface UserMessage {
  readonly kind: 'info' | 'warning' | 'error';
  readonly text: string;
}

/** How long a status-bar notice stays up, in milliseconds. */
const NOTICE_MS = 6000;

/** Shows user-facing messages and keeps a log of them. */
export class Notifier {
  private readonly log: UserMessage[] = [];
  private readonly shownOnce = new Set<string>();

  /** Every message shown so far, oldest first. */
  messages(): readonly UserMessage[] {
    return this.log.slice();
  }

  /** An information toast. */
  info(text: string): void {
    this.record('info', text);
    void vscode.window.showInformationMessage(text);
  }

  /** A warning toast: the user's input was refused or something degraded. */
  warn(text: string): void {
    this.record('warning', text);
    void vscode.window.showWarningMessage(text);
  }

  /** An error toast: something failed; the text names the cause and what to do. */
  error(text: string): void {
    this.record('error', text);
    void vscode.window.showErrorMessage(text);
  }

  /** A short-lived status bar message for run notices ("used the current line"); the panel shows them too. */
  notice(text: string): void {
    this.record('info', text);
    vscode.window.setStatusBarMessage(`$(eye) ${text}`, NOTICE_MS);
  }

  /** Records a message that is shown somewhere else (inside the panel), without a toast. */
  shownInPanel(kind: UserMessage['kind'], text: string): void {
    this.record(kind, text);
  }

  /** Shows a message of the given kind only the first time this exact text comes up in this session. */
  once(kind: UserMessage['kind'], text: string): void {
    if (this.shownOnce.has(text)) return;
    this.shownOnce.add(text);
    if (kind === 'info') this.info(text);
    else if (kind === 'warning') this.warn(text);
    else this.error(text);
  }

  private record(kind: UserMessage['kind'], text: string): void {
    this.log.push({ kind, text });
    if (this.log.length > 500) this.log.splice(0, this.log.length - 500);
  }
}

/**
 * Wraps a command handler so it never throws into VS Code: failures become one clear error message that
 * names the command, the cause and what to do.
 */
export function guardCommand<A extends unknown[], R>(
  notifier: Notifier, title: string, handler: (...args: A) => R | Promise<R>,
): (...args: A) => Promise<R | undefined> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } catch (e) {
      notifier.error(`Attention Lens: "${title}" failed: ${sentence(errorText(e))} Try again; if it keeps failing, reload the window ` +
        '(Developer: Reload Window) and report the problem.');
      return undefined;
    }
  };
}
