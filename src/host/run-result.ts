/**
 * Checking what a panel sent back for a run, before the host keeps it: the attention and (encoder–decoder
 * models) the three stacks must match the run's token lists, and what config.json promised (causal or
 * bidirectional) is compared with what the model computed. Pure: no `vscode`, unit-tested in Node.
 */
import { axesOf, unpackAttention, type Attention, type AttentionMessage } from '../shared/attention';
import type { PanelToHost } from '../shared/protocol';
import { MAX_WASM_THREADS } from '../shared/wasm-threads';
import { errorText } from './errors';
import type { RunSnapshot } from './runs';

/** What the user is told to do after a malformed result. */
export const RUN_AGAIN = 'Run "Attention Lens: Show Attention" again';

/** The run fields a checked result fills in, or the message to show instead. */
export type CheckedResult =
  | { readonly patch: Pick<RunSnapshot, 'attention' | 'backendUsed' | 'fallbackReason' | 'threads' | 'timings' | 'stacks'>; readonly attention: Attention }
  | { readonly error: string };

/** Checks a panel's result against the run it answers (its tokens and, for encoder–decoder runs, decoder tokens). */
export function checkResult(run: RunSnapshot, msg: Extract<PanelToHost, { type: 'result' }>): CheckedResult {
  const a = msg.attention;
  let attention: Attention | undefined;
  try {
    attention = unpackAttention(a);
  } catch { /* reported below */ }
  const T = run.tokens.length;
  if (!attention || attention.queries !== T || attention.keys !== T) {
    return { error: `Attention Lens received attention of the wrong shape for ${T} tokens ` +
      `(${a?.layers}×${a?.heads}×${a?.queries}×${a?.keys}). ${RUN_AGAIN}; if it persists, the model may not be supported.` };
  }
  const stacks = checkStacks(msg.stacks, T, run.decoderTokens?.length);
  if (typeof stacks === 'string') return { error: `Attention Lens received malformed encoder–decoder attention (${stacks}). ${RUN_AGAIN}.` };
  return {
    attention,
    patch: { attention, backendUsed: msg.backendUsed, fallbackReason: msg.fallbackReason, timings: { ...run.timings, ...msg.timings },
      ...(wasmThreadsOf(msg) !== undefined ? { threads: wasmThreadsOf(msg) } : {}),
      ...(stacks ? { stacks } : {}) },
  };
}

/** A WASM result's thread count when it is a whole number from 1 to MAX_WASM_THREADS; anything else is dropped. */
function wasmThreadsOf(msg: Extract<PanelToHost, { type: 'result' }>): number | undefined {
  const t: unknown = msg.threads;
  return msg.backendUsed === 'wasm' && typeof t === 'number' && Number.isInteger(t) && t >= 1 && t <= MAX_WASM_THREADS ? t : undefined;
}

/** Checks encoder–decoder stacks from a webview: each well-formed and sized by the token lists its axes name. */
export function checkStacks(stacks: unknown, inputTokens: number, decoderTokenCount?: number): Attention[] | string | undefined {
  if (stacks === undefined) return undefined;
  if (!Array.isArray(stacks)) return 'stacks is not a list';
  const out: Attention[] = [];
  for (const m of stacks as unknown[]) {
    let s: Attention;
    try {
      s = unpackAttention(m as AttentionMessage); // it checks every field
    } catch (e) {
      return errorText(e);
    }
    const { queryAxis, keyAxis } = axesOf(s.kind);
    const axis = (a: string) => (a === 'decoder' ? decoderTokenCount : inputTokens);
    if (s.queries !== axis(queryAxis) || s.keys !== axis(keyAxis)) {
      return `the ${s.kind} stack is ${s.queries}×${s.keys} but the run has ${inputTokens} input and ${decoderTokenCount ?? 0} decoder tokens`;
    }
    out.push(s);
  }
  return out;
}

/** The warning when config.json said causal (or bidirectional) and the model computed the other; undefined when they agree. */
export function expectationWarning(expected: string | undefined, causal: boolean): string | undefined {
  if (expected !== 'causal' && expected !== 'bidirectional') return undefined;
  if ((expected === 'causal') === causal) return undefined;
  return `The model's config.json describes ${expected} attention, but the attention it computed is ` +
    `${causal ? 'causal (nothing above the diagonal)' : 'bidirectional (weights above the diagonal)'}. The panel shows what the model ` +
    'computed; check that config.json belongs to this ONNX file.';
}
