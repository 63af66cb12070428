/**
 * The host's side of asking for attention: the panel's worker owns every stack, so the editor, the compare
 * view and the test API send a 'query' and wait for the 'answer' with the same id. Answers come from a
 * webview and are checked before use. Pure: no `vscode`, unit-tested in Node.
 */
import { headView, type Attention } from '../shared/attention';
import type { AttentionAnswer, AttentionQuery, StackShape } from '../shared/attention-query';
import type { AnswerMessage, HeadRef, QueryMessage } from '../shared/protocol';

/** Rejects a query whose run was replaced, or whose panel closed, before it was answered. */
export class QueryCancelledError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'QueryCancelledError';
  }
}

/** The answer type of each query kind. */
export type AnswerOf<K extends AttentionQuery['kind']> = Extract<AttentionAnswer, { kind: K }>;

interface Pending {
  readonly runId: number;
  readonly kind: AttentionQuery['kind'];
  resolve(a: AttentionAnswer): void;
  reject(e: Error): void;
}

/** Sends queries through `send` (false when there is no panel to ask) and matches answers by id. */
export class AttentionAsker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly send: (msg: QueryMessage) => boolean) {}

  /**
   * Asks run `runId` one query (about its value-weighted stacks when `weighted`, once the panel has them); rejects with
   * the panel's error, or QueryCancelledError when the run goes away.
   */
  ask<Q extends AttentionQuery>(runId: number, query: Q, weighted = false): Promise<AnswerOf<Q['kind']>> {
    const id = this.nextId++;
    return new Promise<AnswerOf<Q['kind']>>((resolve, reject) => {
      this.pending.set(id, { runId, kind: query.kind, resolve: resolve as (a: AttentionAnswer) => void, reject });
      if (!this.send({ type: 'query', id, runId, query, ...(weighted ? { weighted } : {}) })) {
        this.pending.delete(id);
        reject(new QueryCancelledError('The Attention Lens panel is not open.'));
      }
    });
  }

  /** Handles an 'answer' from the panel (ignored when nothing waits for its id). */
  receive(msg: AnswerMessage): void {
    const p = this.pending.get(msg.id);
    if (!p || msg.runId !== p.runId) return;
    this.pending.delete(msg.id);
    if (msg.stale) return p.reject(new QueryCancelledError(msg.error ?? `Run ${p.runId} is no longer held by the panel.`));
    const problem = msg.error ?? answerProblem(p.kind, msg.answer);
    if (problem !== undefined) p.reject(new Error(problem));
    else p.resolve(msg.answer!);
  }

  /** Rejects every query not about `keepRunId` (all of them when it is undefined): a new run, or the panel closed. */
  cancelOthers(keepRunId: number | undefined, reason: string): void {
    for (const [id, p] of this.pending) {
      if (p.runId === keepRunId) continue;
      this.pending.delete(id);
      p.reject(new QueryCancelledError(reason));
    }
  }

  /**
   * Every head of one stack of run `runId`, assembled from one full-size 'matrix' answer per head: for tests
   * and small models (it moves the whole stack, which views never do).
   */
  async stack(runId: number, shape: StackShape): Promise<Attention> {
    const { layers, heads, queries, keys } = shape;
    const ref = (layer: number, head: number): HeadRef => ({ stack: shape.kind === 'encoder' ? 'self' : shape.kind, layer, head });
    const data = new Float32Array(layers * heads * queries * keys);
    const out: Attention = { ...shape, data };
    await Promise.all(Array.from({ length: layers * heads }, async (_, k) => {
      const l = Math.floor(k / heads);
      const a = await this.ask(runId, { kind: 'matrix', head: ref(l, k % heads) });
      if (a.pooled || a.rows !== queries || a.cols !== keys) throw new Error(`L${l} H${k % heads} came back ${a.rows}×${a.cols}, not ${queries}×${keys}.`);
      headView(out, l, k % heads).set(new Float32Array(a.data));
    }));
    return out;
  }
}

/** Why an answer cannot be used for a query of `kind`, or undefined when it is well formed. */
export function answerProblem(kind: AttentionQuery['kind'], answer: unknown): string | undefined {
  const a = answer as Partial<Record<string, unknown>> | undefined;
  if (typeof a !== 'object' || a === null || a.kind !== kind) return `The panel answered a ${kind} query with something else.`;
  const numbers = (x: unknown) => Array.isArray(x) && x.every((v) => typeof v === 'number');
  switch (kind) {
    case 'row':
    case 'column':
      return a.weights instanceof ArrayBuffer && a.weights.byteLength % 4 === 0 ? undefined : `The panel sent a malformed ${kind}.`;
    case 'topk':
      return numbers(a.keys) && numbers(a.weights) && (a.keys).length === (a.weights).length
        ? undefined : 'The panel sent malformed top weights.';
    case 'matrix': {
      const { rows, cols, data } = a as { rows?: unknown; cols?: unknown; data?: unknown };
      const ok = Number.isInteger(rows) && Number.isInteger(cols) && data instanceof ArrayBuffer && data.byteLength === (rows as number) * (cols as number) * 4;
      return ok && typeof a.scale === 'number' ? undefined : 'The panel sent a malformed matrix.';
    }
    case 'nearest':
      return Array.isArray(a.heads) ? undefined : 'The panel sent a malformed list of heads.';
    case 'metrics':
      return Array.isArray(a.rows) ? undefined : 'The panel sent malformed metrics.';
    case 'predictions':
      return Array.isArray(a.predictions) ? undefined : 'The panel sent malformed predictions.';
  }
}
