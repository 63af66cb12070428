/**
 * Encoder–decoder runs paged (issue 16): on a model's first run a short check identifies each stack's layers (the
 * encoder's self-attention, the decoder's self-attention, and its cross-attention, whose decoder queries attend over
 * encoder keys) against their Softmax outputs (attention-paths.ts); runs then fetch Q and Kᵀ for the identified
 * layers (the Softmax output for the others) and answer views from paged stacks. T5's self-attention adds a relative
 * position bias, recomputed from its table when the run says config.json's relative_attention_max_distance
 * (relative-bias.ts); without it those layers keep the Softmax tap. Used as paged-run.ts uses it for single models:
 * 'always', or 'auto' past AUTO_RECOMPUTE_BYTES.
 */
import type * as ort from 'onnxruntime-web';
import {
  identificationFetches, identifyPaths, pagedFetches, pagedFromFetched, summarisePaths, type IdentifiedPaths, type PathSummary,
} from '../../src/shared/attention-paths';
import type { Attention } from '../../src/shared/attention';
import type { BackendUsed, RecomputeSetting } from '../../src/shared/protocol';
import { AUTO_RECOMPUTE_BYTES } from './paged-run';
import { getSession, runFetching, type PreparedModel, type SessionKind } from './session';
import { readFloatInitializer } from '../../src/shared/onnx-initializer';

/** The identified layers of an encoder–decoder model: the encoder's, the decoder's self-attention, the cross-attention. */
interface EncDecPaths {
  readonly encoder: IdentifiedPaths;
  readonly decoder: IdentifiedPaths;
  readonly cross: IdentifiedPaths;
}

/** Most tokens of each side the check run takes (fewer when the run is shorter; repeated up to 8 encoder tokens). */
const CHECK_TOKENS = 32;

/** Identification results by encoder model; a string when the check could not run. */
const identified = new WeakMap<PreparedModel, EncDecPaths | string>();

/** The Softmax outputs of `model` of one kind, in layer order. */
const softmaxOf = (model: PreparedModel, kind: 'self' | 'cross') => model.plan.softmaxOutputs.filter((_, i) => (model.plan.kinds?.[i] ?? 'self') === kind);

/** The encoder output the decoder is fed: last_hidden_state, else the encoder's first output. */
const hiddenName = (model: PreparedModel): string => (model.summary.outputs.some((o) => o.name === 'last_hidden_state') ? 'last_hidden_state' : model.summary.outputs[0]?.name ?? '');

/** `n` ids taken cyclically from `ids`. */
const cycle = (ids: readonly number[], n: number): number[] => Array.from({ length: n }, (_, k) => ids[k % ids.length]);

/**
 * Runs the encoder on `ids` fetching `names` (and its output), read by `useEnc` before its tensors are freed, then the
 * decoder on `decIds` over that output fetching `decNames`, read by `useDec`.
 */
async function runBoth<E, R>(model: PreparedModel, decoder: PreparedModel, sessions: readonly ort.InferenceSession[],
  ids: readonly number[], decIds: readonly number[], names: readonly string[], decNames: readonly string[],
  useEnc: (enc: Lookup) => E, useDec: (dec: Lookup, e: E) => R): Promise<R> {
  const hidden = hiddenName(model);
  const [e, h] = await runFetching(model, sessions[0], ids, [...new Set([...names, hidden])], (enc) => {
    const out = enc(hidden);
    if (!out || out.dims.length !== 3) throw new Error('The encoder has no [batch, tokens, hidden] output to feed the decoder.');
    return [useEnc(enc), out] as const;
  });
  return runFetching(decoder, sessions[1], decIds, decNames, (dec) => useDec(dec, e), { encoderHiddenStates: h });
}
type Lookup = (name: string) => { dims: number[]; data: Float32Array; type: string } | undefined;

/** Identifies the model's three stacks on a short check (full sessions), once per model. */
async function identify(model: PreparedModel, decoder: PreparedModel, backend: BackendUsed, ids: readonly number[],
  decIds: readonly number[], maxDistance?: number): Promise<EncDecPaths | string> {
  const found = identified.get(model);
  if (found) return found;
  const S = Math.min(CHECK_TOKENS, Math.max(ids.length, 8));
  const T = Math.min(CHECK_TOKENS, Math.max(decIds.length, 2));
  const [encSelf, decSelf, cross] = [softmaxOf(model, 'self'), softmaxOf(decoder, 'self'), softmaxOf(decoder, 'cross')];
  // T5's relative position bias, recomputed from each graph's own table where config.json gave the bucket rule.
  const relative = (m: PreparedModel) => (maxDistance ? { relative: { maxDistance, table: (n: string) => readFloatInitializer(m.tapped, n) } } : {});
  let p: EncDecPaths | string;
  try {
    const sessions = await Promise.all([getSession(model, backend), getSession(decoder, backend)]);
    p = await runBoth(model, decoder, sessions, cycle(ids, S), cycle(decIds, T), identificationFetches(encSelf, model.sources),
      identificationFetches([...decSelf, ...cross], decoder.sources), (enc) => identifyPaths(encSelf, model.sources, enc, S, relative(model)),
      (dec, encoder) => ({
        encoder,
        decoder: identifyPaths(decSelf, decoder.sources, dec, T, relative(decoder)),
        cross: identifyPaths(cross, decoder.sources, dec, T, { keys: S }),
      }));
    model.pagedOutputs = [...pagedFetches(p.encoder.layers, model.sources), hiddenName(model)];
    decoder.pagedOutputs = [...pagedFetches([...p.decoder.layers, ...p.cross.layers], decoder.sources), ...(decoder.logitsName ? [decoder.logitsName] : [])];
  } catch (e) {
    p = `the check run failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  identified.set(model, p);
  return p;
}

/** Bytes the three Softmax stacks of a run of S encoder and T decoder tokens would hold. */
function stackBytes(p: EncDecPaths, S: number, T: number): number {
  return 4 * (p.encoder.layers.length * p.encoder.heads * S * S + p.decoder.layers.length * p.decoder.heads * T * T +
    p.cross.layers.length * p.cross.heads * T * S);
}

/** Whether a run of `ids` and `decIds` pages: the model is identified, some layer recomputes, and `setting` asks for it. */
function pages(model: PreparedModel, S: number, T: number, setting: RecomputeSetting): EncDecPaths | undefined {
  const p = identified.get(model);
  if (setting === 'never' || !p || typeof p === 'string' || ![p.encoder, p.decoder, p.cross].some((s) => s.layers.some((l) => l.path === 'qk'))) return undefined;
  return setting === 'always' || stackBytes(p, S, T) > AUTO_RECOMPUTE_BYTES ? p : undefined;
}

/** The session kind an encoder–decoder run starts with: 'paged' once the model is identified and the run pages. */
export function encDecSessionKind(model: PreparedModel, S: number, T: number, setting: RecomputeSetting): SessionKind {
  return pages(model, S, T, setting) ? 'paged' : 'full';
}

/**
 * The encoder, decoder and cross stacks of a run, paged, when `setting` pages it ('always', or 'auto' with stacks
 * past AUTO_RECOMPUTE_BYTES) and some layer of the model was identified; undefined when the run takes the Softmax
 * path (runEncoderDecoder). The model's first run identifies its layers on the full sessions. `paths`: every layer's
 * path, the encoder's, the decoder's and the cross layers in that order.
 */
export async function runEncDecPaged(model: PreparedModel, backend: BackendUsed, ids: readonly number[], decIds: readonly number[],
  setting: RecomputeSetting, maxDistance?: number): Promise<{ stacks: Attention[]; paths: PathSummary } | undefined> {
  const decoder = model.decoder;
  if (setting === 'never' || !decoder || model.plan.fused || decoder.plan.fused) return undefined;
  await identify(model, decoder, backend, ids, decIds, maxDistance);
  const [S, T] = [ids.length, decIds.length];
  const p = pages(model, S, T, setting);
  if (!p) return undefined;
  const sessions = await Promise.all([getSession(model, backend, 'paged'), getSession(decoder, backend, 'paged')]);
  const paths = [...summarisePaths(p.encoder.layers, 'encoder'), ...summarisePaths(p.decoder.layers, 'decoder'), ...summarisePaths(p.cross.layers, 'cross')];
  const stacks = await runBoth(model, decoder, sessions, ids, decIds, pagedFetches(p.encoder.layers, model.sources),
    pagedFetches([...p.decoder.layers, ...p.cross.layers], decoder.sources),
    (enc): Attention => ({ ...pagedFromFetched(p.encoder.layers, model.sources, enc, S), kind: 'encoder' }),
    (dec, encoder): Attention[] => [
      encoder,
      { ...pagedFromFetched(p.decoder.layers, decoder.sources, dec, T), kind: 'decoder' },
      pagedFromFetched(p.cross.layers, decoder.sources, dec, T, undefined, S),
    ]);
  return { stacks, paths };
}
