/**
 * The Heatmap view's legend (#heatmap-legend): what is drawn (head, aggregate or rollout, value weighting), the
 * colour ramp with its top, the masked cells of a causal model, and the window when zoomed.
 */
import { formatWeight } from '../../src/shared/attention';
import type { MatrixRegion } from '../../src/shared/attention-query';
import { rampCanvas } from '../common/canvas';
import type { HeatmapModel } from './heatmap-view';
import { headChoiceLabel } from './state';

/** Fills `legend` for the model drawn, its colour-scale top `max` and the zoomed window (if any). */
export function renderHeatmapLegend(legend: HTMLElement, m: HeatmapModel, max: number, zoom: MatrixRegion | undefined): void {
  const parts: HTMLElement[] = [];
  const text = (t: string, cls = ''): void => {
    const s = document.createElement('span');
    s.className = `legend-item ${cls}`;
    s.textContent = t;
    parts.push(s);
  };
  text(m.head === 'rollout' ? `Rollout L0–L${m.layer}` : `L${m.layer} ${headChoiceLabel(m.head === 'all' ? 'mean' : m.head)}`, 'legend-title');
  if (m.head === 'max') text('element-wise max over the layer’s heads (rows do not sum to 1)');
  if (m.head === 'rollout') text(`Â = ½·mean over heads + ½·I per layer, rows renormalised, Â_${m.layer}···Â_0`);
  text('rows: query · columns: key');
  if (m.direction === 'by') text('attended by: the focused key’s column is outlined; hover a cell to focus its key', 'legend-direction');
  if (m.run.valueWeighted) text('scaled by ‖v‖: α_ij·‖v_j‖ / Σ_k α_ik·‖v_k‖ (no W_O)', 'legend-title');
  const item = document.createElement('span');
  item.className = 'legend-item';
  const label = document.createElement('span');
  label.textContent = `0 → ${formatWeight(max)}+ (√ scale; top 1% saturate)`;
  item.append(rampCanvas(56, 10, [m.theme.bg, m.theme.accent]), label);
  parts.push(item);
  if (m.run.causal) {
    const masked = document.createElement('span');
    masked.className = 'legend-item legend-masked';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    const t = document.createElement('span');
    t.textContent = 'future tokens are masked';
    masked.append(sw, t);
    parts.push(masked);
  }
  const pooled = !zoom && Math.max(m.run.T, m.run.K) > 96;
  if (zoom) {
    text(`zoomed: rows ${zoom.row}–${zoom.row + zoom.rows - 1}, columns ${zoom.col}–${zoom.col + zoom.cols - 1} of ${m.run.T}×${m.run.K} ` +
      '(+ / − / 0 or Ctrl+wheel)', 'legend-zoom');
  } else if (pooled) {
    text('each pixel shows the largest weight it covers; zoom in (+, Ctrl+wheel) to see every cell', 'legend-zoom');
  }
  legend.replaceChildren(...parts);
}
