/**
 * Generation with the model's own key/value cache, where the graph has one (past_key_values.N.key/value inputs and
 * present.N.key/value outputs, as optimum and Hugging Face exports write them): the prompt runs once, then each step
 * runs only the new token at its position, fed the previous run's presents. Each step's attention is then the new
 * position's row over every earlier token: the tapped Softmax output is [1, H, 1, K], or, on a paged session, the row
 * is recomputed from the tapped q (one query) and Kᵀ (every key, past included). Works with any onnxruntime (web in
 * the worker, node in tests). Pure apart from the onnxruntime objects it is handed.
 */
import { buildFeeds, intFeedData, type FeedSpec } from './feeds';
import { collectAttention, requiredInputs, type OnnxSummary } from './onnx-tap';
import { qkRow, type LayerQK, type ScoreForm } from './qk-attention';
import { keyBias } from './score-bias';
import type { StepOutput } from './generate';
import type { OrtTensorCtor } from './tapped-run';

/** One layer's cache: the past inputs fed and the present outputs that fill them next step. */
export interface CachePair {
  readonly pastKey: string;
  readonly pastValue: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

/**
 * The cache pairs of a decoder graph, one per layer; undefined when it has no past inputs or a past input has no
 * present output of the same layer. A merged decoder (use_cache_branch) has them too: its taps are If outputs that
 * carry whichever branch ran (tap-subgraph.ts), so a step with the cache reads the with-past branch's Softmax.
 */
export function cachePairs(summary: OnnxSummary): CachePair[] | undefined {
  const inputs = requiredInputs(summary).map((i) => i.name);
  const outputs = new Set(summary.outputs.map((o) => o.name));
  const pasts = inputs.flatMap((n) => {
    const m = /^(past_key_values|past)\.(\d+)\.key$/.exec(n);
    return m ? [{ layer: Number(m[2]), prefix: m[1] }] : [];
  });
  if (pasts.length === 0 || inputs.filter((n) => /^past/.test(n)).length !== 2 * pasts.length) return undefined;
  const pairs: CachePair[] = [];
  for (const { layer, prefix } of pasts.sort((a, b) => a.layer - b.layer)) {
    const p: CachePair = {
      pastKey: `${prefix}.${layer}.key`, pastValue: `${prefix}.${layer}.value`,
      presentKey: `present.${layer}.key`, presentValue: `present.${layer}.value`,
    };
    if (!inputs.includes(p.pastValue) || !outputs.has(p.presentKey) || !outputs.has(p.presentValue)) return undefined;
    pairs.push(p);
  }
  return pairs;
}

/** The names of every present output, to fetch (and, on a narrowed session, to declare). */
export function presentNames(pairs: readonly CachePair[]): string[] {
  return pairs.flatMap((p) => [p.presentKey, p.presentValue]);
}

/** A tensor as onnxruntime returns it (web or node). */
interface OrtValue { readonly type: string; readonly dims: readonly number[]; readonly data: unknown; dispose?(): void }

/** The session part this module uses. */
interface CachedSession {
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, OrtValue>>;
}

/** A recomputed layer of a cached step: its q and Kᵀ, score form, and the per-key terms it adds (ALiBi), by name. */
interface PagedStepLayer { readonly q: string; readonly kT: string; readonly form: ScoreForm; readonly biases?: readonly string[] }

/** How one step's rows are read: from the tapped Softmax outputs ([1, H, 1, K]), or recomputed from q and Kᵀ per layer. */
export type StepRowSource =
  | { readonly kind: 'softmax'; readonly names: readonly string[] }
  | {
    readonly kind: 'paged';
    readonly layers: readonly (PagedStepLayer | { readonly softmax: string })[];
  };

/** The tensors a step fetches for `rows`. */
function rowFetches(rows: StepRowSource): string[] {
  if (rows.kind === 'softmax') return [...rows.names];
  return rows.layers.flatMap((l) => ('softmax' in l ? [l.softmax] : [l.q, l.kT, ...(l.biases ?? [])]));
}

/** Float32 of a fetched float32/float16 tensor (float16 through `toFloat32`). */
type ToFloat32 = (t: { type: string; data: unknown }) => Float32Array;

/** The last query's row over K keys of every head of a Softmax output [1, H, Tq, K] (or [H, Tq, K]), checked to sum to 1. */
function lastSoftmaxRows(name: string, t: { dims: readonly number[]; data: Float32Array }, K: number): { heads: number; rows: Float32Array } {
  const [H, Tq, k] = t.dims.slice(-3);
  if (t.dims.length < 3 || k !== K || t.data.length !== H * Tq * K) throw new Error(`${name} is [${t.dims.join(', ')}], not a row over ${K} keys per head.`);
  const rows = new Float32Array(H * K);
  for (let h = 0; h < H; h++) rows.set(t.data.subarray((h * Tq + Tq - 1) * K, (h * Tq + Tq) * K), h * K);
  const a = collectAttention([{ name, dims: [1, H, 1, K], data: rows }], 1, 1e-3, K);
  return { heads: a.heads, rows: a.data };
}

/**
 * The last query's row over K keys for every head of one recomputed layer: q [1, H, Tq, d] and Kᵀ [1, Hk, d, K] (the
 * last query is the newest token: it sees every key but those a sliding window leaves out), plus the per-key `biases`
 * terms where the form has them (ALiBi): qkRow on a layer of that one query.
 */
export function lastQueryRows(q: { dims: readonly number[]; data: Float32Array }, kT: { dims: readonly number[]; data: Float32Array },
  form: ScoreForm, biases: readonly { name: string; dims: readonly number[]; data: Float32Array }[] = []): { heads: number; rows: Float32Array } {
  const [H, Tq, d] = q.dims.slice(-3);
  const [Hk, dk, K] = kT.dims.slice(-3);
  if (!(Tq >= 1) || dk !== d || Hk < 1 || H % Hk !== 0) throw new Error(`q [${q.dims.join(', ')}] and Kᵀ [${kT.dims.join(', ')}] do not pair up.`);
  const added = keyBias(biases, H, K);
  if (typeof added === 'string') throw new Error(`A cached step's bias: ${added}.`);
  if (form.bias && added.names.length === 0) throw new Error('A cached step of a layer with a per-key bias did not fetch it.');
  if (form.relative) throw new Error('A cached step does not recompute a relative position bias (T5): this layer needs its Softmax output.');
  // The newest query alone, at position K − 1 among the keys: qkRow's mask and bias take it from there.
  const newest = new Float32Array(H * d);
  for (let h = 0; h < H; h++) newest.set(q.data.subarray((h * Tq + Tq - 1) * d, (h * Tq + Tq) * d), h * d);
  const x: LayerQK = { heads: H, kvHeads: Hk, tokens: 1, keys: K, queryStart: K - 1, d, q: newest, kT: kT.data, form,
    ...(added.names.length ? { bias: added.bias } : {}) };
  const rows = new Float32Array(H * K);
  const scratch = new Float64Array(K);
  for (let h = 0; h < H; h++) qkRow(x, h, 0, rows.subarray(h * K, (h + 1) * K), scratch);
  return { heads: H, rows };
}

/** Reads the newest position's rows [layers, heads, K] from a run's fetched outputs. */
function newestRows(rows: StepRowSource, out: Record<string, OrtValue>, K: number, f32: ToFloat32): { layers: number; heads: number; data: Float32Array } {
  const get = (n: string) => {
    const t = out[n];
    if (!t) throw new Error(`The run did not return ${n}.`);
    return { dims: t.dims.map(Number), data: f32(t) };
  };
  const parts = rows.kind === 'softmax'
    ? rows.names.map((n) => lastSoftmaxRows(n, get(n), K))
    : rows.layers.map((l) => ('softmax' in l ? lastSoftmaxRows(l.softmax, get(l.softmax), K) : lastQueryRows(get(l.q), get(l.kT), l.form, (l.biases ?? []).map((n) => ({ name: n, ...get(n) })))));
  const heads = parts[0]?.heads ?? 0;
  if (parts.some((p) => p.heads !== heads)) throw new Error('The layers of a cached step have different head counts.');
  const data = new Float32Array(parts.length * heads * K);
  parts.forEach((p, l) => data.set(p.rows, l * heads * K));
  return { layers: parts.length, heads, data };
}

/** A forward pass that steps on the key/value cache, how to free the cache, and how many steps ran on it. */
export interface CachedForward {
  readonly forward: (ids: readonly number[]) => Promise<StepOutput>;
  dispose(): void;
  cachedSteps(): number;
}

/**
 * A `forward` for generateSteps (generate.ts) that keeps the model's key/value cache between calls: a call whose ids
 * extend the previous call's by one token runs that token alone at its position with the previous presents; any other
 * call runs the whole sequence with an empty past. Each returns the newest position's rows and logits. Call `dispose`
 * when generation ends (it frees the cache). `f32` converts a fetched tensor's data to Float32.
 */
export function cachedForward(ort: OrtTensorCtor, session: CachedSession, summary: OnnxSummary, pairs: readonly CachePair[],
  rows: StepRowSource, logitsName: string, f32: ToFloat32): CachedForward {
  let past: Record<string, OrtValue> | undefined;
  let length = 0;
  let cached = 0;
  const release = () => {
    for (const t of Object.values(past ?? {})) t.dispose?.();
    past = undefined;
  };
  const forward = async (ids: readonly number[]): Promise<StepOutput> => {
    const step = past !== undefined && ids.length === length + 1;
    const feeds: Record<string, unknown> = {};
    const specs = step ? stepFeeds(summary, ids[length], length) : buildFeeds(requiredInputs(summary), ids);
    for (const f of specs) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    if (step) pairs.forEach((p) => { feeds[p.pastKey] = past![p.presentKey]; feeds[p.pastValue] = past![p.presentValue]; });
    const presents = presentNames(pairs);
    const out = await session.run(feeds, [...new Set([...rowFetches(rows), logitsName, ...presents])]);
    let kept = false;
    try {
      const r = newestRows(rows, out, ids.length, f32);
      const lt = out[logitsName];
      if (!lt) throw new Error(`The model returned no "${logitsName}".`);
      const logits = f32(lt);
      const V = Number(lt.dims[lt.dims.length - 1]);
      release();
      past = Object.fromEntries(presents.map((n) => [n, out[n]]));
      kept = true;
      length = ids.length;
      if (step) cached++;
      return { rows: r, lastLogits: logits.slice(logits.length - V) };
    } finally {
      for (const [n, t] of Object.entries(out)) if (!(kept && presents.includes(n))) t.dispose?.();
    }
  };
  return { forward, dispose: release, cachedSteps: () => cached };
}

/**
 * Feeds other than the past for one cached step: the token at `position`, a mask over position + 1 keys, positions
 * [position], and a merged decoder's use_cache_branch set.
 */
export function stepFeeds(summary: OnnxSummary, token: number, position: number): FeedSpec[] {
  const inputs = requiredInputs(summary).filter((i) => !/^past/.test(i.name));
  return buildFeeds(inputs, [token]).map((f): FeedSpec => {
    if (f.name === 'position_ids') return { ...f, data: intFeedData(f.type, [position]) };
    if (f.name === 'attention_mask') return { ...f, dims: [1, position + 1], data: intFeedData(f.type, new Array(position + 1).fill(1)) };
    if (f.name === 'use_cache_branch') return { ...f, data: Uint8Array.of(1) }; // a merged decoder's with-past branch
    return f;
  });
}
