/**
 * Reading a fused attention node's tapped inputs the way its operator does: com.microsoft Attention (packed
 * input projection, mask_index, past), MultiHeadAttention (separate, packed QKV or packed KV, bias, key
 * padding mask, attention_bias, past), GroupQueryAttention (grouped kv heads, packed QKV, rotary caches,
 * seqlens_k, local window, softcap, attention_bias) and ONNX Attention (3-D or 4-D, bool or additive
 * attn_mask, is_causal, softcap, past, nonpad_kv_seqlen), for batch 1. `recomputeLayer` turns them into an
 * AttentionProblem (fused-attention.ts), its probabilities, and how far P·V lies from the operator's output.
 * Pure: no onnxruntime, no vscode, no DOM.
 */
import { applyRotary, attentionProbabilities, concatRows, weightedValues, type AttentionProblem, type HeadMatrices } from './fused-attention';
import type { FusedSource } from './fused-plan';
import { bnsh, broadcast, f32, FusedAttentionError, maskBias, splitHeads, unpack, type Fetched } from './fused-tensors';

export { FusedAttentionError, type Fetched } from './fused-tensors';

/**
 * One recomputed layer: probabilities [heads, queries, keys] and max |P·V − the operator's output| over the unpadded query
 * rows (at most CHECKED_ROWS of them per head, spread evenly: the check costs as much as the recomputation per row).
 */
export interface RecomputedLayer {
  readonly probs: Float32Array;
  readonly heads: number;
  readonly queries: number;
  readonly keys: number;
  readonly outputError: number;
  /** Largest |value| of the operator's output (to judge `outputError`). */
  readonly outputScale: number;
}

/** A number attribute of the node, or `fallback`. */
function attr(src: FusedSource, name: string, fallback: number): number {
  const v = src.attributes[name];
  return typeof v === 'number' ? v : fallback;
}

/** Recomputes one fused node's probabilities from its fetched inputs (`get` returns undefined for a name it does not hold). */
export function recomputeLayer(src: FusedSource, get: (name: string) => Fetched | undefined): RecomputedLayer {
  const { problem, v, output } = layerParts(src, get);
  const probs = attentionProbabilities(problem);
  const Hq = problem.q.heads;
  const S = problem.q.rows;
  // Query rows of padding tokens (at or past validKeys) are left out: operators fill them their own way, and no run feeds padding.
  const real = problem.validKeys === undefined ? S : Math.max(0, Math.min(S, problem.validKeys - problem.past));
  const rows = checkedRows(real);
  const y = weightedValues(probs, v, Hq, S, rows);
  // The operator's output: [1, S, Hq·dv], or [1, Hq, S, dv] for ONNX Attention on 4-D inputs.
  const Y = get(src.output);
  if (!Y) throw new FusedAttentionError(`the output of ${src.op} "${src.node}" was not fetched`);
  const dv = v.size;
  let err = 0;
  let scale = 0;
  for (let h = 0; h < Hq; h++) {
    for (const i of rows) {
      for (let c = 0; c < dv; c++) {
        const ref = output === 'bnsh' ? Y.data[(h * S + i) * dv + c] : Y.data[(i * Hq + h) * dv + c];
        err = Math.max(err, Math.abs(ref - y[(h * S + i) * dv + c]));
        scale = Math.max(scale, Math.abs(ref));
      }
    }
  }
  return { probs, heads: Hq, queries: S, keys: problem.k.rows, outputError: err, outputScale: scale };
}

/** Most query rows per head whose P·V is checked against the operator's output: all up to this, else this many spread evenly. */
export const CHECKED_ROWS = 128;

/** The query rows checked among the first `n`: all, or CHECKED_ROWS spread evenly from the first to the last. */
export function checkedRows(n: number): number[] {
  if (n <= CHECKED_ROWS) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: CHECKED_ROWS }, (_, k) => Math.round((k * (n - 1)) / (CHECKED_ROWS - 1)));
}

type Input = (i: number) => Fetched | undefined;
type Need = (i: number, what: string) => Fetched;

/** A fused node read: its attention problem (Q after rotary, K and V with the past), and how its output is laid out. */
export interface LayerParts { readonly problem: AttentionProblem; readonly v: HeadMatrices; readonly output: 'bsd' | 'bnsh' }
type Parts = LayerParts;

/** Reads one fused node's fetched inputs the way its operator does. */
export function layerParts(src: FusedSource, get: (name: string) => Fetched | undefined): LayerParts {
  const input = (i: number): Fetched | undefined => (src.inputs[i] ? get(src.inputs[i]) : undefined);
  const need = (i: number, what: string): Fetched => {
    const t = input(i);
    if (!t) throw new FusedAttentionError(`the ${what} input of ${src.op} "${src.node}" was not fetched`);
    return t;
  };
  return problemOf(src, input, need);
}

function problemOf(src: FusedSource, input: Input, need: Need): Parts {
  if (src.op === 'GroupQueryAttention') return groupQuery(src, input, need);
  if (src.op === 'MultiHeadAttention') return multiHead(src, input, need);
  if (src.op === 'com.microsoft.Attention') return packedProjection(src, input, need);
  return onnxAttention(src, input, need);
}

function groupQuery(src: FusedSource, input: Input, need: Need): Parts {
  const Hq = attr(src, 'num_heads', 0);
  const Hkv = attr(src, 'kv_num_heads', 0);
  if (!(Hq > 0 && Hkv > 0)) throw new FusedAttentionError(`GroupQueryAttention "${src.node}" lacks num_heads or kv_num_heads`);
  if (attr(src, 'smooth_softmax', 0) || input(11)) {
    throw new FusedAttentionError(`GroupQueryAttention "${src.node}" uses smooth softmax or head sinks, whose rows do not sum to 1; not supported yet`);
  }
  const query = need(0, 'query');
  const packed = !src.inputs[1];
  const d = query.dims[2] / (packed ? Hq + 2 * Hkv : Hq);
  if (!Number.isInteger(d)) throw new FusedAttentionError(`GroupQueryAttention "${src.node}": hidden size ${query.dims[2]} does not split into heads`);
  const q = splitHeads(query, 0, Hq, d);
  let k = packed ? splitHeads(query, Hq * d, Hkv, d) : splitHeads(need(1, 'key'), 0, Hkv, d);
  let v = packed ? splitHeads(query, (Hq + Hkv) * d, Hkv, d) : splitHeads(need(2, 'value'), 0, Hkv, d);
  const pastK = input(3);
  const past = pastK ? pastK.dims[2] : 0;
  const S = q.rows;
  if (attr(src, 'do_rotary', 0) === 1) {
    const cos = need(7, 'cos_cache');
    const sin = need(8, 'sin_cache');
    const ids = input(9);
    const positions = Array.from({ length: S }, (_, i) => (ids ? Number(ids.data[i]) : past + i));
    const interleaved = attr(src, 'rotary_interleaved', 0) === 1;
    applyRotary(q, f32(cos.data), f32(sin.data), cos.dims[1], positions, interleaved);
    applyRotary(k, f32(cos.data), f32(sin.data), cos.dims[1], positions, interleaved);
  }
  k = concatRows(pastK && bnsh(pastK), k);
  v = concatRows(input(4) && bnsh(input(4)!), v);
  const seqlens = input(5);
  const bias = input(10);
  return {
    problem: {
      q, k, past, causal: true, scale: attr(src, 'scale', 0) || 1 / Math.sqrt(d), softcap: attr(src, 'softcap', 0),
      window: attr(src, 'local_window_size', -1), validKeys: seqlens ? Number(seqlens.data[0]) + 1 : undefined,
      bias: bias && broadcast(bias, Hq, S, k.rows),
    },
    v, output: 'bsd',
  };
}

function multiHead(src: FusedSource, input: Input, need: Need): Parts {
  const H = attr(src, 'num_heads', 0);
  if (!(H > 0)) throw new FusedAttentionError(`MultiHeadAttention "${src.node}" lacks num_heads`);
  const query = need(0, 'query');
  const bias = input(3);
  let q: HeadMatrices;
  let k: HeadMatrices;
  let v: HeadMatrices;
  if (query.dims.length === 5) { // packed QKV [1, S, N, 3, d]
    [q, k, v] = [unpack(query, 0), unpack(query, 1), unpack(query, 2)];
  } else {
    const D = query.dims[2];
    q = splitHeads(query, 0, H, D / H, bias?.data, 0);
    const key = need(1, 'key');
    if (key.dims.length === 5) [k, v] = [unpack(key, 0), unpack(key, 1)];
    else if (key.dims.length === 4) [k, v] = [bnsh(key), bnsh(need(2, 'value'))];
    else {
      const value = need(2, 'value');
      k = splitHeads(key, 0, H, key.dims[2] / H, bias?.data, D);
      v = splitHeads(value, 0, H, value.dims[2] / H, bias?.data, D + key.dims[2]);
    }
  }
  const pastK = input(6);
  const past = pastK && input(1)?.dims.length !== 4 ? pastK.dims[2] : 0; // a 4-D key is the whole (cross-attention) cache
  if (past) { k = concatRows(bnsh(pastK!), k); v = concatRows(bnsh(need(7, 'past_value')), v); }
  const fill = attr(src, 'mask_filter_value', -10000);
  return {
    problem: {
      q, k, past, causal: attr(src, 'unidirectional', 0) === 1, scale: attr(src, 'scale', 0) || 1 / Math.sqrt(q.size),
      causalFill: fill, ...paddingRules(input(4), input(5), H, q.rows, k.rows, fill, src),
    },
    v, output: 'bsd',
  };
}

/** key_padding_mask / mask_index and attention_bias as validKeys and a bias function (mask_filter_value where masked). */
function paddingRules(mask: Fetched | undefined, extra: Fetched | undefined, H: number, S: number, T: number, fill: number, src: FusedSource):
  Pick<AttentionProblem, 'validKeys' | 'bias'> {
  const parts: ((h: number, i: number, j: number) => number)[] = [];
  let validKeys: number | undefined;
  if (mask) {
    const n = mask.dims.length;
    if (n === 1 && mask.dims[0] === 1) validKeys = Number(mask.data[0]);
    else if (n === 1 && mask.dims[0] === 2) { // end and start positions
      const end = Number(mask.data[0]);
      const start = Number(mask.data[1]);
      parts.push((_h, _i, j) => (j < start || j >= end ? fill : 0));
    } else if (n === 2 || n === 3) {
      const keep = broadcast(mask, H, S, T);
      parts.push((h, i, j) => (keep(h, i, j) ? 0 : fill));
    } else if (n === 4 && mask.dims[1] === 1) { // [1, 1, max, max] (Megatron): rows at past + i
      const M = mask.dims[3];
      parts.push((_h, i, j) => (mask.data[(T - S + i) * M + j] ? 0 : fill));
    } else throw new FusedAttentionError(`${src.op} "${src.node}": a mask shaped [${mask.dims.join(', ')}] is not supported`);
  }
  if (extra) parts.push(broadcast(extra, H, S, T));
  if (parts.length === 0) return { validKeys };
  return { validKeys, bias: (h, i, j) => parts.reduce((s, p) => s + p(h, i, j), 0) };
}

function packedProjection(src: FusedSource, input: Input, need: Need): Parts {
  const H = attr(src, 'num_heads', 0);
  if (!(H > 0)) throw new FusedAttentionError(`Attention "${src.node}" lacks num_heads`);
  if (attr(src, 'do_rotary', 0)) throw new FusedAttentionError(`com.microsoft Attention "${src.node}" applies rotary itself (do_rotary); not supported yet`);
  const x = need(0, 'input');
  const w = need(1, 'weights');
  const b = input(2);
  const [Din, W] = w.dims;
  const sizes = src.attributes.qkv_hidden_sizes;
  const [Dq, Dk, Dv]: readonly number[] = typeof sizes === 'object' && sizes.length === 3 ? sizes : [W / 3, W / 3, W / 3];
  // x·W + b for the Q, K and V columns, as [1, S, W].
  const S = x.dims[1];
  const proj = new Float32Array(S * W);
  for (let i = 0; i < S; i++) {
    for (let c = 0; c < W; c++) {
      let s = b ? Number(b.data[c]) : 0;
      for (let r = 0; r < Din; r++) s += x.data[i * Din + r] * w.data[r * W + c];
      proj[i * W + c] = s;
    }
  }
  const all: Fetched = { dims: [1, S, W], data: proj, type: 'float32' };
  const q = splitHeads(all, 0, H, Dq / H);
  let k = splitHeads(all, Dq, H, Dk / H);
  let v = splitHeads(all, Dq + Dk, H, Dv / H);
  const pastKV = input(4); // [2, 1, H, P, d]
  const past = pastKV ? pastKV.dims[3] : 0;
  if (pastKV && past > 0) {
    const half = pastKV.data.length / 2;
    const part = (o: number): HeadMatrices => ({ heads: H, rows: past, size: pastKV.dims[4], data: f32(Array.prototype.slice.call(pastKV.data, o, o + half)) });
    k = concatRows(part(0), k);
    v = concatRows(part(half), v);
  }
  const fill = attr(src, 'mask_filter_value', -10000);
  return {
    problem: {
      q, k, past, causal: attr(src, 'unidirectional', 0) === 1, scale: attr(src, 'scale', 0) || 1 / Math.sqrt(q.size),
      causalFill: fill, ...paddingRules(input(3), input(5), H, S, k.rows, fill, src),
    },
    v, output: 'bsd',
  };
}

function onnxAttention(src: FusedSource, input: Input, need: Need): Parts {
  const Q = need(0, 'Q');
  const K = need(1, 'K');
  const V = need(2, 'V');
  const threeD = Q.dims.length === 3;
  let q: HeadMatrices;
  let k: HeadMatrices;
  let v: HeadMatrices;
  if (threeD) {
    const Hq = attr(src, 'q_num_heads', 0);
    const Hkv = attr(src, 'kv_num_heads', 0);
    if (!(Hq > 0 && Hkv > 0)) throw new FusedAttentionError(`Attention "${src.node}" has 3-D inputs but no q_num_heads / kv_num_heads`);
    q = splitHeads(Q, 0, Hq, Q.dims[2] / Hq);
    k = splitHeads(K, 0, Hkv, K.dims[2] / Hkv);
    v = splitHeads(V, 0, Hkv, V.dims[2] / Hkv);
  } else [q, k, v] = [bnsh(Q), bnsh(K), bnsh(V)];
  const pastK = input(4);
  const past = pastK ? pastK.dims[2] : 0;
  k = concatRows(pastK && bnsh(pastK), k);
  v = concatRows(input(5) && bnsh(input(5)!), v);
  const mask = input(3);
  const nonpad = input(6);
  return {
    problem: {
      q, k, past, causal: attr(src, 'is_causal', 0) === 1, scale: attr(src, 'scale', 0) || 1 / Math.sqrt(q.size),
      softcap: attr(src, 'softcap', 0), validKeys: nonpad ? Number(nonpad.data[0]) : undefined,
      bias: mask && maskBias(mask, q.heads, q.rows, k.rows),
    },
    v, output: threeD ? 'bsd' : 'bnsh',
  };
}
