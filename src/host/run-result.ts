/**
 * Checking what a panel sent back for a run, before the host keeps it: the attention and (encoder–decoder
 * models) the three stacks must match the run's token lists, and what config.json promised (causal or
 * bidirectional) is compared with what the model computed. Pure: no `vscode`, unit-tested in Node.
 */
import { axesOf, type AttentionStackKind } from '../shared/attention';
import type { StackShape } from '../shared/attention-query';
import type { PanelToHost } from '../shared/protocol';
import { MAX_WASM_THREADS } from '../shared/wasm-threads';
import type { RunSnapshot } from './runs';

/** What the user is told to do after a malformed result. */
export const RUN_AGAIN = 'Run "Attention Lens: Show Attention" again';

/** The run fields a checked result fills in, or the message to show instead. */
export type CheckedResult =
  | { readonly patch: Pick<RunSnapshot, 'shapes' | 'backendUsed' | 'fallbackReason' | 'threads' | 'timings'>; readonly main: StackShape }
  | { readonly error: string };

const KINDS: readonly AttentionStackKind[] = ['self', 'encoder', 'decoder', 'cross'];

/**
 * Checks a panel's result against the run it answers: one 'self' stack over the run's tokens, or (encoder–decoder
 * runs) encoder, decoder and cross stacks sized by the token lists their axes name.
 */
export function checkResult(run: RunSnapshot, msg: Extract<PanelToHost, { type: 'result' }>): CheckedResult {
  const shapes = checkShapes(msg.shapes, run.tokens.length, run.decoderTokens?.length);
  if (typeof shapes === 'string') {
    return { error: `Attention Lens received attention of the wrong shape (${shapes}). ${RUN_AGAIN}; if it persists, the model may not be supported.` };
  }
  return {
    main: shapes[0],
    patch: { shapes, backendUsed: msg.backendUsed, fallbackReason: msg.fallbackReason, timings: { ...run.timings, ...msg.timings },
      ...(wasmThreadsOf(msg) !== undefined ? { threads: wasmThreadsOf(msg) } : {}) },
  };
}

/** A WASM result's thread count when it is a whole number from 1 to MAX_WASM_THREADS; anything else is dropped. */
function wasmThreadsOf(msg: Extract<PanelToHost, { type: 'result' }>): number | undefined {
  const t: unknown = msg.threads;
  return msg.backendUsed === 'wasm' && typeof t === 'number' && Number.isInteger(t) && t >= 1 && t <= MAX_WASM_THREADS ? t : undefined;
}

/** Checks stack shapes from a webview: well formed, the main stack ('self' or 'encoder') first, each sized by its axes' tokens. */
export function checkShapes(shapes: unknown, inputTokens: number, decoderTokenCount?: number): StackShape[] | string {
  if (!Array.isArray(shapes) || shapes.length === 0) return 'no stacks';
  const out: StackShape[] = [];
  for (const x of shapes as unknown[]) {
    const s = x as Partial<Record<keyof StackShape, unknown>> | null;
    if (typeof s !== 'object' || s === null || !KINDS.includes(s.kind as AttentionStackKind)) return 'a stack of unknown kind';
    const dims = [s.layers, s.heads, s.queries, s.keys];
    if (!dims.every((d) => Number.isInteger(d) && (d as number) > 0) || typeof s.causal !== 'boolean') return `a malformed ${String(s.kind)} stack`;
    const shape = s as StackShape;
    const { queryAxis, keyAxis } = axesOf(shape.kind);
    const axis = (a: string) => (a === 'decoder' ? decoderTokenCount : inputTokens);
    if (shape.queries !== axis(queryAxis) || shape.keys !== axis(keyAxis)) {
      return `the ${shape.kind} stack is ${shape.queries}×${shape.keys} but the run has ${inputTokens} input and ${decoderTokenCount ?? 0} decoder tokens`;
    }
    out.push({ kind: shape.kind, layers: shape.layers, heads: shape.heads, queries: shape.queries, keys: shape.keys, causal: shape.causal });
  }
  if (out[0].kind !== 'self' && out[0].kind !== 'encoder') return 'the first stack is not the input\'s self-attention';
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
