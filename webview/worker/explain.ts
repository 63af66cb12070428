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
import type { ScoreSources } from '../../src/shared/score-tap';
import { makeFeeds, runFetching, tensorToFloat32, type PreparedModel } from './session';
import { explainFusedRow, fusedValueNorms } from '../../src/shared/fused-explain';
import { layerParts } from '../../src/shared/fused-layouts';
import { fusedTapNames, type FusedSource } from '../../src/shared/fused-plan';
import { fetchedLookup } from '../../src/shared/tapped-run';

/** What a run leaves behind for explanations: its ids and the Softmax output of each layer shown. */
export interface ExplainableRun {
  readonly runId: number;
  readonly model: PreparedModel;
  readonly inputIds: readonly number[];
  readonly layerNames: readonly string[];
  /** Set when the run was paged (paged-run.ts): its session declares Q, Kᵀ and V but no scores. */
  readonly paged?: boolean;
}

type ExplainRequest = Extract<PanelToWorker, { type: 'explain' }>;

/** A fetched tensor as headQK reads it: dims and Float32 data. */
const tensor = (t: ortTypes.Tensor): { dims: number[]; data: Float32Array } => ({ dims: t.dims.map(Number), data: tensorToFloat32(t) });
type Explanation = Extract<WorkerToPanel, { type: 'explanation' }>;

/** The fused nodes behind the layers of a run whose attention was recomputed, in stack order (undefined for a Softmax tap). */
function fusedLayers(run: ExplainableRun): (FusedSource | undefined)[] | undefined {
  const fused = run.model.plan.fused;
  return fused && run.layerNames.map((n) => fused.find((s) => s.output === n));
}

/** Runs the last run's ids again fetching what the fused nodes read, and hands each read node to `use`. */
async function withFusedParts<R>(run: ExplainableRun, session: ortTypes.InferenceSession, sources: readonly FusedSource[],
  use: (parts: ReturnType<typeof layerParts>[]) => R): Promise<R> {
  return runFetching(run.model, session, run.inputIds, fusedTapNames(sources), (_get, out) => {
    const get = fetchedLookup(out);
    return use(sources.map((s) => layerParts(s, get)));
  });
}

/** Answers an 'explain' request for `run` on `session`. */
export async function explain(req: ExplainRequest, run: ExplainableRun, session: ortTypes.InferenceSession): Promise<Explanation> {
  const base = { type: 'explanation' as const, runId: req.runId, layer: req.layer, head: req.head, query: req.query };
  const fused = fusedLayers(run);
  if (fused) {
    const node = fused[req.layer];
    if (!node) return { ...base, error: `Layer ${req.layer} has no fused attention node in this graph.` };
    // Q (after rotary), K and the row's softmax input, as the operator forms them: the same maths as the recomputed attention.
    return withFusedParts(run, session, [node], ([parts]) => ({ ...base, ...explainFusedRow(parts, req.head, req.query) }));
  }
  const src = run.model.sources.find((s) => s.softmax === run.layerNames[req.layer]);
  if (!src) return { ...base, error: 'The graph does not show what feeds this layer’s Softmax, so the weight cannot be explained.' };
  if (run.paged && (!src.q || !src.kT || !run.model.pagedOutputs?.includes(src.q))) {
    return { ...base, error: 'This layer uses the tapped Softmax output in a long-context run, whose scores are not kept: run a shorter selection to explain it.' };
  }
  // A paged session declares no scores: the weight is recomputed from q and k alone, as the panel's rows are.
  const names = [...(run.paged ? [] : [src.logits]), ...(src.q && src.kT ? [src.q, src.kT] : [])];
  const out = await session.run(makeFeeds(run.model, run.inputIds), names);
  try {
    const T = run.inputIds.length;
    if (run.paged) return explainPaged(base, out, src, T, req.head, req.query);
    const scores = tensorToFloat32(out[src.logits]);
    const H = scores.length / (T * T);
    if (!Number.isInteger(H) || req.head >= H) return { ...base, error: `The scores of this layer are not [heads, ${T}, ${T}].` };
    const row = Array.from(scores.subarray((req.head * T + req.query) * T, (req.head * T + req.query + 1) * T));
    if (!src.q || !src.kT || !out[src.q] || !out[src.kT]) {
      return { ...base, scores: row, note: `Q and K were not found in the graph (${src.qkMissing ?? 'they were not fetched'}): showing the pre-softmax scores only.` };
    }
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
  const fused = fusedLayers(run);
  if (fused) {
    if (fused.some((s) => !s)) return { error: 'Some layers have no fused attention node in this graph, so attention cannot be scaled by ‖v‖.' };
    return withFusedParts(run, session, fused as FusedSource[], (parts) => {
      const all = parts.map(fusedValueNorms);
      const norms = new Float32Array(all.reduce((a, p) => a + p.length, 0));
      all.reduce((o, p) => { norms.set(p, o); return o + p.length; }, 0);
      return { norms };
    });
  }
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

/** The explanation of a paged run's weight: q_i and the head's Kᵀ from the paged session (no scores are declared there). */
function explainPaged(base: Pick<Explanation, 'type' | 'runId' | 'layer' | 'head' | 'query'>, out: ortTypes.InferenceSession.ReturnType,
  src: ScoreSources, T: number, head: number, query: number): Explanation {
  const q = out[src.q!];
  const kT = out[src.kT!];
  if (!q || !kT) return { ...base, error: 'The run did not return Q and K of this layer.' };
  const d = Number(q.dims[q.dims.length - 1]);
  const qk = headQK(tensor(q), tensor(kT), q.size / (T * d), T, head, query);
  if (!qk) return { ...base, error: 'Q and K have shapes this view does not read.' };
  return { ...base, scaling: src.scaling, q: Array.from(qk.q), kT: Array.from(qk.kT), dHead: qk.d };
}
