/**
 * The induction probe's result as it travels and is stored (worker → panel → host → globalState → next
 * `show` → worker), and the check every receiver applies to it, since it arrives untyped from
 * postMessage or from storage. Pure; imports neither `vscode` nor the DOM.
 */

/** Each head's induction score on the probe [r, r] of `period`, layer-major [layers·heads]. */
export interface ProbeScores {
  readonly period: number;
  readonly layers: number;
  readonly heads: number;
  readonly induction: readonly number[];
}

/** Most heads a stored probe may have (a bound on what is written to storage). */
export const MAX_PROBE_HEADS = 1 << 14;

/**
 * The ProbeScores in `value` (copied, only the four fields), or a description of why it is not one:
 * positive integer period, layers and heads, and exactly layers × heads finite scores in [0, 1].
 */
export function checkProbeScores(value: unknown): ProbeScores | string {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const v = value as Partial<Record<keyof ProbeScores, unknown>>;
  for (const k of ['period', 'layers', 'heads'] as const) {
    const n = v[k];
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) return `${k} is not a positive integer (${String(n)})`;
  }
  const layers = v.layers as number;
  const heads = v.heads as number;
  if (layers * heads > MAX_PROBE_HEADS) return `${layers}×${heads} heads is more than ${MAX_PROBE_HEADS}`;
  const ind = v.induction;
  if (!Array.isArray(ind)) return 'induction is not a list';
  if (ind.length !== layers * heads) return `induction has ${ind.length} scores, expected ${layers}×${heads}`;
  const bad = ind.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1);
  if (bad >= 0) return `induction score ${bad} (${String(ind[bad])}) is not a number in [0, 1]`;
  return { period: v.period as number, layers, heads, induction: (ind as number[]).slice() };
}
