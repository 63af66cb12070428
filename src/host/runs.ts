/**
 * The record of Show Attention runs: immutable snapshots by run id, the latest run, and promises that
 * wait for a run to finish (result or error). Pure: no `vscode`, so the waiting rules are unit-tested.
 */
import type { StackShape } from '../shared/attention-query';
import type { BackendUsed, TokenInfo, Timings } from '../shared/protocol';

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
  /**
   * Present once the webview has returned a result: the shape of each attention stack ('self', or encoder,
   * decoder and cross). The panel's worker keeps the data; ask for rows and matrices with AttentionAsker.
   */
  readonly shapes?: readonly StackShape[];
  /** Encoder–decoder models: the decoder's tokens (start token, then the input shifted right). */
  readonly decoderTokens?: readonly TokenInfo[];
  readonly backendUsed?: BackendUsed;
  readonly fallbackReason?: string;
  /** WASM runs: the WebAssembly threads onnxruntime ran with in the panel. */
  readonly threads?: number;
  /** Set when the run failed; the message the user saw. */
  readonly error?: string;
  /** True once the document changed after the run. */
  readonly stale: boolean;
}

/** How many finished runs are kept for `get`/`waitFor`. */
const KEEP_RUNS = 20;

/** A run is finished once it has a result or an error. */
export function isFinished(run: RunSnapshot): boolean {
  return run.shapes !== undefined || run.error !== undefined;
}

interface Waiter {
  /** A specific run, or undefined for "the latest pending run, else the next run started". */
  readonly runId?: number;
  /** For runId-less waiters: runs with an id below this started before the wait and do not count. */
  readonly minRunId: number;
  readonly resolve: (run: RunSnapshot) => void;
  readonly reject: (e: Error) => void;
}

/** Stores run snapshots and resolves waiters when runs finish. */
export class RunStore {
  private readonly runs = new Map<number, RunSnapshot>();
  private nextId = 1;
  private latestId: number | undefined;
  private waiters: Waiter[] = [];

  /** Starts a run: assigns the next run id and records the snapshot. Pending older runs are cancelled. */
  begin(fields: Omit<RunSnapshot, 'runId' | 'stale'>): RunSnapshot {
    const runId = this.nextId++;
    for (const run of this.runs.values()) {
      if (!isFinished(run)) this.put({ ...run, error: `Cancelled: run ${runId} replaced it before it finished.` });
    }
    const run: RunSnapshot = { ...fields, runId, stale: false };
    this.latestId = runId;
    this.put(run);
    for (const id of [...this.runs.keys()].sort((a, b) => a - b).slice(0, Math.max(0, this.runs.size - KEEP_RUNS))) {
      this.runs.delete(id);
    }
    return run;
  }

  /** Replaces fields of run `runId`; returns the new snapshot, or undefined if the run is unknown. */
  update(runId: number, patch: Partial<Omit<RunSnapshot, 'runId'>>): RunSnapshot | undefined {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    const next: RunSnapshot = { ...run, ...patch, runId };
    this.put(next);
    return next;
  }

  /** The snapshot of run `runId`, if still kept. */
  get(runId: number): RunSnapshot | undefined {
    return this.runs.get(runId);
  }

  /** The most recently started run. */
  latest(): RunSnapshot | undefined {
    return this.latestId === undefined ? undefined : this.runs.get(this.latestId);
  }

  /**
   * Resolves when run `runId` is finished. Without an id: when the latest run finishes if it is still
   * pending, otherwise when the next run started after this call finishes.
   */
  waitFor(runId?: number): Promise<RunSnapshot> {
    if (runId !== undefined) {
      const run = this.runs.get(runId);
      if (run && isFinished(run)) return Promise.resolve(run);
      if (!run && runId < this.nextId) return Promise.reject(new Error(`Run ${runId} is unknown or no longer kept.`));
    } else {
      const latest = this.latest();
      if (latest && !isFinished(latest)) runId = latest.runId;
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ runId, minRunId: this.nextId, resolve, reject });
    });
  }

  /** Rejects every pending waiter (extension deactivation). */
  dispose(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new Error('Attention Lens was deactivated.'));
  }

  private put(run: RunSnapshot): void {
    this.runs.set(run.runId, run);
    if (!isFinished(run)) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      const matches = w.runId !== undefined ? w.runId === run.runId : run.runId >= w.minRunId;
      if (matches) w.resolve(run);
      else still.push(w);
    }
    this.waiters = still;
  }
}
