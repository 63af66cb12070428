/**
 * What a Show Attention run is doing before its first paint, as the header shows it from the first moment: the
 * runtime (onnxruntime's .wasm downloaded and compiled), the model (fetched), the session (created) and the inference,
 * each waiting, under way (with a detail such as bytes downloaded) or done. The runtime and the model load side by side.
 */
import type { BackendUsed } from '../../src/shared/protocol';
import type { AttentionQuery } from '../../src/shared/attention-query';

/** The stages, in the order they finish ('text': the host loads the model and tokenizes; only after a 'prepare'). */
export const LOAD_STAGES = ['text', 'runtime', 'model', 'session', 'inference'] as const;
/** One stage of loading and running. */
export type LoadStage = (typeof LOAD_STAGES)[number];

/** A stage started, moved on (detail) or finished (done); `backend` once chosen. */
export interface LoadEvent {
  readonly stage: LoadStage;
  readonly done?: boolean;
  readonly detail?: string;
  readonly backend?: BackendUsed;
}

const ACTIVE: Record<LoadStage, string> = {
  text: 'Loading the model and tokenizing', runtime: 'Starting the runtime', model: 'Fetching the model', session: 'Creating the session', inference: 'Running',
};
const DONE: Record<LoadStage, string> = { text: 'Tokens ✓', runtime: 'Runtime ✓', model: 'Model ✓', session: 'Session ✓', inference: 'Ran ✓' };

/** Megabytes with one decimal, e.g. "13.6 MB". */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The state of each stage of one run, and the line of text that says it. */
export class LoadProgress {
  private readonly steps = new Map<LoadStage, { done: boolean; detail?: string }>();
  private backend?: BackendUsed;

  /** Applies an event; the session or inference finishes every stage started before it (the others run side by side). */
  update(e: LoadEvent): void {
    if (e.backend) this.backend = e.backend;
    const i = LOAD_STAGES.indexOf(e.stage);
    // The session needs the runtime and the model (and so the tokens); inference needs the session.
    for (const s of LOAD_STAGES.slice(0, i)) if (i >= 3 && this.steps.has(s)) this.steps.set(s, { done: true });
    const prev = this.steps.get(e.stage);
    // A detail means under way (a runtime that was running is started again when its worker is replaced).
    const done = e.done ?? (e.detail === undefined && (prev?.done ?? false));
    this.steps.set(e.stage, { done, detail: done ? undefined : e.detail ?? prev?.detail });
  }

  /** The stages started so far, in stage order. */
  started(): LoadStage[] {
    return LOAD_STAGES.filter((s) => this.steps.has(s));
  }

  /** E.g. "Runtime ✓ · Fetching the model: 1.2 MB… · Creating the session on WASM…". */
  text(): string {
    const on = this.backend ? ` on ${this.backend === 'webgpu' ? 'WebGPU' : 'WASM'}` : '';
    return this.started().map((s) => {
      const step = this.steps.get(s)!;
      if (step.done) return DONE[s];
      const where = s === 'session' || s === 'inference' ? on : '';
      return `${ACTIVE[s]}${where}${step.detail ? `: ${step.detail}` : ''}…`;
    }).join(' · ');
  }
}

/**
 * The header's progress line over runs: a 'prepare' (the host still loading and tokenizing) starts one that its run
 * then continues; events reach the screen only while their progress is the one on show, and clear() hides it.
 */
export class ProgressLine {
  private shown?: LoadProgress;
  private prepared?: LoadProgress;

  constructor(private readonly render: (text: string | undefined, stages?: readonly LoadStage[]) => void) {}

  /** Shows the host's loading of `modelName`; returns the updater for its runtime's events. */
  prepare(modelName: string): (e: LoadEvent) => void {
    const update = this.updater(this.prepared = this.shown = new LoadProgress());
    update({ stage: 'text', detail: modelName });
    return update;
  }

  /** The updater for a run's events, continuing what a 'prepare' showed (its tokens now done). */
  startRun(): (e: LoadEvent) => void {
    const p = this.prepared ?? new LoadProgress();
    this.prepared = undefined;
    this.shown = p;
    if (p.started().includes('text')) p.update({ stage: 'text', done: true });
    return this.updater(p);
  }

  /** Hides the line; later events of what it showed are dropped. */
  clear(): void {
    this.shown = this.prepared = undefined;
    this.queries.clear();
    this.render(undefined);
  }

  /**
   * The worker's progress on query `id` over row blocks (queryProgressText; undefined once done): shown while no run
   * is loading, the latest unfinished query's, and the line hidden when the last one finishes.
   */
  query(id: number, text: string | undefined): void {
    if (text) this.queries.set(id, text);
    else this.queries.delete(id);
    if (this.shown) return;
    this.render([...this.queries.values()].pop());
  }

  private readonly queries = new Map<number, string>();

  private updater(p: LoadProgress): (e: LoadEvent) => void {
    return (e) => {
      p.update(e);
      if (this.shown === p) this.render(p.text(), p.started());
    };
  }
}

/** What a query over row blocks does, for the progress line. */
const QUERY_DOING: Partial<Record<AttentionQuery['kind'], string>> = {
  metrics: 'Computing head metrics', matrix: 'Drawing attention', nearest: 'Finding the nearest heads', column: 'Reading a column',
};

/** The progress line's text for `done` of `total` row blocks of a query; undefined once it is done. */
export function queryProgressText(kind: AttentionQuery['kind'], done: number, total: number): string | undefined {
  return done >= total ? undefined : `${QUERY_DOING[kind] ?? 'Computing'} from Q and K: ${Math.floor((100 * done) / Math.max(1, total))} %…`;
}
