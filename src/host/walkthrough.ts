/**
 * The commands behind the Get Started walkthrough (package.json contributes.walkthroughs): open the sample text
 * shipped in media/walkthrough/, run Show Attention on it from the walkthrough page (where no text editor is
 * active), and bring the panel forward on its Model grid. Pinning uses attentionLens.pinHead with a head argument.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { PanelView } from '../shared/protocol';
import type { ShowAttentionArgs } from './controller';
import type { Notifier } from './notify';

/** The sample text, relative to the extension's folder: one sentence twice, so an induction head has a copy to follow. */
export const SAMPLE_FILE = path.join('media', 'walkthrough', 'sample.txt');

/** What the walkthrough asks of the rest of the extension. */
export interface WalkthroughActions {
  showAttention(arg: ShowAttentionArgs): Promise<number | undefined>;
  /** Shows a view of the panel; false when no panel with a run is open. */
  showPanelView(view: PanelView): boolean;
}

/** The walkthrough's commands. */
export class Walkthrough {
  private sample: vscode.TextDocument | undefined;

  constructor(private readonly extensionDir: string, private readonly actions: WalkthroughActions, private readonly notifier: Notifier) {}

  /** attentionLens.openSample: the sample in a new untitled editor (edits never touch the shipped file), all of it selected. */
  async openSample(): Promise<vscode.TextEditor> {
    const content = await fs.readFile(path.join(this.extensionDir, SAMPLE_FILE), 'utf8');
    const doc = await vscode.workspace.openTextDocument({ content, language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preview: false });
    editor.selection = new vscode.Selection(doc.positionAt(0), doc.positionAt(content.length));
    this.sample = doc;
    return editor;
  }

  /** attentionLens.showSampleAttention: Show Attention on the whole sample (opened first when it is not open). Returns the run id. */
  async showSampleAttention(): Promise<number | undefined> {
    const doc = this.sample && !this.sample.isClosed ? this.sample : (await this.openSample()).document;
    return this.actions.showAttention({ uri: doc.uri.toString(), start: 0, end: doc.getText().length });
  }

  /** attentionLens.openModelGrid: the panel's Model grid, or why it cannot be shown yet. */
  openModelGrid(): void {
    if (this.actions.showPanelView('grid')) return;
    this.notifier.warn('The Model grid is part of the Attention Lens panel, which shows no result yet: select some text and run ' +
      '"Attention Lens: Show Attention" (or "Attention Lens: Analyse the Sample Text") first.');
  }
}
