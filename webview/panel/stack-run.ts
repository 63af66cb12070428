/**
 * The panel's view of an encoder–decoder result: one RunData per attention stack, with the token lists
 * of its axes. Encoder self-attention runs over the input tokens, decoder self-attention over the decoder
 * tokens (causal), and cross-attention has decoder tokens as rows (queries) and input tokens as columns
 * (keys), so its matrices are T_dec × T_enc.
 */
import { stackMatrix, unpackStack, type AttentionStack } from '../../src/shared/stacks';
import type { StackDims } from '../../src/shared/colors';
import type { HeadMetricValues } from '../../src/shared/head-labels';
import type { AttentionStackKind, TokenInfo } from '../../src/shared/protocol';
import { tokenLabel, type TokenLabel } from '../common/token-text';
import { RunData, type HeadChoice } from './state';

/** The stacks in the order the picker lists them. */
export const STACK_ORDER: readonly AttentionStackKind[] = ['encoder', 'decoder', 'cross'];

/** Cross-attention: rows are the decoder tokens (`tokens`), columns the input tokens (`keyTokens`). */
export class CrossRunData extends RunData {
  private readonly keyLabelList: readonly TokenLabel[];
  private readonly cache = new Map<string, Float32Array>();

  constructor(runId: number, text: string, queryTokens: readonly TokenInfo[], readonly keyTokens: readonly TokenInfo[],
    attention: Float32Array, dims: StackDims, private readonly stack: AttentionStack) {
    super(runId, text, queryTokens, attention, dims, false);
    this.keyLabelList = keyTokens.map((t) => tokenLabel(t, text));
  }

  /** Number of input (key) tokens. */
  override get K(): number {
    return this.keyTokens.length;
  }

  /** Labels of the input (key) tokens. */
  override get keyLabels(): readonly TokenLabel[] {
    return this.keyLabelList;
  }

  /** The [T_dec, T_enc] matrix of a head, or the mean / max over the layer's heads; rollout has no cross form. */
  override matrix(layer: number, head: HeadChoice): Float32Array | undefined {
    if (!this.attention || head === 'rollout') return undefined;
    const how = head === 'all' ? 'mean' : head;
    const key = `${how}|${layer}`;
    let m = this.cache.get(key);
    if (!m) {
      m = how === 'max' ? this.maxOverHeads(layer) : stackMatrix(this.stack, this.attention, layer, how);
      this.cache.set(key, m);
    }
    return m;
  }

  private maxOverHeads(layer: number): Float32Array {
    const s = this.stack;
    const size = s.queries * s.keys;
    const out = new Float32Array(size);
    for (let h = 0; h < s.heads; h++) {
      const base = (layer * s.heads + h) * size;
      for (let k = 0; k < size; k++) if (h === 0 || this.attention![base + k] > out[k]) out[k] = this.attention![base + k];
    }
    return out;
  }

  /** Head metrics are defined on square self-attention only. */
  override metrics(): HeadMetricValues[] {
    return [];
  }
}

/** One RunData per stack of a result, keyed by kind; throws on a malformed stack. */
export function stackRuns(runId: number, text: string, tokens: readonly TokenInfo[], decoderTokens: readonly TokenInfo[],
  stacks: readonly AttentionStack[]): Map<AttentionStackKind, RunData> {
  const out = new Map<AttentionStackKind, RunData>();
  for (const s of stacks) {
    const data = unpackStack(s);
    const dims: StackDims = { layers: s.layers, heads: s.heads, tokens: s.queries };
    const rows = s.queryAxis === 'decoder' ? decoderTokens : tokens;
    const cols = s.keyAxis === 'decoder' ? decoderTokens : tokens;
    if (rows.length !== s.queries || cols.length !== s.keys) {
      throw new Error(`The ${s.kind} attention is ${s.queries}×${s.keys}, but there are ${rows.length}×${cols.length} tokens.`);
    }
    out.set(s.kind, s.kind === 'cross'
      ? new CrossRunData(runId, text, rows, cols, data, dims, s)
      : new RunData(runId, text, rows, data, dims, s.kind === 'decoder' && s.causal));
  }
  return out;
}
