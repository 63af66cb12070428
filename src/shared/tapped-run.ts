/**
 * Running tapped models with any onnxruntime (web in the worker, node in tests): feed every required input
 * (feeds.ts), fetch the tapped Softmax outputs, and collect them into self- and cross-attention stacks; for
 * encoder–decoder models, run the encoder, feed its hidden states to the decoder, and return the encoder,
 * decoder and cross stacks. Pure apart from the onnxruntime object it is handed.
 */
import { buildFeeds, type FeedOptions, type FeedSpec } from './feeds';
import { collectAttention, float16ToFloat32, requiredInputs, type CollectedAttention, type OnnxSummary, type TapPlan } from './onnx-tap';
import type { Attention } from './attention';
import { decoderInputIds } from './stacks';
import { collectFused, fetchedOf, type RecomputedAttention } from './fused-collect';
import type { Fetched } from './fused-tensors';

/** The part of onnxruntime's API this module uses (the same in onnxruntime-web and -node). */
export interface OrtTensorCtor {
  readonly Tensor: new (type: string, data: FeedSpec['data'], dims: readonly number[]) => unknown;
}

/** A fetched tensor as onnxruntime returns it. */
interface OrtValue { readonly type: string; readonly dims: readonly number[]; readonly data: unknown; dispose?(): void }

/** An inference session over tapped bytes. */
export interface SessionLike {
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, OrtValue>>;
}

/** A tapped model: its session, and what scanning and planning found. */
export interface TappedHandle {
  readonly session: SessionLike;
  readonly summary: OnnxSummary;
  readonly plan: TapPlan;
}

/** What one run of a tapped model returned. */
export interface TappedResult {
  readonly self: CollectedAttention;
  readonly cross?: CollectedAttention;
  /** Every float output (logits, hidden states, presents, the taps), as Float32. */
  readonly outputs: Record<string, { dims: number[]; data: Float32Array }>;
  /** The element type onnxruntime reported for each tapped output, in plan order. */
  readonly tapTypes: string[];
  /** Set when the attention was recomputed from fused operators' inputs (fused-collect.ts). */
  readonly recomputed?: RecomputedAttention;
}

/** A lookup over a run's outputs that converts each fetched tensor once (fused-collect.ts reads them). */
export function fetchedLookup(out: Readonly<Record<string, { type: string; dims: readonly number[]; data: unknown }>>): (name: string) => Fetched | undefined {
  const cache = new Map<string, Fetched>();
  return (name) => {
    const t = out[name];
    if (!t) return undefined;
    let f = cache.get(name);
    if (!f) cache.set(name, f = fetchedOf(t));
    return f;
  };
}

/** A float32/float16 tensor's data as a Float32Array. */
export function toFloat32(t: { type: string; data: unknown }): Float32Array {
  if (t.type === 'float16') {
    const d = t.data;
    return d instanceof Uint16Array ? float16ToFloat32(d) : Float32Array.from(d as ArrayLike<number>);
  }
  if (t.type === 'float32') return t.data as Float32Array;
  throw new Error(`Unexpected output type ${t.type}.`);
}

/** Runs a tapped model on `ids` and collects its attention; `tolerance` bounds |row sum − 1|. */
export async function runTappedModel(ort: OrtTensorCtor, m: TappedHandle, ids: readonly number[], feedOpts: FeedOptions = {},
  tolerance = 1e-3): Promise<TappedResult> {
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(m.summary), ids, feedOpts)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  const out = await m.session.run(feeds);
  try {
    const outputs: TappedResult['outputs'] = {};
    for (const [k, v] of Object.entries(out)) {
      if (v.type === 'float32' || v.type === 'float16') {
        const data = toFloat32(v);
        outputs[k] = { dims: v.dims.map(Number), data: v.type === 'float32' ? data.slice() : data };
      }
    }
    const kinds = m.plan.kinds ?? m.plan.softmaxOutputs.map(() => 'self' as const);
    const fetch = (kind: 'self' | 'cross') => m.plan.softmaxOutputs
      .filter((n, i) => kinds[i] === kind && outputs[n])
      .map((name) => ({ name, dims: outputs[name].dims, data: outputs[name].data }));
    const T = ids.length;
    const S = feedOpts.encoderHiddenStates?.dims[1];
    if (m.plan.fused) {
      const get = fetchedLookup(out);
      const of = (kind: 'self' | 'cross') => m.plan.fused!.filter((_, i) => kinds[i] === kind);
      const self = collectFused(of('self'), get, T, { tolerance });
      const crossSources = of('cross');
      const cross = crossSources.length && S ? collectFused(crossSources, get, T, { tolerance, keys: S, kind: 'cross' }) : undefined;
      return { self, cross, outputs, tapTypes: m.plan.softmaxOutputs.map((n) => out[n]?.type ?? 'missing'), recomputed: self.recomputed };
    }
    const cross = fetch('cross');
    return {
      self: collectAttention(fetch('self'), T, tolerance),
      cross: cross.length && S ? collectAttention(cross, T, tolerance, S, 'cross') : undefined,
      outputs,
      tapTypes: m.plan.softmaxOutputs.map((n) => out[n]?.type ?? 'missing'),
    };
  } finally {
    for (const v of Object.values(out)) v.dispose?.();
  }
}

/** The encoder output a decoder is fed: the first output named last_hidden_state (else the first float output). */
function encoderHidden(r: TappedResult, m: TappedHandle): { data: Float32Array; dims: number[] } {
  const named = r.outputs.last_hidden_state ?? r.outputs[m.summary.outputs[0]?.name];
  if (!named || named.dims.length !== 3) throw new Error('The encoder has no [batch, tokens, hidden] output to feed the decoder.');
  return named;
}

/** What an encoder–decoder run returns: the encoder, decoder and cross stacks, and the decoder's ids. */
export interface EncoderDecoderResult {
  readonly stacks: Attention[];
  readonly decoderIds: number[];
  readonly encoder: TappedResult;
  readonly decoder: TappedResult;
}

/** Runs the encoder on `inputIds`, then the decoder on the shifted ids (or `decoderIds`) with the encoder's output. */
export async function runEncoderDecoder(ort: OrtTensorCtor, encoder: TappedHandle, decoder: TappedHandle, inputIds: readonly number[],
  opts: { decoderStartId?: number; decoderIds?: readonly number[]; tolerance?: number } = {}): Promise<EncoderDecoderResult> {
  const enc = await runTappedModel(ort, encoder, inputIds, {}, opts.tolerance);
  const decoderIds = [...(opts.decoderIds ?? decoderInputIds(inputIds, opts.decoderStartId ?? 0))];
  const dec = await runTappedModel(ort, decoder, decoderIds, { encoderHiddenStates: encoderHidden(enc, encoder) }, opts.tolerance);
  if (!dec.cross) throw new Error('The decoder has no cross-attention Softmax over the encoder output.');
  return {
    stacks: [{ ...enc.self, kind: 'encoder' }, { ...dec.self, kind: 'decoder' }, dec.cross],
    decoderIds, encoder: enc, decoder: dec,
  };
}

/** A generation step's forward pass (generate.ts) over a tapped decoder model: its self-attention and last position's logits. */
export function tappedForward(ort: OrtTensorCtor, m: TappedHandle, logitsName = 'logits'):
  (ids: readonly number[]) => Promise<{ attention: Attention; lastLogits: Float32Array }> {
  return async (ids) => {
    const r = await runTappedModel(ort, m, ids);
    const logits = r.outputs[logitsName];
    if (!logits) throw new Error(`The model has no "${logitsName}" output to generate from.`);
    const V = logits.dims[logits.dims.length - 1];
    const T = ids.length;
    return { attention: r.self, lastLogits: logits.data.slice((T - 1) * V, T * V) };
  };
}
