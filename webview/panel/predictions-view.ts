/**
 * Next-token predictions under the Tokens view (#predictions): for the hovered or locked position of a
 * decoder model, the five most probable next tokens from the logits the run already computed (the worker keeps
 * them and sends the top five), with their probabilities as bars. Token strings come from the model's tokenizer.json (fetched once per URI).
 */
import { vocabStrings } from '../../src/shared/predictions';
import { describeToken, visibleWhitespace } from '../common/token-text';
import { TOKEN_SYMBOLS } from '../../src/shared/token-display';
import type { RunData } from './state';

const vocabs = new Map<string, Promise<string[]>>();

/** id → token strings of a tokenizer.json URI (empty when it cannot be fetched; ids are shown instead). */
export function loadVocab(uri: string | undefined): Promise<string[]> {
  if (!uri) return Promise.resolve([]);
  let v = vocabs.get(uri);
  if (!v) {
    v = fetch(uri).then((r) => (r.ok ? r.json() : undefined)).then((j) => (j ? vocabStrings(j) : [])).catch(() => []);
    vocabs.set(uri, v);
  }
  return v;
}

/** What the predictions show: whether the run has logits, and the vocabulary strings. */
export interface PredictionsModel {
  readonly run: RunData;
  readonly focused: number | null;
  /** True when the worker holds the run's logits (a decoder model with a logits output). */
  readonly hasLogits: boolean;
  readonly strings: readonly string[];
}

/** Shows a token string with visible whitespace, or its id when unknown. */
function tokenText(strings: readonly string[], id: number): string {
  const s = strings[id];
  // "#n" names a position in the text everywhere; a vocabulary entry without a string is named by its id.
  if (s === undefined) return `id ${id}`;
  return visibleWhitespace(s) || TOKEN_SYMBOLS.empty;
}

/** Renders the predictions list. */
export class PredictionsView {
  private readonly root = document.getElementById('predictions')!;

  /** Draws the top-5 for the focused position, or hides the list (no logits, not causal, nothing focused). */
  render(m: PredictionsModel): void {
    const { run, focused } = m;
    const top = m.hasLogits && run.causal && focused !== null && focused < run.T ? run.predictions(focused, 5) : undefined;
    if (!top || focused === null) {
      // Nothing to show, or the worker's answer is on its way (the panel draws again when it arrives).
      if (!m.hasLogits || focused === null || !run.causal) this.root.hidden = true;
      return;
    }
    this.root.hidden = false;
    this.root.dataset.position = String(focused);
    this.root.dataset.top = top.map((t) => `${t.id}:${t.p.toFixed(4)}`).join(' ');
    const title = document.createElement('div');
    title.className = 'predictions-title';
    const next = focused + 1 < run.T ? ` (the text has ${describeToken(run.labels, focused + 1)})` : '';
    title.textContent = `Next token after ${describeToken(run.labels, focused)}${next}:`;
    const list = document.createElement('ol');
    for (const t of top) {
      const li = document.createElement('li');
      const actual = focused + 1 < run.T && run.tokens[focused + 1].id === t.id;
      if (actual) li.className = 'actual';
      const name = document.createElement('span');
      name.className = 'pred-token';
      name.textContent = tokenText(m.strings, t.id);
      const bar = document.createElement('span');
      bar.className = 'pred-bar';
      bar.style.setProperty('--al-fill', `${(t.p * 100).toFixed(1)}%`);
      const p = document.createElement('span');
      p.className = 'pred-p';
      p.textContent = `${(t.p * 100).toFixed(1)}%`;
      li.append(name, bar, p);
      li.title = `${tokenText(m.strings, t.id)} (id ${t.id}): ${(t.p * 100).toFixed(2)}%${actual ? ' — the token that follows in the text' : ''}`;
      list.append(li);
    }
    this.root.replaceChildren(title, list);
  }
}
