/**
 * How an encoder–decoder model's decoder is fed: the input tokens shifted right behind the decoder start
 * token (teacher forcing), so decoder position i+1 stands for input token i. Its three stacks (encoder,
 * decoder and cross-attention) are Attention values of those kinds (attention.ts).
 * Pure: no onnxruntime, no vscode, no DOM.
 */
import type { TokenInfo } from './protocol';

/** The decoder's input ids: the start token, then the input ids shifted right (the last one dropped). */
export function decoderInputIds(inputIds: readonly number[], startId: number): number[] {
  return [startId, ...inputIds.slice(0, Math.max(0, inputIds.length - 1))];
}

/** Decoder tokens for the panel: the start token (no range), then the input tokens they repeat. */
export function decoderTokens(tokens: readonly TokenInfo[], startId: number, startText = '<start>'): TokenInfo[] {
  return [{ id: startId, text: startText, start: -1, end: -1 }, ...tokens.slice(0, Math.max(0, tokens.length - 1))];
}
