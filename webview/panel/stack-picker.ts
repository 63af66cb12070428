/**
 * The attention-stack picker of encoder–decoder runs: a toolkit dropdown `#stack-select` at the start of
 * the toolbar (built here, so the document markup stays as it is), hidden for single-stack models.
 */
import type { AttentionStackKind } from '../../src/shared/protocol';

/** Picker labels of the stacks. */
export const STACK_LABELS: Record<AttentionStackKind, string> = {
  self: 'Self-attention',
  encoder: 'Encoder self-attention',
  decoder: 'Decoder self-attention',
  cross: 'Cross-attention (decoder → encoder)',
};

type Dropdown = HTMLElement & { value: string };

/** The `#stack-select` dropdown and its label. */
export class StackPicker {
  private readonly wrap: HTMLElement;
  private readonly el: Dropdown;
  private kinds: readonly AttentionStackKind[] = [];

  constructor(onChange: (kind: AttentionStackKind) => void) {
    this.wrap = document.createElement('span');
    this.wrap.id = 'stack-picker';
    this.wrap.hidden = true;
    const label = document.createElement('label');
    label.htmlFor = 'stack-select';
    label.textContent = 'Attention';
    this.el = document.createElement('vscode-dropdown') as Dropdown;
    this.el.id = 'stack-select';
    this.el.setAttribute('aria-label', 'Attention stack');
    this.wrap.append(label, this.el);
    const toolbar = document.getElementById('toolbar');
    toolbar?.insertBefore(this.wrap, toolbar.firstChild);
    this.el.addEventListener('change', () => {
      const k = this.el.value as AttentionStackKind;
      if (this.kinds.includes(k)) onChange(k);
    });
  }

  /** Shows the stacks of a run (hidden when `kinds` is empty) with `selected` chosen. */
  update(kinds: readonly AttentionStackKind[], selected: AttentionStackKind | undefined): void {
    this.wrap.hidden = kinds.length === 0;
    const same = kinds.length === this.kinds.length && kinds.every((k, i) => k === this.kinds[i]);
    if (!same) {
      this.kinds = [...kinds];
      this.el.replaceChildren(...kinds.map((k) => {
        const opt = document.createElement('vscode-option');
        opt.setAttribute('value', k);
        opt.textContent = STACK_LABELS[k];
        if (k === selected) opt.setAttribute('selected', '');
        return opt;
      }));
    }
    if (!selected) return;
    // Options are slotted asynchronously on first fill; the 'selected' attribute covers that case.
    if (this.el.value !== selected) this.el.value = selected;
    queueMicrotask(() => { if (this.el.value !== selected) this.el.value = selected; });
  }
}
