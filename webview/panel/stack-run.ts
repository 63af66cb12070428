/**
 * The panel's view of an encoder–decoder result: one RunData per attention stack, with the token lists
 * of its axes. Encoder self-attention runs over the input tokens, decoder self-attention over the decoder
 * tokens (causal), and cross-attention has decoder tokens as rows (queries) and input tokens as columns
 * (keys), so its matrices are T_dec × T_enc.
 */
import { axesOf } from '../../src/shared/attention';
import type { StackShape } from '../../src/shared/attention-query';
import type { HeadMetricValues } from '../../src/shared/head-labels';
import type { AttentionStackKind, TokenInfo } from '../../src/shared/protocol';
import { tokenLabel, type TokenLabel } from '../common/token-text';
import { RunData, type AttentionSource } from './state';

/** The stacks in the order the picker lists them. */
export const STACK_ORDER: readonly AttentionStackKind[] = ['encoder', 'decoder', 'cross'];

/** Cross-attention: rows are the decoder tokens (`tokens`), columns the input tokens (`keyTokens`). */
export class CrossRunData extends RunData {
  private readonly keyLabelList: readonly TokenLabel[];

  constructor(runId: number, text: string, queryTokens: readonly TokenInfo[], readonly keyTokens: readonly TokenInfo[], shape: StackShape,
    source?: AttentionSource) {
    super(runId, text, queryTokens, shape, source);
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

  /** Head metrics are defined on square self-attention only. */
  override metrics(): HeadMetricValues[] {
    return [];
  }
}

/** One RunData per stack of a result, keyed by kind; throws when a stack does not fit its token lists. */
export function stackRuns(runId: number, text: string, tokens: readonly TokenInfo[], decoderTokens: readonly TokenInfo[],
  shapes: readonly StackShape[], source?: AttentionSource): Map<AttentionStackKind, RunData> {
  const out = new Map<AttentionStackKind, RunData>();
  for (const s of shapes) {
    const { queryAxis, keyAxis } = axesOf(s.kind);
    const rows = queryAxis === 'decoder' ? decoderTokens : tokens;
    const cols = keyAxis === 'decoder' ? decoderTokens : tokens;
    if (rows.length !== s.queries || cols.length !== s.keys) {
      throw new Error(`The ${s.kind} attention is ${s.queries}×${s.keys}, but there are ${rows.length}×${cols.length} tokens.`);
    }
    out.set(s.kind, s.kind === 'cross' ? new CrossRunData(runId, text, rows, cols, s, source) : new RunData(runId, text, rows, s, source));
  }
  return out;
}
