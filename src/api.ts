/**
 * The API `activate()` returns. The extension's own tests (inside a real VS Code) use it to observe
 * runs; nothing else depends on it. It only exposes the domain's types (RunSnapshot lives with the run
 * record in host/runs.ts, UserMessage with the notifier). Host-only.
 */
import type { HeadRef } from './shared/protocol';
import type { Attention, AttentionStackKind } from './shared/attention';
import type { RunSnapshot } from './host/runs';
import type { UserMessage } from './host/notify';

export type { RunSnapshot } from './host/runs';
export type { UserMessage } from './host/notify';

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
  /**
   * The whole stack (`kind`, default the run's first: 'self' or 'encoder') of the latest run, asked of the panel's
   * worker head by head. For tests on small models: views never move a whole stack.
   */
  attention(runId: number, kind?: AttentionStackKind): Promise<Attention>;
}
