/**
 * The panel's toolkit controls: registers the @vscode/webview-ui-toolkit components it uses, fills the
 * layer and head dropdowns, and maps the view tabs to view names and back.
 */
import {
  provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeDropdown, vsCodeOption, vsCodePanels, vsCodePanelTab, vsCodePanelView,
  vsCodeProgressRing,
} from '@vscode/webview-ui-toolkit';
import type { HeadChoice, ViewName } from './state';
import { headChoiceLabel } from './state';

/** Registers the toolkit elements the panel markup uses (dropdown, option, button, panels, progress ring). */
export function registerToolkit(): void {
  provideVSCodeDesignSystem().register(
    vsCodeDropdown(), vsCodeOption(), vsCodeButton(), vsCodeCheckbox(), vsCodePanels(), vsCodePanelTab(), vsCodePanelView(), vsCodeProgressRing(),
  );
}

/** Value attribute of a head choice in the dropdown. */
export function headValue(h: HeadChoice): string {
  return typeof h === 'number' ? String(h) : h;
}

/** Parses a head dropdown value. */
export function parseHeadValue(v: string): HeadChoice {
  if (v === 'mean' || v === 'max' || v === 'rollout' || v === 'all') return v;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

type Dropdown = HTMLElement & { value: string };

function fillOptions(el: Dropdown, options: readonly { value: string; label: string }[], selected: string): void {
  const same = el.children.length === options.length
    && options.every((o, k) => (el.children[k] as HTMLElement).getAttribute('value') === o.value && el.children[k].textContent === o.label);
  if (!same) {
    el.replaceChildren(...options.map((o) => {
      const opt = document.createElement('vscode-option');
      opt.setAttribute('value', o.value);
      opt.textContent = o.label;
      if (o.value === selected) opt.setAttribute('selected', '');
      return opt;
    }));
  }
  // Options are slotted asynchronously on first fill; the 'selected' attribute covers that case.
  if (el.value !== selected) el.value = selected;
  queueMicrotask(() => { if (el.value !== selected) el.value = selected; });
}

/** The layer and head dropdowns. */
export class HeadPicker {
  readonly layerEl: Dropdown;
  readonly headEl: Dropdown;

  constructor(onChange: (layer: number, head: HeadChoice) => void) {
    this.layerEl = document.getElementById('layer-select') as Dropdown;
    this.headEl = document.getElementById('head-select') as Dropdown;
    const fire = (): void => onChange(Math.max(0, parseInt(this.layerEl.value, 10) || 0), parseHeadValue(this.headEl.value));
    this.layerEl.addEventListener('change', fire);
    this.headEl.addEventListener('change', fire);
  }

  /** Sets the options for a model of `layers` × `heads` and selects (layer, head). */
  update(layers: number, heads: number, layer: number, head: HeadChoice): void {
    fillOptions(this.layerEl, Array.from({ length: layers }, (_, l) => ({ value: String(l), label: `Layer ${l}` })), String(layer));
    const headOptions: { value: string; label: string }[] = Array.from({ length: heads }, (_, h) => ({
      value: String(h), label: `Head ${h}`,
    }));
    headOptions.push({ value: 'mean', label: 'Mean of heads' }, { value: 'max', label: 'Max of heads' },
      { value: 'rollout', label: `Rollout to layer ${layer}` }, { value: 'all', label: 'All heads' });
    fillOptions(this.headEl, headOptions, headValue(head));
    this.headEl.title = `Showing ${headChoiceLabel(head)}`;
  }
}

const TAB_OF: Record<ViewName, string> = { tokens: 'tab-tokens', heatmap: 'tab-heatmap', lines: 'tab-lines', grid: 'tab-grid', metrics: 'tab-metrics',
  residual: 'tab-residual' };

/** The view tabs (vscode-panels). */
export class ViewTabs {
  private readonly el: HTMLElement & { activeid: string };

  constructor(onChange: (view: ViewName) => void) {
    this.el = document.getElementById('views') as HTMLElement & { activeid: string };
    this.el.addEventListener('change', (ev) => {
      if (ev.target !== this.el) return;
      const view = this.current();
      document.body.dataset.activeView = view;
      onChange(view);
    });
  }

  /** The view whose tab is active. */
  current(): ViewName {
    const id = this.el.activeid || this.el.getAttribute('activeid') || 'tab-tokens';
    const view = Object.entries(TAB_OF).find(([, tab]) => tab === id)?.[0] as ViewName | undefined;
    return view ?? 'tokens';
  }

  /** Activates the tab of `view`. */
  show(view: ViewName): void {
    document.body.dataset.activeView = view;
    if (this.current() !== view || this.el.getAttribute('activeid') !== TAB_OF[view]) {
      this.el.setAttribute('activeid', TAB_OF[view]);
      this.el.activeid = TAB_OF[view];
    }
  }
}
