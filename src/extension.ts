/**
 * Attention Lens extension entry point: registers the commands, the panel serializer, the compare view
 * and the model status bar item, and returns the test API (src/api.ts) from activate().
 */
import * as vscode from 'vscode';
import type { AttentionLensApi } from './api';
import { addModelCommand } from './host/add-model';
import { CompareViewProvider } from './host/compare';
import { downloadModelCommand } from './host/download-command';
import { AttentionLensController } from './host/controller';
import { ModelStatusItem } from './host/models';
import { errorText, guardCommand, sentence } from './host/notify';
import { AttentionPanel } from './host/panel';
import { stopTokenizerThread } from './host/tokenizer-thread';
import { Walkthrough } from './host/walkthrough';

/** Command ids contributed in package.json. */
export const COMMANDS = {
  showAttention: 'attentionLens.showAttention',
  selectModel: 'attentionLens.selectModel',
  pinHead: 'attentionLens.pinHead',
  clearPinned: 'attentionLens.clearPinned',
  addModel: 'attentionLens.addModel',
  downloadModel: 'attentionLens.downloadModel',
  exportAttention: 'attentionLens.exportAttention',
  exportViewSvg: 'attentionLens.exportViewSvg',
  exportViewHtml: 'attentionLens.exportViewHtml',
  openSample: 'attentionLens.openSample',
  showSampleAttention: 'attentionLens.showSampleAttention',
  openModelGrid: 'attentionLens.openModelGrid',
  compareSelection: 'attentionLens.compareSelection',
  analyseHeads: 'attentionLens.analyseHeads',
  analyseHeadsInFolder: 'attentionLens.analyseHeadsInFolder',
} as const;

/**
 * Activates the extension and returns its API. It activates on its commands, the Compare Heads view and the
 * panel serializer only (package.json), not at startup: the model status bar item appears from then on.
 */
export function activate(context: vscode.ExtensionContext): AttentionLensApi {
  const controller = new AttentionLensController(context);
  const notifier = controller.notifier;
  const command = <A extends unknown[], R>(id: string, title: string, handler: (...args: A) => R | Promise<R>) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, guardCommand(notifier, title, handler)));

  context.subscriptions.push(
    controller,
    new ModelStatusItem(controller.models),
    vscode.window.registerWebviewViewProvider(CompareViewProvider.viewType, controller.compare),
    vscode.window.registerWebviewPanelSerializer(AttentionPanel.viewType, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel) => {
        try {
          await controller.restorePanel(panel);
        } catch (e) {
          notifier.error(`Attention Lens could not restore its panel: ${sentence(errorText(e))} Run "Attention Lens: Show Attention" again.`);
        }
      },
    }),
  );
  command(COMMANDS.showAttention, 'Show Attention', (arg?: unknown) => controller.showAttention(arg));
  command(COMMANDS.selectModel, 'Select Model', () => controller.selectModel());
  command(COMMANDS.pinHead, 'Pin Head', (head?: unknown) => controller.pinHead(head));
  command(COMMANDS.clearPinned, 'Clear Pinned Heads', () => controller.compare.clearPinned());
  command(COMMANDS.analyseHeads, 'Analyse Heads Across File', (arg?: unknown) => controller.analyseHeads(arg));
  command(COMMANDS.analyseHeadsInFolder, 'Analyse Heads Across Folder', (arg?: unknown) => controller.analyseHeadsInFolder(arg));
  command(COMMANDS.exportAttention, 'Export Attention', (arg?: unknown) => controller.exportAttention(arg));
  command(COMMANDS.exportViewSvg, 'Export View as SVG', () => controller.requestViewExport('svg'));
  command(COMMANDS.exportViewHtml, 'Export View as HTML', () => controller.requestViewExport('html'));
  command(COMMANDS.compareSelection, 'Compare With Another Selection', () => controller.compareSelection());
  command(COMMANDS.addModel, 'Add Model', (dir?: unknown) => addModelCommand(notifier, dir));
  command(COMMANDS.downloadModel, 'Download Model', (id?: unknown) => downloadModelCommand(notifier, controller.models.storageDir, id));
  const walkthrough = new Walkthrough(context.extensionUri.fsPath, controller, notifier);
  command(COMMANDS.openSample, 'Open Sample Text', async () => { await walkthrough.openSample(); });
  command(COMMANDS.showSampleAttention, 'Analyse the Sample Text', () => walkthrough.showSampleAttention());
  command(COMMANDS.openModelGrid, 'Open the Model Grid', () => walkthrough.openModelGrid());
  return controller.api();
}

/** Stops the tokenizer thread; everything else is disposed through context.subscriptions. */
export function deactivate(): Promise<void> {
  return stopTokenizerThread();
}
