/**
 * The Metrics view: a table of every head's metrics on this input (head-labels.ts) with its automatic
 * labels: head and Pin first, then the metrics (key ones first), labels last; a narrow panel lays each row
 * out as a wrapped card instead of a wide row (panel.css). Column headers are buttons that sort (aria-sort on the header cell); the head name selects the
 * head; "Pin" pins it to the compare view. The thresholds behind the labels are listed under the table.
 */
import type { HeadChoice } from './state';
import { LABEL_MEANINGS, labelHead, labelRules, sortMetrics, type HeadMetricValues, type MetricKey } from '../../src/shared/head-labels';
import { METRIC_COLUMNS } from './metric-info';
import { AGGREGATE_METRICS, formatMeanSpread, type AggregateMetric, type HeadAggregateRow } from '../../src/shared/head-aggregate';

/** Callbacks from the table. */
export interface MetricsEvents {
  select(layer: number, head: number): void;
  pin(layer: number, head: number): void;
  sort(key: MetricKey, descending: boolean): void;
  /** A file-wide value was clicked: open the window where that metric of the head was highest. */
  revealWindow(layer: number, head: number, metric: AggregateMetric): void;
}

/** What the table shows. */
export interface MetricsModel {
  readonly rows: readonly HeadMetricValues[];
  /** Analyse Heads Across File: mean ± sd per head over the windows of a file, shown under each value. */
  readonly aggregate?: { readonly source: string; readonly windows: number; readonly done: boolean; readonly rows: readonly HeadAggregateRow[] };
  readonly layer: number;
  readonly head: HeadChoice;
  readonly sortKey: MetricKey;
  readonly descending: boolean;
  /** The probe's period when induction scores are in, else a reason they are not. */
  readonly probe: { period: number } | { missing: string };
}

/** Renders the metrics table into #metrics-table and the rules into #metrics-legend. */
export class MetricsView {
  private readonly table = document.getElementById('metrics-table') as HTMLTableElement;
  private readonly legend = document.getElementById('metrics-legend')!;
  private model?: MetricsModel;

  constructor(private readonly events: MetricsEvents) {
    this.table.addEventListener('click', (ev) => {
      const el = (ev.target as HTMLElement).closest<HTMLElement>('[data-action]');
      if (!el || !this.model) return;
      const { action, layer, head, key, metric } = el.dataset;
      if (action === 'sort' && key) {
        const k = key as MetricKey;
        // A new column sorts high-to-low first (the head column low-to-high); the same column flips.
        const descending = k === this.model.sortKey ? !this.model.descending : k !== 'head';
        this.events.sort(k, descending);
      } else if (action === 'select') this.events.select(Number(layer), Number(head));
      else if (action === 'pin') this.events.pin(Number(layer), Number(head));
      else if (action === 'window' && metric) this.events.revealWindow(Number(layer), Number(head), metric as AggregateMetric);
    });
  }

  /** Draws the table for the model state. */
  render(m: MetricsModel): void {
    const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
    this.model = m;
    const head = document.createElement('tr');
    for (const c of METRIC_COLUMNS) {
      const th = document.createElement('th');
      th.scope = 'col';
      const sorted = c.key === m.sortKey;
      th.setAttribute('aria-sort', sorted ? (m.descending ? 'descending' : 'ascending') : 'none');
      const b = document.createElement('button');
      b.className = 'sort';
      b.dataset.action = 'sort';
      b.dataset.key = c.key;
      b.dataset.focusKey = `sort-${c.key}`;
      b.title = `${c.title}. Click to sort.`;
      b.textContent = c.label + (sorted ? (m.descending ? ' ▼' : ' ▲') : '');
      th.append(b);
      head.append(th);
      if (c.key === 'head') head.append(plainHeader('Compare', 'pin-col'));
    }
    head.append(plainHeader('Labels', 'labels-col'));
    const thead = document.createElement('thead');
    thead.append(head);
    const body = document.createElement('tbody');
    for (const r of sortMetrics(m.rows, m.sortKey, m.descending)) body.append(this.row(r, m));
    this.table.replaceChildren(thead, body);
    if (focusKey) this.table.querySelector<HTMLElement>(`[data-focus-key="${focusKey}"]`)?.focus();
    this.renderLegend(m);
  }

  private row(r: HeadMetricValues, m: MetricsModel): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const name = `L${r.layer} H${r.head}`;
    tr.dataset.head = name;
    if (r.layer === m.layer && r.head === m.head) tr.classList.add('selected');
    for (const c of METRIC_COLUMNS) {
      const td = document.createElement('td');
      if (c.key === 'head') {
        const b = document.createElement('button');
        b.className = 'link';
        Object.assign(b.dataset, { action: 'select', layer: String(r.layer), head: String(r.head), focusKey: `select-${name}` });
        b.textContent = name;
        b.title = `Show ${name}`;
        td.className = 'head';
        td.append(b);
        tr.append(td, this.pinCell(name, r));
        continue;
      }
      const v = r[c.key];
      td.className = 'num';
      td.dataset.key = c.key;
      td.dataset.label = c.label; // the narrow layout names each value (CSS ::before)
      if (v === null) td.textContent = '—';
      else {
        td.textContent = v.toFixed(c.digits);
        td.dataset.value = String(v);
        if (c.key !== 'distance') td.style.setProperty('--al-fill', `${Math.round(Math.max(0, Math.min(1, v)) * 100)}%`);
      }
      const spread = m.aggregate && this.spread(m.aggregate, r, c.key);
      if (spread) td.append(spread);
      tr.append(td);
    }
    const labels = document.createElement('td');
    labels.className = 'labels';
    for (const l of labelHead(r)) {
      const s = document.createElement('span');
      s.className = `head-label label-${l}`;
      s.textContent = l;
      s.title = LABEL_MEANINGS[l];
      labels.append(s);
    }
    const file = m.aggregate?.rows.find((x) => x.layer === r.layer && x.head === r.head);
    if (file) {
      const s = document.createElement('span');
      s.className = 'file-labels';
      s.textContent = `file: ${file.labels.join(', ') || 'no label'}`;
      s.title = `The labels of the mean metrics across ${m.aggregate!.windows} windows of ${m.aggregate!.source}.`;
      labels.append(s);
    }
    tr.append(labels);
    return tr;
  }

  /** The head's file-wide mean ± sd of `key` as a button that opens its top window, or undefined (no analysis, or induction). */
  private spread(a: NonNullable<MetricsModel['aggregate']>, r: HeadMetricValues, key: MetricKey): HTMLElement | undefined {
    const metric = AGGREGATE_METRICS.find((k) => k === key);
    const s = metric && a.rows.find((x) => x.layer === r.layer && x.head === r.head)?.metrics[metric];
    if (!metric || !s) return undefined;
    const b = document.createElement('button');
    b.className = 'link spread';
    Object.assign(b.dataset, { action: 'window', layer: String(r.layer), head: String(r.head), metric, focusKey: `window-L${r.layer}H${r.head}-${metric}` });
    b.textContent = formatMeanSpread(s, metric);
    b.title = `L${r.layer} H${r.head} across ${s.n} windows of ${a.source}: mean ± sd. Click to open the window where it is highest.`;
    return b;
  }

  private pinCell(name: string, r: HeadMetricValues): HTMLTableCellElement {
    const pin = document.createElement('td');
    pin.className = 'pin-cell';
    const b = document.createElement('vscode-button');
    b.setAttribute('appearance', 'secondary');
    b.className = 'pin';
    Object.assign(b.dataset, { action: 'pin', layer: String(r.layer), head: String(r.head), focusKey: `pin-${name}` });
    b.textContent = 'Pin';
    b.setAttribute('aria-label', `Pin ${name} to the compare view`);
    pin.append(b);
    return pin;
  }

  private renderLegend(m: MetricsModel): void {
    const intro = document.createElement('p');
    const across = m.aggregate ? ` Under each value: mean ± sd across ${m.aggregate.windows} windows of ${m.aggregate.source}` +
      `${m.aggregate.done ? '' : ' (analysing…)'}; click one to open the window where it is highest.` : '';
    intro.textContent = 'Every head on this input. ' + ('period' in m.probe
      ? `Induction is measured once per model on a seeded random sequence repeated twice (2 × ${m.probe.period} tokens).`
      : `Induction: ${m.probe.missing}`) + across;
    const ul = document.createElement('ul');
    ul.className = 'rules';
    for (const r of labelRules()) {
      const li = document.createElement('li');
      const s = document.createElement('span');
      s.className = `head-label label-${r.label}`;
      s.textContent = r.label;
      s.title = LABEL_MEANINGS[r.label];
      const meaning = document.createElement('span');
      meaning.className = 'label-meaning';
      meaning.textContent = LABEL_MEANINGS[r.label];
      li.append(s, ` ${r.rule}. `, meaning);
      ul.append(li);
    }
    this.legend.replaceChildren(intro, ul);
  }
}

/** A header cell that does not sort (the pin and labels columns). */
function plainHeader(text: string, cls: string): HTMLTableCellElement {
  const th = document.createElement('th');
  th.scope = 'col';
  th.className = cls;
  th.textContent = text;
  return th;
}
