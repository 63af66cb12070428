/**
 * The terms a graph adds to an attention layer's scores between the q·k MatMul and the Softmax (score-tap.ts
 * ScoreSources.biases), read as one per-head, per-key bias [heads, S]: BLOOM's ALiBi ([heads, 1, S], baddbmm's input:
 * slope_h × key position), an additive padding mask ([1, 1, 1, S]). Each term must be the same for every query (its
 * query axis 1); a term that varies by query (a relative position bias [heads, T, S]) is a reason, not a bias.
 * Pure: no `vscode`, no DOM.
 */

import { isMaskedScore } from './weight-explain';

/** A fetched float tensor, by name. */
interface Term { readonly name: string; readonly dims: readonly number[]; readonly data: Float32Array }

/** What a layer adds to its scores per head and key, and the terms (by name) it sums; no terms: nothing is added. */
export interface KeyBias { readonly bias: Float32Array; readonly names: readonly string[] }

/** A term that only masks (every value 0, or a masked score's −∞ or large negative fill): the mask check's business, not a bias. */
const onlyMasks = (t: Term): boolean => t.data.every((v) => v === 0 || isMaskedScore(v));

/**
 * The sum of `terms` as [heads, keys] (row h: what head h's score of each key gets, for every query), leaving out terms
 * that only mask; or why they are not per-key terms: each must broadcast as [.., heads or 1, 1, keys] with every axis
 * before the heads 1.
 */
export function keyBias(terms: readonly Term[], heads: number, keys: number): KeyBias | string {
  const bias = new Float32Array(heads * keys);
  const names: string[] = [];
  for (const term of terms) {
    if (onlyMasks(term)) continue;
    const dims = [...term.dims];
    while (dims.length > 3 && dims[0] === 1) dims.shift();
    while (dims.length < 3) dims.unshift(1);
    const [h, q, s] = dims;
    if (dims.length !== 3 || q !== 1 || s !== keys || (h !== heads && h !== 1) || term.data.length !== h * s) {
      return `${term.name}, added to its scores, is [${term.dims.join(', ')}], not one bias per head and key ([${heads}, 1, ${keys}]) the same for every query`;
    }
    for (let k = 0; k < heads; k++) {
      const from = h === 1 ? 0 : k * s;
      for (let j = 0; j < s; j++) bias[k * keys + j] += term.data[from + j];
    }
    names.push(term.name);
  }
  return { bias, names };
}
