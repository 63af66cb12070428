/**
 * The panel toolbar's buttons that ask the host for something: Change model, Export data, Save image (the Heatmap or
 * Model grid canvas as drawn, as a PNG) and Pin head. vscode-buttons are focusable: Enter and Space click them.
 */
import type { AttentionStackKind, PanelToHost } from '../../src/shared/protocol';
import { headChoiceLabel, headRefOf, type HeadChoice, type RunData } from './state';

/** What the buttons read when clicked. */
export interface ToolbarContext {
  post(m: PanelToHost): void;
  run(): RunData | undefined;
  view(): string;
  layer(): number;
  head(): HeadChoice;
  stack(): AttentionStackKind;
}

/** Wires the toolbar's host-facing buttons. */
export function wireToolbar(ctx: ToolbarContext): void {
  const byId = (id: string): HTMLElement => document.getElementById(id)!;
  byId('change-model').addEventListener('click', () => ctx.post({ type: 'selectModel' }));
  byId('export-data').addEventListener('click', () => { if (ctx.run()?.ready) ctx.post({ type: 'exportData' }); });
  byId('save-image').addEventListener('click', () => {
    const view = ctx.view();
    if (!ctx.run()?.ready || (view !== 'heatmap' && view !== 'grid')) return;
    const canvas = byId(view) as HTMLCanvasElement;
    const name = view === 'grid' ? 'attention-grid' : `attention-L${ctx.layer()}-${headChoiceLabel(ctx.head()).replace(/\s+/g, '-')}`;
    // The canvas as drawn (device pixels, the theme's colours); the host asks where to save it.
    canvas.toBlob((blob) => {
      void blob?.arrayBuffer().then((png) => ctx.post({ type: 'saveImage', view, name, png }));
    }, 'image/png');
  });
  byId('pin-head').addEventListener('click', () => {
    if (ctx.run()?.ready) ctx.post({ type: 'pinHead', head: headRefOf(ctx.layer(), ctx.head(), ctx.stack()) });
  });
}
