/**
 * Compare With Another Selection: runs the base run's model on a second text as a companion run (the worker keeps
 * both) and shows the chosen head for A and B side by side: each side's matrix and token row as the worker serves
 * them (never a copied stack), a keyboard-movable focused row with its strongest keys, and the head's metrics with B − A.
 */
import { formatWeight } from '../../src/shared/attention';
import type { HeadMetricValues } from '../../src/shared/head-labels';
import { labelHead } from '../../src/shared/head-labels';
import type { HostToPanel, PanelToHost, TokenInfo } from '../../src/shared/protocol';
import { blitMatrix, css, servedImage, sizeCanvas } from '../common/canvas';
import type { Theme } from '../common/theme';
import { describeToken, tokenLabel, type TokenLabel } from '../common/token-text';
import { CancelledError, type InferenceClient } from './client';
import { headChoiceLabel, RunData, type HeadChoice } from './state';

type CompareMessage = Extract<HostToPanel, { type: 'compareText' }>;
type ShowMessage = Extract<HostToPanel, { type: 'show' }>;

/** What the compare section needs from the panel: the base run on show, its 'show' message, the head and the theme. */
export interface CompareTextContext {
  readonly client: InferenceClient;
  post(m: PanelToHost): void;
  base(): { readonly run: RunData; readonly show: ShowMessage } | undefined;
  head(): { readonly layer: number; readonly head: HeadChoice };
  theme(): Theme;
}

/** The metrics compared, with their labels (head-labels.ts HeadMetricValues). */
const METRICS: readonly (readonly [keyof HeadMetricValues, string])[] = [
  ['entropy', 'entropy (normalised)'], ['previousToken', 'previous token'], ['sink', 'first token (sink)'], ['self', 'self'],
  ['distance', 'mean distance'], ['duplicate', 'earlier duplicate'],
];
/** Largest side of each matrix, CSS px. */
const MAX_SIDE = 320;

/** One side (A or B): its run, token labels, focused row and elements. */
interface Side {
  readonly name: 'A' | 'B';
  run?: RunData;
  labels: readonly TokenLabel[];
  row: number;
  readonly figure: HTMLElement;
  readonly caption: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly rowText: HTMLElement;
  readonly tokens: HTMLOListElement;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

/** The panel's compare section (created under the views, hidden until a 'compareText' arrives). */
export class CompareTextView {
  private readonly section = el('section', 'compare-text');
  private readonly title = el('h2', 'compare-title');
  private readonly status = el('p', 'compare-status');
  private readonly table = el('table', 'compare-metrics');
  private readonly sides: [Side, Side];
  private pending?: number;
  private images = new Map<string, HTMLCanvasElement>();
  /** B's run while the worker computes its value norms, and B runs it could not weight (asked once). */
  private weighing?: number;
  private readonly unweighable = new Set<number>();

  constructor(private readonly ctx: CompareTextContext) {
    this.section.id = 'compare-text';
    this.section.hidden = true;
    this.section.setAttribute('aria-label', 'Compare with another selection');
    this.status.setAttribute('aria-live', 'polite');
    const close = el('button', 'compare-close', 'Close comparison');
    close.addEventListener('click', () => this.clear());
    const head = el('div', 'compare-head');
    head.append(this.title, close);
    this.sides = [this.makeSide('A'), this.makeSide('B')];
    const row = el('div', 'compare-sides');
    row.append(this.sides[0].figure, this.sides[1].figure);
    this.section.append(head, this.status, row, this.table);
    const views = document.getElementById('views');
    if (views) views.after(this.section);
    else document.body.append(this.section);
  }

  private makeSide(name: 'A' | 'B'): Side {
    const figure = el('figure', 'compare-side');
    figure.dataset.side = name;
    const caption = el('figcaption');
    const canvas = el('canvas');
    canvas.tabIndex = 0;
    canvas.setAttribute('role', 'img');
    const rowText = el('p', 'compare-row');
    rowText.setAttribute('aria-live', 'polite');
    const tokens = el('ol', 'compare-tokens');
    tokens.setAttribute('aria-label', `Tokens of ${name}`);
    figure.append(caption, canvas, rowText, tokens);
    const side: Side = { name, labels: [], row: 0, figure, caption, canvas, rowText, tokens };
    // Arrow keys, Home and End move the focused row; the row's strongest keys are read out below the matrix.
    canvas.addEventListener('keydown', (ev) => {
      const T = side.labels.length;
      if (T === 0) return;
      const next = ev.key === 'ArrowDown' || ev.key === 'ArrowRight' ? side.row + 1 : ev.key === 'ArrowUp' || ev.key === 'ArrowLeft' ? side.row - 1
        : ev.key === 'Home' ? 0 : ev.key === 'End' ? T - 1 : undefined;
      if (next === undefined) return;
      ev.preventDefault();
      side.row = Math.max(0, Math.min(T - 1, next));
      this.render();
    });
    canvas.addEventListener('click', (ev) => {
      const T = side.labels.length;
      const size = canvas.clientHeight;
      if (T === 0 || size === 0) return;
      side.row = Math.max(0, Math.min(T - 1, Math.floor((ev.offsetY / size) * T)));
      this.render();
    });
    return side;
  }

  /** Runs `msg`'s text on the base run's model as a companion run, then shows both sides. */
  async start(msg: CompareMessage): Promise<void> {
    const base = this.ctx.base();
    if (!base || base.run.runId !== msg.baseRunId || !base.run.ready) {
      return this.fail(msg, 'The run to compare with is no longer on show: run "Attention Lens: Show Attention" again.');
    }
    if (msg.tokens.length === 0) return this.fail(msg, 'There are no tokens to compare: the selection is empty.');
    if (this.pending !== undefined) this.ctx.client.cancel(this.pending);
    this.pending = msg.runId;
    this.setSide(this.sides[0], base.run, base.show.documentLabel);
    this.sides[1].run = undefined;
    this.sides[1].labels = [];
    this.sides[1].caption.textContent = `B · ${msg.documentLabel}: running…`;
    this.section.hidden = false;
    this.status.textContent = `Running ${base.show.model.name} on B (${msg.tokens.length} tokens)…`;
    const show = base.show;
    try {
      const result = await this.ctx.client.run(msg.runId, show.model, msg.tokens.map((t) => t.id), show.backend, () => undefined,
        { wasmThreads: show.wasmThreads, recompute: show.recompute, webgpuDeadlineMs: show.webgpuDeadlineMs, companion: true });
      if (this.pending !== msg.runId) return;
      const shape = result.shapes[0];
      if (!shape || shape.queries !== msg.tokens.length) throw new Error(`The attention covers ${shape?.queries ?? 0} tokens, not ${msg.tokens.length}.`);
      const runB = new RunData(msg.runId, msg.text, msg.tokens, shape, {
        ask: async (query, weighted) => {
          const a = await this.ctx.client.query(msg.runId, query, weighted);
          if (!a.answer) throw new Error(a.error ?? 'no answer');
          return a.answer;
        },
        changed: () => this.render(),
      });
      this.setSide(this.sides[1], runB, msg.documentLabel);
      this.status.textContent = '';
      this.pending = undefined;
      this.render();
      this.ctx.post({ type: 'compared', runId: msg.runId, baseRunId: msg.baseRunId, shapes: result.shapes });
    } catch (e) {
      if (e instanceof CancelledError || this.pending !== msg.runId) return;
      this.pending = undefined;
      this.fail(msg, `Could not run the model on B: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private fail(msg: CompareMessage, error: string): void {
    this.section.hidden = false;
    this.status.textContent = error;
    this.status.classList.add('error');
    this.ctx.post({ type: 'compared', runId: msg.runId, baseRunId: msg.baseRunId, error });
  }

  private setSide(side: Side, run: RunData, documentLabel?: string): void {
    side.run = run;
    side.labels = run.tokens.map((t: TokenInfo) => tokenLabel(t, run.text));
    side.row = Math.min(side.row, Math.max(0, side.labels.length - 1));
    side.figure.dataset.runId = String(run.runId);
    side.caption.textContent = `${side.name}${documentLabel ? ` · ${documentLabel}` : ''}: ${side.labels.length} tokens`;
    side.tokens.replaceChildren(...side.labels.map((l, i) => {
      const li = el('li', 'compare-token', l.label);
      li.dataset.index = String(i);
      return li;
    }));
    this.status.classList.remove('error');
  }

  /** Hides the section and drops the companion run's view (a new Show Attention, or the close button). */
  clear(): void {
    if (this.pending !== undefined) this.ctx.client.cancel(this.pending);
    this.pending = undefined;
    this.section.hidden = true;
    this.sides[1].run = undefined;
    this.images.clear();
  }

  /** Forgets cached images (theme change). */
  invalidate(): void {
    this.images.clear();
  }

  /** Draws both sides for the head chosen in the panel (cheap when nothing changed: images are cached). */
  render(): void {
    if (this.section.hidden) return;
    const { layer, head } = this.ctx.head();
    const theme = this.ctx.theme();
    this.weighLikeA();
    const weighted = this.sides[0].run?.valueWeighted === true;
    this.title.textContent = `L${layer} ${headChoiceLabel(head)}: A vs B${weighted ? ', weighted by ‖v‖ (α·‖v‖)' : ''}`;
    const width = this.section.clientWidth || 640;
    const size = Math.max(80, Math.min(MAX_SIDE, Math.floor((width - 24) / 2)));
    for (const side of this.sides) this.drawSide(side, layer, head, size, theme);
    this.renderMetrics(layer, head);
  }

  /** B shows what A shows: α, or α·‖v‖ once the worker has B's value norms (asked for the first time A is weighted). */
  private weighLikeA(): void {
    const [a, b] = [this.sides[0].run, this.sides[1].run];
    if (!a || !b?.ready) return;
    if (!a.valueWeighted || b.hasValueNorms) return b.setValueWeighted(a.valueWeighted);
    if (this.weighing === b.runId || this.unweighable.has(b.runId)) return;
    this.weighing = b.runId;
    void this.ctx.client.valueNorms(b.runId).then((x) => {
      if (this.weighing === b.runId) this.weighing = undefined;
      if (x.error || !x.norms) {
        this.unweighable.add(b.runId);
        this.status.textContent = `B cannot be weighted by ‖v‖, so it shows α: ${x.error ?? 'no values'}`;
        return;
      }
      b.setValueWeighted(this.sides[0].run?.valueWeighted === true, true);
      if (this.sides[1].run === b) this.render();
    });
  }

  private drawSide(side: Side, layer: number, head: HeadChoice, size: number, theme: Theme): void {
    const run = side.run;
    const g = sizeCanvas(side.canvas, size, size);
    g.fillStyle = css(theme.bg);
    g.fillRect(0, 0, size, size);
    if (!run?.ready) return;
    const T = side.labels.length;
    side.canvas.setAttribute('aria-label', `${side.name}: L${layer} ${headChoiceLabel(head)}, ${T} tokens; arrow keys move the row read out below.`);
    const m = run.matrix(layer, head, Math.round(size * (window.devicePixelRatio || 1)));
    if (m) {
      const key = `${run.runId}|${layer}|${head}|${m.rows}|${run.valueWeighted}`;
      let img = this.images.get(key);
      if (!img) {
        if (this.images.size > 16) this.images.clear();
        img = servedImage(m, theme);
        this.images.set(key, img);
      }
      blitMatrix(g, img, 0, 0, size);
    }
    const cell = size / T;
    g.strokeStyle = css(theme.focus);
    g.lineWidth = 2;
    g.strokeRect(1, side.row * cell + 1, size - 2, Math.max(2, cell - 2));
    side.tokens.querySelector('.focused')?.classList.remove('focused');
    side.tokens.children[side.row]?.classList.add('focused');
    const top = run.topk(layer, head, side.row, 3);
    side.rowText.textContent = top
      ? `Row ${describeToken(side.labels, side.row)} attends most to ${top.keys.map((k, n) => `${describeToken(side.labels, k)} ${formatWeight(top.weights[n])}`).join(', ')}`
      : `Row ${describeToken(side.labels, side.row)}`;
  }

  private renderMetrics(layer: number, head: HeadChoice): void {
    const [a, b] = this.sides.map((s) => (typeof head === 'number' ? s.run?.metrics().find((r) => r.layer === layer && r.head === head) : undefined));
    const caption = el('caption', undefined, typeof head === 'number' ? `Metrics of L${layer} H${head}` : 'Metrics are per head: choose a single head.');
    const header = el('tr');
    for (const h of ['metric', 'A', 'B', 'B − A']) header.append(el('th', undefined, h));
    const rows = METRICS.map(([key, name]) => {
      const va = a?.[key];
      const vb = b?.[key];
      const tr = el('tr');
      tr.dataset.metric = key;
      const f = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(3) : '—');
      const d = typeof va === 'number' && typeof vb === 'number' ? vb - va : undefined;
      tr.append(el('th', undefined, name), el('td', undefined, f(va)), el('td', undefined, f(vb)),
        el('td', undefined, d === undefined ? '—' : `${d >= 0 ? '+' : ''}${d.toFixed(3)}`));
      return tr;
    });
    const labels = el('tr');
    labels.dataset.metric = 'labels';
    const lab = (m?: HeadMetricValues) => (m ? labelHead(m).join(', ') || 'none' : '—');
    labels.append(el('th', undefined, 'labels'), el('td', undefined, lab(a)), el('td', undefined, lab(b)), el('td'));
    this.table.replaceChildren(caption, header, ...rows, labels);
  }
}
