/**
 * The Residual view's request in the inference worker (issue 13). On demand only: the run's ids go once more through a
 * session of its own, over the tapped model re-declaring only what this view reads (every layer's P·V, W_O, x·W_O,
 * bias and residual stream; paged-tap.ts retapForPaging), so the runs the panel makes on every selection keep their
 * narrow outputs. The session is released as soon as the numbers are computed (residual-norms.ts).
 */
import * as ort from 'onnxruntime-web';
import type { BackendUsed } from '../../src/shared/protocol';
import { retapForPaging } from '../../src/shared/paged-tap';
import { planResidualTaps, residualTapNames } from '../../src/shared/residual-tap';
import { assembleResidual, planResidual, type FetchedFloat, type LayerResidual, type ResidualAnswer, type ResidualRequest } from '../../src/shared/residual-norms';
import { runFetching } from './session';
import type { ExplainableRun } from './explain';

/** Answers a 'residual' request about `run` (heads: the run's head count), or says why there is no answer. */
export async function residualOf(req: ResidualRequest, run: (ExplainableRun & { backend: BackendUsed }) | undefined,
  heads: number | undefined): Promise<ResidualAnswer> {
  const fail = (error: string): ResidualAnswer => ({ type: 'residual', id: req.id, runId: req.runId, error });
  if (!run || run.runId !== req.runId || !heads) return fail('This run is no longer held by the worker; run Show Attention again.');
  if (run.model.plan.fused) {
    return fail('This model’s attention is a fused operator: the heads’ outputs and the output projection are inside it, not separate tensors in the graph.');
  }
  const plans = planResidualTaps(run.model.summary, run.layerNames);
  const names = residualTapNames(plans);
  const T = run.inputIds.length;
  if (names.length === 0) return assembleResidual(req, plans.map((p) => planResidual(p, () => undefined, T)), T, heads);
  const bytes = retapForPaging(run.model.tapped, names);
  if (!bytes) return fail('This model’s taps cannot be re-declared for the Residual view (its attention is tapped inside a subgraph).');
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [run.backend], graphOptimizationLevel: 'all', logSeverityLevel: 3,
    ...(run.model.externalData ? { externalData: run.model.externalData } : {}),
  });
  let fetched: Map<string, FetchedFloat>;
  try {
    // Copies (runFetching's lookup copies onnxruntime's data), so the session and its outputs go before the maths.
    fetched = await runFetching(run.model, session, run.inputIds, names, (get) => {
      const m = new Map<string, FetchedFloat>();
      for (const n of names) {
        const t = get(n);
        if (t) m.set(n, t);
      }
      return m;
    });
  } finally {
    await session.release();
  }
  // One layer at a time, yielding between layers so the panel's queries (hovers, rows) are answered meanwhile.
  const layers: (LayerResidual | string)[] = [];
  for (const p of plans) {
    layers.push(planResidual(p, (n) => fetched.get(n), T));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return assembleResidual(req, layers, T, heads);
}
