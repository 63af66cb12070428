/**
 * Generation stepping under the Tokens view (#generate): "Generate" continues the run's tokens in the worker
 * (greedy, or sampling with temperature, top-k and a seed; worker/generate-run.ts), a step slider picks a step,
 * and the view shows that step's prefix coloured by the predicting position's attention (head or layer aggregate
 * on show), followed by the token it chose. Generated tokens are shown as such and never written to the document.
 */
import { formatWeight } from '../../src/shared/attention';
import { MAX_GENERATE_STEPS, type SamplingOptions } from '../../src/shared/generate';
import { maxValue, rgbaToCss, weightToAlpha, withAlpha } from '../../src/shared/colors';
import type { WorkerToPanel } from '../../src/shared/protocol';
import { visibleWhitespace } from '../common/token-text';
import type { Theme } from '../common/theme';
import type { InferenceClient } from './client';
import type { HeadChoice, RunData } from './state';

type Step = Extract<WorkerToPanel, { type: 'generateStep' }>;

/** What the view draws with: the run on show, whether it can generate, the head on show, the theme and token strings. */
export interface GenerateModel {
  readonly run: RunData;
  /** True for a decoder model whose logits the worker holds. */
  readonly canGenerate: boolean;
  readonly layer: number;
  readonly head: HeadChoice;
  readonly theme: Theme;
  readonly strings: readonly string[];
  /** The most tokens a sequence may have (the model's context). */
  readonly maxTokens: number;
}

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The row of one head, or the mean/max over the layer's heads ('rollout' and 'all' show the mean), of a step's [L, H, T] rows. */
export function stepRow(s: { layers: number; heads: number; keys: number; row: Float32Array }, layer: number, head: HeadChoice): Float32Array {
  const T = s.keys;
  const at = (h: number) => s.row.subarray((layer * s.heads + h) * T, (layer * s.heads + h + 1) * T);
  if (typeof head === 'number') return at(head);
  const out = new Float32Array(T);
  for (let h = 0; h < s.heads; h++) {
    const r = at(h);
    for (let j = 0; j < T; j++) out[j] = head === 'max' ? (h === 0 ? r[j] : Math.max(out[j], r[j])) : out[j] + r[j] / s.heads;
  }
  return out;
}

/** The generation controls and step display. */
export class GenerateView {
  private readonly root = byId<HTMLElement>('generate');
  private readonly stepsInput = byId<HTMLInputElement>('gen-steps');
  private readonly temperature = byId<HTMLInputElement>('gen-temperature');
  private readonly topK = byId<HTMLInputElement>('gen-topk');
  private readonly seed = byId<HTMLInputElement>('gen-seed');
  private readonly start = byId<HTMLElement & { disabled: boolean }>('gen-start');
  private readonly stop = byId<HTMLElement & { disabled: boolean }>('gen-stop');
  private readonly slider = byId<HTMLInputElement>('gen-step');
  private readonly stepLabel = byId<HTMLElement>('gen-step-label');
  private readonly tokens = byId<HTMLElement>('gen-tokens');
  private readonly status = byId<HTMLElement>('gen-status');
  private steps: (Step & { values: Float32Array })[] = [];
  private nextId = 1;
  private current?: { id: number; runId: number };
  private model?: GenerateModel;
  /** What the step display was last drawn with (hovers re-render the Tokens view; the steps need no redraw then). */
  private drawnKey = '';

  constructor(private readonly client: InferenceClient) {
    client.onGeneration = (m) => this.onMessage(m);
    this.start.addEventListener('click', () => this.generate());
    this.stop.addEventListener('click', () => this.halt());
    this.slider.addEventListener('input', () => this.draw());
  }

  /** Shows the controls for a run that can generate (hiding them otherwise); a new run drops the last generation. */
  render(m: GenerateModel): void {
    if (this.model?.run !== m.run) this.reset();
    this.model = m;
    this.root.hidden = !m.canGenerate || !m.run.ready;
    if (!this.root.hidden) this.draw();
  }

  private reset(): void {
    if (this.current) this.halt();
    this.current = undefined;
    this.steps = [];
    this.slider.max = '0';
    this.slider.value = '0';
    this.slider.disabled = true;
    this.tokens.replaceChildren();
    this.drawnKey = '';
    delete this.tokens.dataset.tokens;
    this.status.textContent = '';
    this.setBusy(false);
  }

  private sampling(): SamplingOptions {
    const num = (el: HTMLInputElement, fallback: number) => (Number.isFinite(el.valueAsNumber) ? el.valueAsNumber : fallback);
    return { temperature: Math.max(0, num(this.temperature, 0)), topK: Math.max(0, Math.floor(num(this.topK, 0))), seed: Math.floor(num(this.seed, 1)) };
  }

  /** Starts a generation of the chosen number of tokens after the run's tokens. */
  generate(): void {
    const m = this.model;
    if (!m?.run.ready || this.current) return;
    this.reset();
    const steps = Math.min(MAX_GENERATE_STEPS, Math.max(1, Math.floor(this.stepsInput.valueAsNumber || 8)));
    const id = this.nextId++;
    this.current = { id, runId: m.run.runId };
    if (!this.client.generate({ type: 'generate', id, runId: m.run.runId, steps, sampling: this.sampling(), maxTokens: m.maxTokens })) {
      this.current = undefined;
      this.status.textContent = 'The inference worker is not running; run Show Attention again.';
      return;
    }
    this.setBusy(true);
    this.status.textContent = `Generating ${steps} tokens…`;
  }

  /** Stops the generation in progress before its next step. */
  halt(): void {
    if (this.current) this.client.generate({ type: 'stopGenerate', id: this.current.id });
  }

  private setBusy(busy: boolean): void {
    this.start.disabled = busy;
    this.stop.disabled = !busy;
    this.root.dataset.state = busy ? 'running' : this.steps.length ? 'done' : 'idle';
  }

  private onMessage(msg: Parameters<NonNullable<InferenceClient['onGeneration']>>[0]): void {
    if (msg.type === 'lost') {
      if (this.current) this.finish(`Stopped: ${msg.message}`);
      return;
    }
    if (msg.id !== this.current?.id) return;
    if (msg.type === 'generateStep') {
      const atEnd = this.slider.value === this.slider.max;
      this.steps.push({ ...msg, values: new Float32Array(msg.row) });
      this.slider.max = String(this.steps.length - 1);
      this.slider.disabled = false;
      if (atEnd) this.slider.value = this.slider.max; // follow the newest step unless the user moved away
      this.draw();
      return;
    }
    const n = msg.tokens.length;
    const why = { done: '', stopped: ' (stopped)', context: ' (the model’s context is full)', error: `: ${msg.error ?? 'failed'}` }[msg.reason];
    const how = msg.stepping === 'cache' ? ' Each step ran one token on the model’s key/value cache.'
      : msg.stepping === 'rerun' ? ' Each step re-ran the whole sequence: this graph has no key/value cache to step on.' : '';
    this.status.dataset.stepping = msg.stepping ?? '';
    this.finish(msg.reason === 'error' ? `Generation failed after ${n} tokens${why}` : `Generated ${n} token${n === 1 ? '' : 's'}${why}. Not written to the document.${how}`);
  }

  private finish(text: string): void {
    this.current = undefined;
    this.status.textContent = text;
    this.setBusy(false);
  }

  private tokenText(id: number): string {
    const s = this.model?.strings[id];
    return s === undefined ? `id ${id}` : visibleWhitespace(s) || '∅';
  }

  /** Draws the chosen step: the prefix coloured by the predicting position's attention, then the chosen token. */
  private draw(): void {
    const m = this.model;
    const k = Number(this.slider.value);
    const s = this.steps[k];
    this.tokens.dataset.tokens = this.steps.map((x) => x.token).join(' ');
    if (!m || !s) {
      this.stepLabel.textContent = '';
      return;
    }
    const layer = Math.min(m.layer, s.layers - 1);
    const head = typeof m.head === 'number' && m.head >= s.heads ? 'mean' : m.head;
    const key = `${m.run.runId}|${k}|${this.steps.length}|${layer}|${head}|${m.strings.length}|${rgbaToCss(m.theme.accent)}`;
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    const row = stepRow({ ...s, row: s.values }, layer, head);
    const max = maxValue(row);
    const P = m.run.T;
    const spans: HTMLElement[] = [];
    for (let j = 0; j < s.keys; j++) {
      const span = document.createElement('span');
      const generated = j >= P;
      span.className = generated ? 'gen-token generated' : 'gen-token';
      span.textContent = generated ? this.tokenText(this.steps[j - P].token) : visibleWhitespace(m.run.tokens[j].text) || '∅';
      span.dataset.index = String(j);
      span.dataset.weight = String(row[j]);
      span.style.backgroundColor = rgbaToCss(withAlpha(m.theme.accent, weightToAlpha(row[j], max)));
      span.title = `#${j}${generated ? ' (generated)' : ''}: ${formatWeight(row[j])}`;
      spans.push(span);
    }
    const next = document.createElement('span');
    next.className = 'gen-token generated next';
    next.textContent = this.tokenText(s.token);
    next.title = `Step ${k + 1}: the token chosen after #${s.keys - 1} (id ${s.token})`;
    spans.push(next);
    this.tokens.replaceChildren(...spans);
    this.tokens.dataset.step = String(k);
    this.tokens.dataset.layer = String(layer);
    this.tokens.dataset.head = String(head);
    const headName = typeof head === 'number' ? `L${layer} H${head}` : `L${layer} ${head === 'max' ? 'max' : 'mean'}`;
    this.stepLabel.textContent = `step ${k + 1} of ${this.steps.length}: #${s.keys - 1}’s attention (${headName}) over ${s.keys} tokens → “${this.tokenText(s.token)}”`;
    this.slider.setAttribute('aria-valuetext', this.stepLabel.textContent);
  }
}
