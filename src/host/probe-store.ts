/**
 * Induction-probe results kept across panels and window reloads: the panel forwards the scores its worker
 * computed after a run, and they are stored in the extension's global state under the model's identity
 * (the SHA-256 of its ONNX file, as the tap cache computed it, plus the probe's seed and period). The next
 * run of the same model sends them with `show`, so the worker need not run the probe again. Everything
 * read from the panel or from storage is checked (checkProbeScores). Imports no `vscode` (a Memento-like
 * object is passed in).
 */
import { PROBE_SEED, probePeriod } from '../shared/head-labels';
import { checkProbeScores, type ProbeScores } from '../shared/probe-scores';
import { TAP_FORMAT } from '../shared/full-tap';

/** The part of vscode.Memento the store uses. */
export interface ProbeMemento {
  get(key: string): unknown;
  update(key: string, value: unknown): PromiseLike<void>;
}

/** The global-state key that holds every stored probe, by probeKey. */
export const PROBE_STATE_KEY = 'attentionLens.inductionProbes';
/** Most models whose probe is kept; the oldest entry goes first. */
export const MAX_STORED_PROBES = 32;
/** Most recent runs whose model is remembered (a probe arrives shortly after its run). */
const MAX_RUNS = 16;

type StoredProbe = ProbeScores & { readonly savedAt: number };

/**
 * The storage key of a model's probe: its file's SHA-256, the tap format (which fixes the layer order the
 * scores are listed in), the probe's seed and its period (from the context).
 */
export function probeKey(sha256: string, context: number): string {
  return `${sha256}:tap${TAP_FORMAT}:seed${PROBE_SEED}:period${probePeriod(context)}`;
}

/** Stores probe scores per model identity and hands them out per run. */
export class ProbeStore {
  private readonly runs = new Map<number, { key: string; period: number }>();

  /** Without a memento (or for a model without a hash) nothing is stored. */
  constructor(private readonly memento: ProbeMemento | undefined) {}

  /**
   * The stored scores of run `runId`'s model (hash `sha256`, context `context`), if any; remembers the run
   * so that scores the panel reports for it are stored under that model.
   */
  forRun(runId: number, sha256: string | undefined, context: number): ProbeScores | undefined {
    if (!this.memento || !sha256) return undefined;
    const key = probeKey(sha256, context);
    const period = probePeriod(context);
    this.runs.set(runId, { key, period });
    if (this.runs.size > MAX_RUNS) this.runs.delete(this.runs.keys().next().value as number);
    const hit = checkProbeScores(this.all()[key]);
    return typeof hit !== 'string' && hit.period === period ? hit : undefined;
  }

  /**
   * Stores the probe scores in `msg` (a 'probe' message from the panel) under its run's model. Returns why
   * they were refused (unknown run, malformed, wrong period or, when `shape` is known, wrong layers × heads),
   * or undefined once stored.
   */
  async accept(msg: unknown, shape?: { readonly layers: number; readonly heads: number }): Promise<string | undefined> {
    const runId = (msg as { runId?: unknown } | null)?.runId;
    const run = typeof runId === 'number' ? this.runs.get(runId) : undefined;
    if (!this.memento || !run) return 'the run is unknown, or its model has no stored identity';
    const scores = checkProbeScores(msg);
    if (typeof scores === 'string') return scores;
    if (scores.period !== run.period) return `the probe's period is ${scores.period}, expected ${run.period}`;
    if (shape && (shape.layers !== scores.layers || shape.heads !== scores.heads)) {
      return `the probe has ${scores.layers}×${scores.heads} heads, the run ${shape.layers}×${shape.heads}`;
    }
    const all: Record<string, StoredProbe> = { ...this.all(), [run.key]: { ...scores, savedAt: Date.now() } };
    const oldestFirst = Object.keys(all).sort((a, b) => (all[a].savedAt ?? 0) - (all[b].savedAt ?? 0));
    for (const k of oldestFirst.slice(0, Math.max(0, oldestFirst.length - MAX_STORED_PROBES))) delete all[k];
    await this.memento.update(PROBE_STATE_KEY, all);
    return undefined;
  }

  /** Every stored entry (an empty record when storage holds something else). */
  private all(): Record<string, StoredProbe> {
    const v = this.memento?.get(PROBE_STATE_KEY);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, StoredProbe> : {};
  }
}
