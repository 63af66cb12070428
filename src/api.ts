/**
 * The API `activate()` returns. The extension's own tests (inside a real VS Code) use it to observe
 * runs; nothing else depends on it. Host-only.
 */
import type { BackendUsed, HeadRef, TokenInfo, Timings } from './shared/protocol';

/** What one Show Attention run produced, as the host saw it. */
export interface RunSnapshot {
  readonly runId: number;
  readonly documentUri: string;
  /** Document offset (UTF-16) of the first character of `text`. */
  readonly documentOffset: number;
  readonly text: string;
  readonly tokens: readonly TokenInfo[];
  readonly notices: readonly string[];
  readonly timings: Timings;
  /** Present once the webview has returned a result. */
  readonly attention?: {
    readonly layers: number;
    readonly heads: number;
    readonly tokens: number;
    /** Float32 [layers, heads, T, T]. */
    readonly data: Float32Array;
    readonly causal: boolean;
  };
  /** Encoder–decoder models: the decoder's tokens (start token, then the input shifted right). */
  readonly decoderTokens?: readonly TokenInfo[];
  /** Encoder–decoder models: encoder, decoder and cross stacks, Float32 [layers, heads, queries, keys]. */
  readonly stacks?: readonly {
    readonly kind: 'encoder' | 'decoder' | 'cross' | 'self';
    readonly layers: number;
    readonly heads: number;
    readonly queries: number;
    readonly keys: number;
    readonly causal: boolean;
    readonly data: Float32Array;
  }[];
  readonly backendUsed?: BackendUsed;
  readonly fallbackReason?: string;
  /** Set when the run failed; the message the user saw. */
  readonly error?: string;
  /** True once the document changed after the run. */
  readonly stale: boolean;
}

/** A message the extension showed to the user. */
export interface UserMessage {
  readonly kind: 'info' | 'warning' | 'error';
  readonly text: string;
}

/** The object `activate()` resolves to. */
export interface AttentionLensApi {
  /** The latest run, or undefined before the first. */
  lastRun(): RunSnapshot | undefined;
  /** Resolves when run `runId` (or, without it, the next run) has a result or an error. */
  waitForRun(runId?: number): Promise<RunSnapshot>;
  /** Every message shown to the user so far, oldest first. */
  messages(): readonly UserMessage[];
  /** The token focused in the panel and the head shown, as last reported by the webview. */
  focus(): { tokenIndex: number | null; head: HeadRef } | undefined;
  /** Heads pinned in the compare view. */
  pinnedHeads(): readonly HeadRef[];
}
