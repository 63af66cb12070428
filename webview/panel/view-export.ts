/**
 * The toolbar's "Save SVG…" and "Save HTML…": describe the view on show (view-spec.ts) from the canvas's drawn
 * geometry, the run's labels and the theme's resolved colours, and post it to the host, which writes the file
 * asking the worker head by head (the panel does no export work of its own).
 */
import type { PanelToHost } from '../../src/shared/protocol';
import { LABEL_SHORT, type HeadLabel, type HeadMetricValues } from '../../src/shared/head-labels';
import type { ThumbNote, ViewSpec } from '../../src/shared/view-spec';
import { formatMetric, type ValueMetric } from './metric-info';
import type { Theme } from '../common/theme';
import type { HeadChoice, RunData } from './state';

/** What the buttons read from the panel when clicked. */
export interface ViewSource {
  run(): RunData | undefined;
  view(): string;
  layer(): number;
  head(): HeadChoice;
  theme(): Theme;
  /** What the grid writes on its thumbnails: every head's metrics (once in), the metric shown and each head's labels. */
  grid(): { metrics?: readonly HeadMetricValues[]; metric: ValueMetric; labels(layer: number, head: number): readonly HeadLabel[] };
}

/** Each head's thumbnail notes as the grid draws them: the metric to 2 decimals (1 for distances) and the short label names. */
export function thumbNotes(layers: number, heads: number, g: ReturnType<ViewSource['grid']>): ThumbNote[] {
  return Array.from({ length: layers * heads }, (_, k) => {
    const [l, h] = [Math.floor(k / heads), k % heads];
    const m = g.metrics?.[k];
    return { ...(m ? { value: formatMetric(m, g.metric, g.metric === 'distance' ? 1 : 2) } : {}), badges: g.labels(l, h).map((x) => LABEL_SHORT[x]) };
  });
}

/** The view on show as a ViewSpec: the heatmap (its zoomed window and cell size) or the grid (its thumbnail size). */
export function describeView(run: RunData, view: 'heatmap' | 'grid', layer: number, head: HeadChoice, theme: Theme): ViewSpec | undefined {
  const shape = run.shape;
  if (!shape) return undefined;
  const d = (document.getElementById(view) as HTMLCanvasElement).dataset;
  const n = (k: string) => Number(d[k]);
  const region = view === 'heatmap' && d.rows !== undefined && (n('row0') !== 0 || n('col0') !== 0 || n('rows') !== run.T || n('cols') !== run.K)
    ? { row: n('row0'), col: n('col0'), rows: n('rows'), cols: n('cols') } : undefined;
  const cell = view === 'heatmap' ? n('cell') : n('thumb');
  const { bg, fg, accent, masked, hatch, focus, contrastBorder, fontFamily, fontSize } = theme;
  return {
    runId: run.runId, view, head: run.ref(layer, head), layers: shape.layers, heads: shape.heads, queries: run.T, keys: run.K, causal: shape.causal,
    valueWeighted: run.valueWeighted, ...(region ? { region } : {}), cell: cell > 0 ? cell : 8,
    labels: run.labels.map((l) => l.label), keyLabels: run.keyLabels.map((l) => l.label),
    theme: { bg, fg, accent, masked, hatch, focus, ...(contrastBorder ? { contrastBorder } : {}), fontFamily, fontSize },
  };
}

/**
 * Wires #save-svg and #save-html; returns `update`, which enables them for the view on show, and `send`, which posts the
 * view (the palette's Export View: off the canvas views it describes the heatmap).
 */
export function wireViewExport(src: ViewSource, post: (m: PanelToHost) => void): { update(): void; send(format: 'svg' | 'html', any?: boolean): void } {
  const svg = document.getElementById('save-svg')!;
  const html = document.getElementById('save-html')!;
  const canvasView = (): 'heatmap' | 'grid' | undefined => (src.view() === 'heatmap' || src.view() === 'grid' ? src.view() as 'heatmap' | 'grid' : undefined);
  const send = (format: 'svg' | 'html', any = false) => {
    const run = src.run();
    const view = canvasView() ?? (format === 'html' || any ? 'heatmap' : undefined);
    const spec = run?.ready && view ? describeView(run, view, src.layer(), src.head(), src.theme()) : undefined;
    if (spec) post({ type: 'exportView', format, spec: view === 'grid' ? { ...spec, notes: thumbNotes(spec.layers, spec.heads, src.grid()) } : spec });
  };
  svg.addEventListener('click', () => send('svg'));
  html.addEventListener('click', () => send('html'));
  const update = () => {
    const ready = !!src.run()?.ready;
    svg.toggleAttribute('disabled', !(ready && canvasView()));
    svg.title = ready && canvasView() ? 'Save this view as SVG, in the colours shown' : 'Open the Heatmap or the Model grid to save it as SVG';
    html.toggleAttribute('disabled', !ready);
  };
  return { update, send };
}
