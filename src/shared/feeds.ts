/**
 * What to feed each required graph input of a Hugging Face-style ONNX export, for one unbatched run on
 * token ids: input_ids, masks of ones, zero token types, positions 0…T−1, an empty past (past_key_values.*
 * with a past length of 0), use_cache_branch = false, and encoder outputs for seq2seq decoders. Shared by
 * the inference worker and the tests, so both feed a model the same way. Pure: no onnxruntime, no vscode.
 */
import { ElemType, type OnnxValueInfo } from './onnx-tap';

/** How one input is filled. */
export type FillRule =
  | 'token-ids' | 'ones' | 'zeros' | 'positions' | 'empty-past' | 'false' | 'encoder-ones' | 'encoder-hidden-states';

/** onnxruntime tensor type names (the same in onnxruntime-web and -node). */
export type FeedType = 'int64' | 'int32' | 'float32' | 'float16' | 'bool';

/** One feed, ready for `new ort.Tensor(type, data, dims)`. */
export interface FeedSpec {
  readonly name: string;
  readonly type: FeedType;
  readonly dims: readonly number[];
  readonly data: BigInt64Array | Int32Array | Float32Array | Uint16Array | Uint8Array;
}

/** Thrown for an input Attention Lens does not know how to fill; the message names it and the fix. */
export class FeedError extends Error {
  constructor(message: string, readonly input: string) {
    super(message);
    this.name = 'FeedError';
  }
}

/** The fill rule for an input name, or undefined when the name is unknown. */
export function fillRuleFor(name: string): FillRule | undefined {
  if (name === 'input_ids' || name === 'decoder_input_ids') return 'token-ids';
  if (name === 'attention_mask' || name === 'decoder_attention_mask') return 'ones';
  if (name === 'encoder_attention_mask') return 'encoder-ones';
  if (name === 'token_type_ids') return 'zeros';
  if (name === 'position_ids') return 'positions';
  if (name === 'use_cache_branch') return 'false';
  if (name === 'encoder_hidden_states' || name === 'encoder_outputs') return 'encoder-hidden-states';
  if (/^past_key_values\.\d+\.(key|value)$/.test(name) || /^past_key_values\.\d+\.(decoder|encoder)\.(key|value)$/.test(name)
    || /^past\.\d+\.(key|value)$/.test(name)) return 'empty-past';
  return undefined;
}

/** Each required input with its fill rule; throws FeedError for the first input no rule covers. */
export function planFeeds(inputs: readonly OnnxValueInfo[]): { name: string; rule: FillRule }[] {
  return inputs.map((i) => {
    const rule = fillRuleFor(i.name);
    if (!rule) {
      throw new FeedError(`The model needs an input "${i.name}" that Attention Lens does not know how to fill ` +
        `(it fills input_ids, attention_mask, token_type_ids, position_ids, past_key_values.*, use_cache_branch ` +
        `and encoder outputs). Export the model without that input, or with optimum's default inputs.`, i.name);
    }
    return { name: i.name, rule };
  });
}

/** Options for `buildFeeds`. */
export interface FeedOptions {
  /** Encoder output [1, S, d] (Float32) for seq2seq decoders; its length S sizes encoder_attention_mask. */
  readonly encoderHiddenStates?: { readonly data: Float32Array; readonly dims: readonly number[] };
  /** Heads and head size, for past_key_values dims the graph leaves symbolic. */
  readonly heads?: number;
  readonly headDim?: number;
}

function intType(info: OnnxValueInfo): FeedType {
  if (info.elemType === ElemType.INT32) return 'int32';
  if (info.elemType === ElemType.INT64 || info.elemType === 0) return 'int64';
  if (info.elemType === ElemType.FLOAT) return 'float32';
  throw new FeedError(`The model input "${info.name}" has element type ${info.elemType}, which Attention Lens cannot feed.`, info.name);
}

/** Feed data of an integer-valued input's type (int64, int32, or float32 where a graph takes ids as floats) holding `values`. */
export function intFeedData(type: FeedType, values: readonly number[]): FeedSpec['data'] {
  if (type === 'int64') return BigInt64Array.from(values, (v) => BigInt(v));
  if (type === 'int32') return Int32Array.from(values);
  return Float32Array.from(values);
}

/** Dims of an empty past tensor: batch 1, past length 0, heads/head size from the graph (or options). */
export function emptyPastDims(info: OnnxValueInfo, opts: FeedOptions = {}): number[] {
  const d = info.dims;
  if (d.length !== 4) {
    throw new FeedError(`The past input "${info.name}" has ${d.length} dims; Attention Lens expects [batch, heads, past, head_dim].`, info.name);
  }
  const fixed = (v: number | string, fallback: number | undefined, what: string): number => {
    if (typeof v === 'number') return v;
    if (fallback !== undefined) return fallback;
    throw new FeedError(`The past input "${info.name}" leaves its ${what} symbolic ("${v}"), so Attention Lens cannot shape the ` +
      'empty past it feeds. Re-export the model with optimum, which writes fixed head dims.', info.name);
  };
  return [1, fixed(d[1], opts.heads, 'head count'), 0, fixed(d[3], opts.headDim, 'head size')];
}

/** Feeds for every required input (see `requiredInputs`), for one run on `ids`. Throws FeedError. */
export function buildFeeds(inputs: readonly OnnxValueInfo[], ids: readonly number[], opts: FeedOptions = {}): FeedSpec[] {
  const T = ids.length;
  const byName = new Map(inputs.map((i) => [i.name, i]));
  if (!byName.has('input_ids') && !byName.has('decoder_input_ids')) {
    throw new FeedError(`The model has no "input_ids" input (its inputs: ${inputs.map((i) => i.name).join(', ') || 'none'}).`, 'input_ids');
  }
  return planFeeds(inputs).map(({ name, rule }): FeedSpec => {
    const info = byName.get(name)!;
    switch (rule) {
      case 'token-ids': {
        const type = intType(info);
        return { name, type, dims: [1, T], data: intFeedData(type, ids) };
      }
      case 'ones':
      case 'zeros':
      case 'positions': {
        const type = intType(info);
        const values = Array.from({ length: T }, (_, i) => (rule === 'ones' ? 1 : rule === 'zeros' ? 0 : i));
        return { name, type, dims: [1, T], data: intFeedData(type, values) };
      }
      case 'encoder-ones': {
        const S = opts.encoderHiddenStates?.dims[1];
        if (S === undefined) throw new FeedError(`"${name}" needs the encoder's output length; run the encoder first.`, name);
        const type = intType(info);
        return { name, type, dims: [1, S], data: intFeedData(type, new Array(S).fill(1)) };
      }
      case 'encoder-hidden-states': {
        const h = opts.encoderHiddenStates;
        if (!h) throw new FeedError(`"${name}" needs the encoder's output; run the encoder first.`, name);
        if (info.elemType === ElemType.FLOAT16) return { name, type: 'float16', dims: h.dims, data: float32ToFloat16(h.data) };
        return { name, type: 'float32', dims: h.dims, data: h.data };
      }
      case 'empty-past': {
        const dims = emptyPastDims(info, opts);
        return info.elemType === ElemType.FLOAT16
          ? { name, type: 'float16', dims, data: new Uint16Array(0) }
          : { name, type: 'float32', dims, data: new Float32Array(0) };
      }
      case 'false':
        return { name, type: 'bool', dims: [1], data: new Uint8Array(1) };
    }
  });
}

/** Converts Float32 values to IEEE half-precision bits (round to nearest even). */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    const e = exp - 127 + 15;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | h;
  }
  return out;
}
