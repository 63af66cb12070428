/**
 * The paged run in the inference worker (issue 16): once per model, a short run fetches each layer's Softmax output
 * together with what feeds it and identifies which layers can be recomputed from Q and K (attention-paths.ts); runs
 * then fetch Q and Kᵀ for those layers (the Softmax output only for the others), and the worker answers views from a
 * paged stack. Used when attentionLens.recomputeAttention says so: always, or (auto) when the Softmax outputs would
 * be large.
 */
import type * as ort from 'onnxruntime-web';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, summarisePaths, type IdentifiedPaths } from '../../src/shared/attention-paths';
import type { RecomputeSetting } from '../../src/shared/protocol';
import { makeFeeds, logitsOf, tensorToFloat32, type PreparedModel, type RunOutput } from './session';

/** Softmax outputs above this size (all layers together, fp32) make `auto` recompute from Q and K instead. */
export const AUTO_RECOMPUTE_BYTES = 256 * 2 ** 20;

/** How many tokens the identification run uses (at most; fewer when the input is shorter, but at least 8, repeating it). */
const IDENTIFY_TOKENS = 32;

/** Identification results by model key; a string when the graph has no Softmax to identify against. */
const identified = new WeakMap<PreparedModel, IdentifiedPaths | string>();

/** The model's self-attention Softmax outputs, in stack order. */
function selfSoftmax(model: PreparedModel): string[] {
  return model.plan.softmaxOutputs.filter((_, i) => (model.plan.kinds?.[i] ?? 'self') === 'self');
}

/** Runs `names` on `ids`, handing a lookup of Float32 copies to `use`, then frees onnxruntime's tensors. */
async function fetchRun<R>(model: PreparedModel, session: ort.InferenceSession, ids: readonly number[], names: readonly string[],
  use: (get: (name: string) => { dims: number[]; data: Float32Array } | undefined, out: ort.InferenceSession.ReturnType) => R): Promise<R> {
  const out = await session.run(makeFeeds(model, ids), [...names]);
  try {
    return use((name) => {
      const t = out[name];
      if (!t) return undefined;
      const data = tensorToFloat32(t);
      return { dims: t.dims.map(Number), data: data === t.data ? data.slice() : data };
    }, out);
  } finally {
    for (const t of Object.values(out)) t.dispose?.();
  }
}

/** The model's identified paths (computed on the first call, on ids taken from `inputIds`). */
async function pathsOf(model: PreparedModel, session: ort.InferenceSession, inputIds: readonly number[], context: number): Promise<IdentifiedPaths | string> {
  let p = identified.get(model);
  if (p) return p;
  const self = selfSoftmax(model);
  if (model.plan.fused || self.length === 0) p = 'this graph has no attention Softmax to check a recomputation against';
  else {
    const n = Math.min(IDENTIFY_TOKENS, context, Math.max(inputIds.length, 8));
    const ids = Array.from({ length: n }, (_, k) => inputIds[k % inputIds.length]);
    p = await fetchRun(model, session, ids, identificationFetches(self, model.sources), (get) => identifyPaths(self, model.sources, get, n));
  }
  identified.set(model, p);
  return p;
}

/**
 * Runs the model paged when `setting` asks for it: 'always', or 'auto' with Softmax outputs above AUTO_RECOMPUTE_BYTES.
 * Undefined when the run should take the Softmax path instead (never, small, fused, or no layer could be recomputed).
 */
export async function runPaged(model: PreparedModel, session: ort.InferenceSession, inputIds: readonly number[],
  setting: RecomputeSetting, context: number): Promise<RunOutput | undefined> {
  if (setting === 'never' || model.decoder) return undefined;
  const found = await pathsOf(model, session, inputIds, context);
  if (typeof found === 'string' || !found.layers.some((p) => p.path === 'qk')) return undefined;
  const T = inputIds.length;
  if (setting === 'auto' && found.layers.length * found.heads * T * T * 4 <= AUTO_RECOMPUTE_BYTES) return undefined;
  const names = pagedFetches(found.layers, model.sources);
  if (model.logitsName) names.push(model.logitsName);
  return fetchRun(model, session, inputIds, names, (get, out) => {
    const a = pagedFromFetched(found.layers, model.sources, get, T);
    const { logits, vocab } = logitsOf(model, out, T);
    const attention = Object.assign(a, { names: found.layers.map((p) => p.name), maxRowError: 0 });
    return { attention, logits, vocab, paths: summarisePaths(found.layers) };
  });
}
