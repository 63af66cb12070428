/**
 * Explaining one weight in the inference worker: the prepared model already holds what feeds each Softmax
 * as graph outputs (full-tap.ts, score-tap.ts: the pre-softmax scores and, where found, the score MatMul's
 * Q and Kᵀ, and V); on an 'explain' request the last run's ids are run again fetching just that layer's
 * taps, and the head's row of scores, q_i and Kᵀ go back to the panel, which does the maths (weight-explain.ts).
 */
import type * as ortTypes from 'onnxruntime-web';
import type { PanelToWorker, WorkerToPanel } from '../../src/shared/protocol';
import { valueNorms } from '../../src/shared/value-weighted';
import { headQK } from '../../src/shared/weight-explain';
import { makeFeeds, tensorToFloat32, type PreparedModel } from './session';

/** What a run leaves behind for explanations: its ids and the Softmax output of each layer shown. */
export interface ExplainableRun {
  readonly runId: number;
  readonly model: PreparedModel;
  readonly inputIds: readonly number[];
  readonly layerNames: readonly string[];
}

type ExplainRequest = Extract<PanelToWorker, { type: 'explain' }>;
type Explanation = Extract<WorkerToPanel, { type: 'explanation' }>;

/** Why a fused model's weights are not explained (nor scaled by ‖v‖). */
const FUSED_UNEXPLAINED = 'This graph fuses attention into one operator: its probabilities were recomputed from the operator\'s inputs, ' +
  'but explaining one weight and scaling by ‖v‖ do not read fused operators yet.';

/** Answers an 'explain' request for `run` on `session`. */
export async function explain(req: ExplainRequest, run: ExplainableRun, session: ortTypes.InferenceSession): Promise<Explanation> {
  const base = { type: 'explanation' as const, runId: req.runId, layer: req.layer, head: req.head, query: req.query };
  const src = run.model.sources.find((s) => s.softmax === run.layerNames[req.layer]);
  if (!src && run.model.plan.fused) return { ...base, error: FUSED_UNEXPLAINED };
  if (!src) return { ...base, error: 'The graph does not show what feeds this layer’s Softmax, so the weight cannot be explained.' };
  const names = [src.logits, ...(src.q && src.kT ? [src.q, src.kT] : [])];
  const out = await session.run(makeFeeds(run.model, run.inputIds), names);
  try {
    const T = run.inputIds.length;
    const scores = tensorToFloat32(out[src.logits]);
    const H = scores.length / (T * T);
    if (!Number.isInteger(H) || req.head >= H) return { ...base, error: `The scores of this layer are not [heads, ${T}, ${T}].` };
    const row = Array.from(scores.subarray((req.head * T + req.query) * T, (req.head * T + req.query + 1) * T));
    if (!src.q || !src.kT || !out[src.q] || !out[src.kT]) {
      return { ...base, scores: row, note: `Q and K were not found in the graph (${src.qkMissing ?? 'they were not fetched'}): showing the pre-softmax scores only.` };
    }
    const tensor = (t: ortTypes.Tensor) => ({ dims: t.dims.map(Number), data: tensorToFloat32(t) });
    const qk = headQK(tensor(out[src.q]), tensor(out[src.kT]), H, T, req.head, req.query);
    if (!qk) return { ...base, scores: row, note: 'Q and K have shapes this view does not read: showing the pre-softmax scores only.' };
    return { ...base, scores: row, scaling: src.scaling, q: Array.from(qk.q), kT: Array.from(qk.kT), dHead: qk.d };
  } finally {
    for (const t of Object.values(out)) t.dispose?.();
  }
}

/** ‖v_j‖ for every layer, head and token of `run`: Float32 [L, H, T], or an error when V is not found. */
export async function valueNormsOf(run: ExplainableRun, session: ortTypes.InferenceSession):
  Promise<{ norms: Float32Array } | { error: string }> {
  const sources = run.layerNames.map((n) => run.model.sources.find((s) => s.softmax === n));
  const vs = sources.map((s) => s?.v);
  if (run.model.plan.fused) return { error: FUSED_UNEXPLAINED };
  const missing = vs.findIndex((v) => !v);
  if (vs.length === 0 || missing >= 0) {
    const why = sources[missing]?.vMissing;
    return { error: `The graph does not show the values V of ${missing >= 0 ? `layer ${missing}` : 'any layer'}${why ? ` (${why})` : ''}, so attention cannot be scaled by ‖v‖.` };
  }
  const out = await session.run(makeFeeds(run.model, run.inputIds), vs as string[]);
  try {
    const T = run.inputIds.length;
    const parts: Float32Array[] = [];
    for (const name of vs as string[]) {
      const t = out[name];
      const dims = t.dims.map(Number);
      const d = dims[dims.length - 1];
      const data = tensorToFloat32(t);
      const H = data.length / (T * d);
      if (dims[dims.length - 2] !== T || !Number.isInteger(H)) return { error: `V has shape [${dims.join(', ')}], not [heads, ${T}, d].` };
      parts.push(valueNorms(data, H, T, d));
    }
    const norms = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { norms.set(p, o); o += p.length; }
    return { norms };
  } finally {
    for (const t of Object.values(out)) t.dispose?.();
  }
}
