/**
 * The paged run in the inference worker (issue 16): once per model, a short run fetches each layer's Softmax output
 * together with what feeds it and identifies which layers can be recomputed from Q and K (attention-paths.ts); runs
 * then fetch Q and Kᵀ for those layers (the Softmax output only for the others), and the worker answers views from a
 * paged stack. Used when attentionLens.recomputeAttention says so: always, or (auto) when the Softmax outputs would
 * be large.
 */
import type * as ort from 'onnxruntime-web';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, summarisePaths, type IdentifiedPaths } from '../../src/shared/attention-paths';
import type { BackendUsed, RecomputeSetting } from '../../src/shared/protocol';
import { identifyFusedPaths, pagedFused } from '../../src/shared/fused-paged';
import { fusedTapNames, type FusedSource } from '../../src/shared/fused-plan';
import { fetchedLookup } from '../../src/shared/tapped-run';
import { checkTokens, type DeclaredWindows } from '../../src/shared/sliding-window';
import { getSession, logitsOf, runFetching, type PreparedModel, type RunOutput, type SessionKind } from './session';
import { cachePairs, presentNames, type StepRowSource } from '../../src/shared/kv-forward';

/** Softmax outputs above this size (all layers together, fp32) make `auto` recompute from Q and K instead. */
export const AUTO_RECOMPUTE_BYTES = 256 * 2 ** 20;

/**
 * How many tokens the identification run uses (at most; fewer when the input is shorter, but at least 8, repeating
 * it; more when config.json declares a sliding window the check must be longer than: sliding-window.ts checkTokens).
 */
const IDENTIFY_TOKENS = 32;

/** Identification results by model key; a string when the graph has no Softmax to identify against. */
const identified = new WeakMap<PreparedModel, IdentifiedPaths | string>();

/** The model's self-attention Softmax outputs, in stack order. */
function selfSoftmax(model: PreparedModel): string[] {
  return model.plan.softmaxOutputs.filter((_, i) => (model.plan.kinds?.[i] ?? 'self') === 'self');
}

/**
 * The model's identified paths (computed on the first call, on the `full` session, from ids taken from `inputIds`);
 * `windows`: the sliding windows config.json declares per layer.
 */
async function pathsOf(model: PreparedModel, full: ort.InferenceSession, inputIds: readonly number[], context: number,
  windows?: DeclaredWindows): Promise<IdentifiedPaths | string> {
  let p = identified.get(model);
  if (p) return p;
  const self = selfSoftmax(model);
  const fused = selfFused(model);
  const n = checkTokens(Math.min(IDENTIFY_TOKENS, context, Math.max(inputIds.length, 8)), context, windows);
  const ids = Array.from({ length: n }, (_, k) => inputIds[k % inputIds.length]);
  try {
    if (fused) {
      // Fused nodes: the check run recomputes them whole (P·V checked against each node's output) and compares the rows.
      p = await runFetching(model, full, ids, fusedTapNames(fused), (_get, out) => identifyFusedPaths(fused, fetchedLookup(out), n));
    } else if (self.length === 0) p = 'this graph has no attention Softmax to check a recomputation against';
    else {
      p = await runFetching(model, full, ids, identificationFetches(self, model.sources),
        (get) => identifyPaths(self, model.sources, get, n, { declared: windows, context }));
    }
  } catch (e) {
    // Nothing identified (no Softmax output holds attention at that length, a misshapen tap): the run takes the
    // Softmax path, whose own checks say what is wrong.
    p = `the check run failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (!fused && typeof p !== 'string' && p.layers.some((l) => l.path === 'qk')) {
    const shown = new Set(p.layers.map((l) => l.name));
    const vs = model.sources.filter((src) => shown.has(src.softmax)).flatMap((src) => (src.v ? [src.v] : []));
    // The presents too, T × d per layer, so that generation can step on the model's key/value cache (kv-forward.ts).
    const pairs = cachePairs(model.summary);
    model.pagedOutputs = [...pagedFetches(p.layers, model.sources), ...vs, ...(model.logitsName ? [model.logitsName] : []),
      ...(pairs ? presentNames(pairs) : [])];
  }
  identified.set(model, p);
  return p;
}

/** The identified paths when `setting` pages a run of `tokens` tokens; undefined when it takes the Softmax path. */
function pagingFor(model: PreparedModel, tokens: number, setting: RecomputeSetting): IdentifiedPaths | undefined {
  const found = identified.get(model);
  if (setting === 'never' || model.decoder || !found || typeof found === 'string' || !found.layers.some((l) => l.path === 'qk')) return undefined;
  if (!selfFused(model) && !model.pagedOutputs) return undefined;
  if (setting === 'auto' && found.layers.length * found.heads * tokens * tokens * 4 <= AUTO_RECOMPUTE_BYTES) return undefined;
  return found;
}

/** The session kind a run of `tokens` tokens starts with: 'paged' once the model is identified and the run pages. */
export function sessionKindFor(model: PreparedModel, tokens: number, setting: RecomputeSetting): SessionKind {
  // A fused graph's taps are its nodes' inputs, T × d each: its full session is already narrow.
  return pagingFor(model, tokens, setting) && !selfFused(model) ? 'paged' : 'full';
}

/** The fused self-attention nodes of a fused graph, in layer order; undefined for a graph with Softmax nodes. */
function selfFused(model: PreparedModel): readonly FusedSource[] | undefined {
  const fused = model.plan.fused;
  return fused?.filter((_, i) => (model.plan.kinds?.[i] ?? 'self') === 'self');
}

/** How a cached generation step reads each layer's newest row on the paged session: from q and Kᵀ, or the fallback's Softmax. */
export function pagedRowSource(model: PreparedModel): StepRowSource | undefined {
  const found = identified.get(model);
  if (!found || typeof found === 'string' || selfFused(model)) return undefined;
  const layers = found.layers.map((p) => {
    const src = model.sources.find((s) => s.softmax === p.name);
    return p.path === 'qk' && src?.q && src.kT ? { q: src.q, kT: src.kT, form: p.form, ...(p.biases ? { biases: p.biases } : {}) } : { softmax: p.name };
  });
  return { kind: 'paged', layers };
}

/** Runs `ids` on a paged session: the paged stack (and logits) from Q and Kᵀ and the fallback layers' Softmax. */
export function runOnPaged(model: PreparedModel, paged: ort.InferenceSession, ids: readonly number[]): Promise<RunOutput> {
  const found = identified.get(model);
  if (!found || typeof found === 'string') return Promise.reject(new Error('The model\'s attention layers have not been identified.'));
  const T = ids.length;
  const fused = selfFused(model);
  const names = fused ? fusedTapNames(fused) : pagedFetches(found.layers, model.sources);
  if (model.logitsName) names.push(model.logitsName);
  return runFetching(model, paged, ids, names, (get, out) => {
    const a = fused ? pagedFused(fused, found.layers, fetchedLookup(out), T) : pagedFromFetched(found.layers, model.sources, get, T);
    const attention = Object.assign(a, { names: found.layers.map((p) => p.name), maxRowError: 0 });
    return { attention, ...logitsOf(model, out, T), paths: summarisePaths(found.layers) };
  });
}

/**
 * Runs the model paged when `setting` asks for it: 'always', or 'auto' with Softmax outputs above AUTO_RECOMPUTE_BYTES.
 * `session` is of the kind sessionKindFor gave; a model not yet identified is identified on it first (a 'full' one), and
 * the run then moves to the paged session (which releases the full one). Undefined when the run takes the Softmax path.
 * `windows`: config.json's sliding windows per layer (ModelInfo.slidingWindows).
 */
export async function runPaged(model: PreparedModel, backend: BackendUsed, session: ort.InferenceSession, kind: SessionKind,
  inputIds: readonly number[], setting: RecomputeSetting, context: number,
  windows?: DeclaredWindows): Promise<{ session: ort.InferenceSession; output: RunOutput } | undefined> {
  if (setting === 'never' || model.decoder) return undefined;
  if (kind === 'full') await pathsOf(model, session, inputIds, context, windows);
  if (!pagingFor(model, inputIds.length, setting)) return undefined;
  const paged = kind === 'paged' || selfFused(model) ? session : await getSession(model, backend, 'paged');
  return { session: paged, output: await runOnPaged(model, paged, inputIds) };
}
