/**
 * Explain-one-weight from the panel: asks the worker for what feeds row i of the head on show (scores, and q and Kᵀ
 * where the graph has them) and lays out how weight (i, j) is computed, checked against the weight the worker serves.
 */
import { explainWeight } from '../../src/shared/weight-explain';
import type { Theme } from '../common/theme';
import type { InferenceClient } from './client';
import type { ExplainView } from './explain-view';
import type { HeadChoice, RunData } from './state';

/** What the explanation needs: the worker, the view, and the run, head and theme on show (read again after each await). */
export interface ExplainCellContext {
  readonly client: InferenceClient;
  readonly view: ExplainView;
  shown(): { readonly run: RunData | undefined; readonly layer: number; readonly head: HeadChoice; readonly theme: Theme };
}

/** Asks the worker for what feeds cell (i, j) of the head on show and lays out the maths (or says why it cannot). */
export async function explainCellOf(ctx: ExplainCellContext, i: number, j: number): Promise<void> {
  const { run: r, layer, head } = ctx.shown();
  const view = ctx.view;
  if (!r?.ready) return;
  if (typeof head !== 'number') {
    view.message('Pick a single head (not an aggregate) to see how one of its weights is computed.');
    return;
  }
  if (r.causal && j > i) {
    view.message(`Key #${j} comes after query #${i}: the causal mask sets its score to −∞, so its weight is exactly 0.`);
    return;
  }
  const moved = () => {
    const now = ctx.shown();
    return now.run !== r || now.layer !== layer || now.head !== head;
  };
  view.message('Computing…');
  const x = await ctx.client.explain(r.runId, layer, head, i);
  if (moved()) return;
  if (x.error || !x.scores) {
    view.message(x.error ?? 'The worker sent no scores for this row.');
    return;
  }
  const e = explainWeight({
    query: i, key: j, tokens: r.T, causal: r.causal, scores: x.scores, q: x.q, kT: x.kT, dHead: x.dHead, scaling: x.scaling,
  });
  const shown = (await r.rowAsync(layer, head, i))?.[j];
  if (moved()) return;
  if (shown === undefined) return view.message('The worker no longer holds this run; run Show Attention again.');
  view.show({ run: r, layer, head, e, q: x.q, kT: x.kT, shown, note: x.note, theme: ctx.shown().theme });
}
