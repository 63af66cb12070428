/**
 * Attention stacks of encoder–decoder models: encoder self-attention (input × input), decoder
 * self-attention (decoder × decoder, causal) and cross-attention (decoder × input), as the panel lets the
 * user pick between them (HeadRef.stack). Also how the decoder is fed: the input tokens shifted right
 * behind the decoder start token (teacher forcing), so decoder position i+1 stands for input token i.
 * Pure: no onnxruntime, no vscode, no DOM.
 */
import type { CollectedAttention } from './onnx-tap';
import type { AttentionStackKind, TokenInfo } from './protocol';

/** Which token list indexes an axis: the selection's tokens, or the decoder's tokens. */
export type TokenAxis = 'input' | 'decoder';

/** One stack as it travels by postMessage: Float32 [layers, heads, queries, keys] in a transferable buffer. */
export interface AttentionStack {
  readonly kind: AttentionStackKind;
  readonly layers: number;
  readonly heads: number;
  readonly queries: number;
  readonly keys: number;
  readonly queryAxis: TokenAxis;
  readonly keyAxis: TokenAxis;
  readonly causal: boolean;
  /** Float32Array buffer, length layers*heads*queries*keys. */
  readonly data: ArrayBuffer;
}

/** Packs a collected stack (copying only when its data is a view of a larger buffer). */
export function packStack(kind: AttentionStackKind, a: CollectedAttention): AttentionStack {
  const d = a.data;
  const data = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && d.buffer instanceof ArrayBuffer ? d.buffer : d.slice().buffer;
  const queryAxis: TokenAxis = kind === 'decoder' || kind === 'cross' ? 'decoder' : 'input';
  const keyAxis: TokenAxis = kind === 'decoder' ? 'decoder' : 'input';
  return { kind, layers: a.layers, heads: a.heads, queries: a.tokens, keys: a.keys, queryAxis, keyAxis, causal: a.causal, data: data as ArrayBuffer };
}

/** Checks a stack that arrived by postMessage and returns its Float32 view; throws on a malformed one. */
export function unpackStack(s: AttentionStack): Float32Array {
  const dims = [s.layers, s.heads, s.queries, s.keys];
  if (!dims.every((d) => Number.isInteger(d) && d > 0) || !(s.data instanceof ArrayBuffer)) {
    throw new TypeError(`malformed attention stack: ${JSON.stringify(dims)}`);
  }
  const view = new Float32Array(s.data);
  if (view.length !== dims.reduce((a, b) => a * b, 1)) {
    throw new RangeError(`attention stack "${s.kind}" has ${view.length} values, expected ${dims.join('×')}`);
  }
  return view;
}

/** The decoder's input ids: the start token, then the input ids shifted right (the last one dropped). */
export function decoderInputIds(inputIds: readonly number[], startId: number): number[] {
  return [startId, ...inputIds.slice(0, Math.max(0, inputIds.length - 1))];
}

/** Decoder tokens for the panel: the start token (no range), then the input tokens they repeat. */
export function decoderTokens(tokens: readonly TokenInfo[], startId: number, startText = '<start>'): TokenInfo[] {
  return [{ id: startId, text: startText, start: -1, end: -1 }, ...tokens.slice(0, Math.max(0, tokens.length - 1))];
}

/** One layer/head matrix [queries, keys] of a stack (head 'mean' averages the layer's heads). */
export function stackMatrix(s: AttentionStack, data: Float32Array, layer: number, head: number | 'mean'): Float32Array {
  const size = s.queries * s.keys;
  const base = layer * s.heads * size;
  if (head !== 'mean') return data.slice(base + head * size, base + (head + 1) * size);
  const out = new Float32Array(size);
  for (let h = 0; h < s.heads; h++) for (let i = 0; i < size; i++) out[i] += data[base + h * size + i];
  for (let i = 0; i < size; i++) out[i] /= s.heads;
  return out;
}
