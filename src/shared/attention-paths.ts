/**
 * Choosing, per layer, where attention comes from: recomputed from the tapped Q and K (the main path, paged: the
 * worker holds T × d per layer) or the tapped Softmax output (the fallback). The choice is checked, not assumed:
 * on one run that fetched both, a layer takes the Q/K path only when its score form is identified
 * (qk-attention.ts `identifyForm`) and its recomputed rows equal the Softmax output within 1e-5 for every head.
 * Pure: no `vscode`, no DOM.
 */
import { collectAttention, type FetchedTensor } from './tap-collect';
import { identifyForm, layerTensors, maxRowDifference, type ScoreForm } from './qk-attention';
import { pagedAttention, type LayerSource } from './paged-attention';
import type { Attention } from './attention';
import type { ScoreSources } from './score-tap';
import { unshownWindow, type DeclaredWindows } from './sliding-window';
import type { RecomputedOn } from './protocol';
import { keyBias } from './score-bias';
import { identifyRelative, type RelativeBias } from './relative-bias';
import type { FloatInitializer } from './onnx-initializer';

/** Largest |recomputed − Softmax output| a layer may show and still be recomputed. */
export const RECOMPUTE_TOLERANCE = 1e-5;

/** The same for an fp16 graph, whose own Softmax output is only that precise (the tap tests' fp16 tolerance). */
export const FP16_RECOMPUTE_TOLERANCE = 1e-3;

/** How one layer of the stack is served: recomputed from Q and K with its score form, or from its Softmax tap and why. */
export type LayerPath =
  | {
    readonly name: string; readonly path: 'qk'; readonly form: ScoreForm; readonly maxDifference: number;
    /** The tapped terms summed into its per-key bias (ScoreForm.bias: ALiBi), which every run fetches with Q and Kᵀ. */
    readonly biases?: readonly string[];
    /** Its relative position bias (T5), recomputed from the table on every run: nothing more is fetched for it. */
    readonly relative?: RelativeBias;
  }
  | { readonly name: string; readonly path: 'softmax'; readonly reason: string };

/** What the identification run found: the heads per layer, and each layer's path in stack order. */
export interface IdentifiedPaths {
  readonly heads: number;
  readonly layers: readonly LayerPath[];
}

/** A fetched float tensor. */
type Fetch = (name: string) => { readonly dims: readonly number[]; readonly data: Float32Array; readonly type?: string } | undefined;

/** Every tensor the identification run fetches: each Softmax output, and what feeds it (scores, Q, Kᵀ, added terms). */
export function identificationFetches(softmaxOutputs: readonly string[], sources: readonly ScoreSources[]): string[] {
  const names = new Set(softmaxOutputs);
  for (const s of sources) if (names.has(s.softmax)) for (const n of [s.logits, s.q, s.kT, ...(s.biases ?? [])]) if (n) names.add(n);
  return [...names];
}

/** What identifyPaths may be told besides the run: config.json's sliding windows, or that the layers are cross-attention. */
export interface IdentifyOptions {
  /** The sliding windows config.json declares per layer, and the context runs may fill. */
  readonly declared?: DeclaredWindows;
  readonly context?: number;
  /** Cross-attention layers: the keys (encoder tokens) the `tokens` decoder queries attend over. */
  readonly keys?: number;
  /**
   * T5's relative position bias: config.json's relative_attention_max_distance, and the model's initializers by name
   * (onnx-initializer.ts), to recompute a term gathered from a table (ScoreSources.tables); absent, such a term falls back.
   */
  readonly relative?: { readonly maxDistance: number; readonly table: (name: string) => FloatInitializer | undefined };
}

/**
 * Identifies every attention layer's path from a run of `tokens` tokens that fetched `identificationFetches`: the
 * layers are the Softmax outputs that hold attention (collectAttention's check), in the order given. With
 * `opts.declared`, a layer whose declared sliding window the check was too short to show (sliding-window.ts
 * unshownWindow) takes the Softmax path, with that reason; with `opts.keys`, the layers are cross-attention.
 */
export function identifyPaths(softmaxOutputs: readonly string[], sources: readonly ScoreSources[], get: Fetch, tokens: number,
  opts: IdentifyOptions = {}): IdentifiedPaths {
  const fetched: FetchedTensor[] = softmaxOutputs.flatMap((name) => {
    const f = get(name);
    return f ? [{ name, dims: [...f.dims], data: f.data }] : [];
  });
  const keys = opts.keys ?? tokens;
  const stack = collectAttention(fetched, tokens, undefined, keys, opts.keys === undefined ? 'self' : 'cross');
  const n = stack.heads * tokens * keys;
  return { heads: stack.heads, layers: stack.names.map((name, l): LayerPath => {
    const softmax = stack.data.subarray(l * n, (l + 1) * n);
    const src = sources.find((s) => s.softmax === name);
    const unshown = unshownWindow(opts.declared, l, stack.names.length, tokens, opts.context ?? Infinity);
    if (unshown) return { name, path: 'softmax', reason: unshown };
    if (!src?.q || !src.kT) return { name, path: 'softmax', reason: src?.qkMissing ?? 'what feeds its Softmax was not found' };
    const q = get(src.q);
    const kT = get(src.kT);
    const logits = get(src.logits);
    if (!q || !kT || !logits) return { name, path: 'softmax', reason: 'its Q, Kᵀ or scores were not fetched' };
    const plain = layerTensors(q, kT, tokens, opts.keys);
    if (typeof plain === 'string') return { name, path: 'softmax', reason: plain };
    if (plain.heads !== stack.heads) return { name, path: 'softmax', reason: `Q has ${plain.heads} heads, the Softmax ${stack.heads}` };
    const added = biasOf(src, get, plain.heads, keys, src.biases ?? [], opts.relative && { ...opts.relative, scores: logits.data });
    if (typeof added === 'string') return { name, path: 'softmax', reason: added };
    const x = { ...plain, ...(added.names.length ? { bias: added.bias } : {}), ...(added.relative ? { relative: added.relative } : {}) };
    const fp16 = get(name)?.type === 'float16';
    const form = identifyForm(x, logits.data, fp16 ? 1e-2 : 1e-3);
    if (typeof form === 'string') return { name, path: 'softmax', reason: form };
    const maxDifference = maxRowDifference({ ...x, form }, softmax);
    if (!(maxDifference <= (fp16 ? FP16_RECOMPUTE_TOLERANCE : RECOMPUTE_TOLERANCE))) {
      return { name, path: 'softmax', reason: `rows recomputed from Q and K differ from its Softmax by up to ${maxDifference.toExponential(1)}` };
    }
    return { name, path: 'qk', form, maxDifference, ...(added.names.length ? { biases: added.names } : {}), ...(added.relative ? { relative: added.relative } : {}) };
  }) };
}

/**
 * What the terms `names` (of src.biases) add to a layer's scores, fetched by `get`: a per-key bias, and (with `relative`)
 * a relative position bias for a term gathered from a table; or why neither.
 */
function biasOf(src: ScoreSources, get: Fetch, heads: number, keys: number, names: readonly string[],
  relative?: IdentifyOptions['relative'] & { scores: Float32Array }): { bias: Float32Array; names: readonly string[]; relative?: RelativeBias } | string {
  const terms = [];
  let found: RelativeBias | undefined;
  for (const n of names) {
    const f = get(n);
    if (!f) return `${n}, added to its scores, was not fetched`;
    const tableName = src.tables?.[n];
    const table = tableName && relative ? relative.table(tableName) : undefined;
    if (table && !found && relative) {
      const r = identifyRelative(f, table, heads, f.data.length / (heads * keys), keys, relative.maxDistance, relative.scores);
      if (typeof r === 'string') return r;
      found = r;
    } else terms.push({ name: n, dims: f.dims, data: f.data });
  }
  const perKey = keyBias(terms, heads, keys);
  return typeof perKey === 'string' || !found ? perKey : { ...perKey, relative: found };
}

/** The tensors a paged run fetches: Q and Kᵀ of recomputed layers, the Softmax output of the others. */
export function pagedFetches(paths: readonly LayerPath[], sources: readonly ScoreSources[]): string[] {
  const names = new Set<string>();
  for (const p of paths) {
    const src = sources.find((s) => s.softmax === p.name);
    if (p.path === 'qk' && src?.q && src.kT) {
      names.add(src.q).add(src.kT);
      for (const b of p.biases ?? []) names.add(b);
    } else names.add(p.name);
  }
  return [...names];
}

/**
 * The paged stack of a run of `tokens` tokens that fetched `pagedFetches(paths)` (`keys`: a cross-attention stack's
 * encoder tokens); throws when a tensor is missing or misshapen.
 */
export function pagedFromFetched(paths: readonly LayerPath[], sources: readonly ScoreSources[], get: Fetch, tokens: number,
  blockBytes?: number, keys?: number): Attention {
  let heads = 0;
  const layers = paths.map((p): LayerSource => {
    const src = sources.find((s) => s.softmax === p.name);
    if (p.path === 'qk' && src?.q && src.kT) {
      const [q, kT] = [get(src.q), get(src.kT)];
      if (!q || !kT) throw new Error(`The run did not return Q and Kᵀ of ${p.name}.`);
      const x = layerTensors(q, kT, tokens, keys);
      if (typeof x === 'string') throw new Error(`Q and Kᵀ of ${p.name}: ${x}.`);
      heads = x.heads;
      const relative = p.relative ? { relative: p.relative } : {};
      if (!p.biases) return { path: 'qk', qk: { ...x, ...relative, form: p.form } };
      const added = biasOf(src, get, x.heads, keys ?? tokens, p.biases);
      if (typeof added === 'string') throw new Error(`The bias of ${p.name}: ${added}.`);
      return { path: 'qk', qk: { ...x, bias: added.bias, ...relative, form: p.form } };
    }
    const f = get(p.name);
    if (!f) throw new Error(`The run did not return the Softmax output ${p.name}.`);
    const one = collectAttention([{ name: p.name, dims: [...f.dims], data: f.data }], tokens, undefined, keys ?? tokens, keys === undefined ? 'self' : 'cross');
    heads = one.heads;
    return { path: 'softmax', data: one.data };
  });
  return pagedAttention(layers, heads, tokens, blockBytes, keys);
}

/**
 * What the panel shows of a run's paths: one path per layer, with the reason where a layer fell back, the sliding
 * window of a recomputed layer that has one, and where its rows are computed; `label` names the layer where the index
 * alone would not (an encoder–decoder run lists its three stacks: "cross layer 1").
 */
export type PathSummary = readonly {
  readonly path: 'qk' | 'softmax'; readonly reason?: string; readonly label?: string; readonly window?: number; readonly on?: RecomputedOn;
  /** A recomputed layer that adds a per-key bias (ALiBi) to its scores. */
  readonly bias?: true;
}[];

/** The per-layer summary a result message carries (`stack`: the stack's name, to label each layer with). */
export function summarisePaths(paths: readonly LayerPath[], stack?: string): PathSummary {
  return paths.map((p, l) => ({
    ...(p.path === 'softmax' ? { path: 'softmax' as const, reason: p.reason } : { path: 'qk' as const }),
    ...(p.path === 'qk' && p.form.window !== undefined ? { window: p.form.window } : {}),
    ...(p.path === 'qk' && p.form.bias ? { bias: true as const } : {}),
    ...(stack ? { label: `${stack} layer ${l}` } : {}),
  }));
}

/** The header badge for a paged run: how many layers were recomputed from Q and K. */
export function pathsLabel(s: PathSummary): string {
  const qk = s.filter((p) => p.path === 'qk');
  const base = qk.length === s.length ? 'attention recomputed from Q and K' : `attention recomputed from Q and K in ${qk.length} of ${s.length} layers`;
  const gpu = qk.filter((p) => p.on === 'webgpu').length;
  if (gpu === 0) return qk.some((p) => p.on === 'js') ? `${base} in the worker's JavaScript` : base;
  return gpu === qk.length ? `${base} on WebGPU` : `${base} (on WebGPU in ${gpu}, in the worker's JavaScript in ${qk.length - gpu})`;
}

/** The layers of a summary that fell back to the Softmax tap, named, with their reasons. */
function fallbacks(s: PathSummary): { layer: string; reason: string }[] {
  return s.flatMap((p, layer) => (p.path === 'softmax' ? [{ layer: p.label ?? `layer ${layer}`, reason: p.reason ?? '' }] : []));
}

/** The badge's tooltip: how the worker serves attention, and which layers use the Softmax output, and why. */
export function pathsTitle(s: PathSummary): string {
  const head = `The worker keeps each layer's queries and keys (T × d) instead of its T × T attention, and computes the rows, tiles and statistics a view asks for. ` +
    `The score form of every recomputed layer was checked on a short run: its rows equal the model's own Softmax within ${RECOMPUTE_TOLERANCE} ` +
    `(${FP16_RECOMPUTE_TOLERANCE} in an fp16 graph).`;
  const gpu = s.filter((p) => p.on === 'webgpu').length;
  const js = s.filter((p) => p.on === 'js').length;
  const where = gpu ? ` ${gpu} layer${gpu === 1 ? '' : 's'} compute their rows on the worker's WebGPU device (Float32)${js ? `, ${js} in its JavaScript` : ''}.`
    : js ? ' Rows are computed in the worker\'s JavaScript.' : '';
  const windows = s.flatMap((p, l) => (p.window === undefined ? [] : [`${p.label ?? `layer ${l}`} (${p.window})`]));
  const slide = windows.length ? ` Layers with a sliding window (each query sees that many keys, its own included): ${windows.join(', ')}.` : '';
  const biased = s.flatMap((p, l) => (p.bias ? [p.label ?? `layer ${l}`] : []));
  const alibi = biased.length ? ` Layers that add a per-head, per-key position bias (ALiBi), tapped with Q and K on every run: ${biased.join(', ')}.` : '';
  const falls = fallbacks(s);
  return falls.length ? `${head}${where}${slide}${alibi} These layers use the tapped Softmax output instead: ${falls.map((f) => `${f.layer}: ${f.reason}`).join('; ')}.`
    : `${head}${where}${slide}${alibi}`;
}

/** A notice for a paged run where some layers fell back to the Softmax tap; undefined when none did. */
export function pathsNotice(s: PathSummary): string | undefined {
  const falls = fallbacks(s);
  return falls.length
    ? `Attention is recomputed from Q and K except in ${falls.map((f) => `${f.layer} (${f.reason})`).join('; ')}, which use the tapped Softmax output.`
    : undefined;
}
