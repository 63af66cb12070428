/**
 * Every graph output the worker fetches, added in one go: the attention Softmax outputs (onnx-tap.ts) and
 * what feeds each Softmax (score-tap.ts: scores, Q, Kᵀ, V), as ONE appended `ModelProto{graph{output…}}`.
 * The host's tap cache appends it on disk (tap-cache.ts); the worker uses a pre-tapped file's bytes as they
 * are and, for a model that lacks the outputs, appends them in a single allocation. Pure: no vscode, no DOM.
 */
import { appendSuffix, encodeExtraOutputs, planTap, scanOnnx, TapError, type OnnxSummary, type TapPlan } from './onnx-tap';
import { planScoreTaps, scoreTapNames, type ScoreSources } from './score-tap';
import { rewriteSubgraphs } from './tap-subgraph';

/**
 * Version of what a tapped file holds; part of the tap cache's key. Bump it whenever the outputs added
 * change (planTap or planScoreTaps finding other tensors), so files tapped the old way are not reused.
 * 1: Softmax outputs only. 2: Softmax outputs and score taps. 3: score taps through Reshape (baddbmm), and
 * fused attention nodes' inputs and outputs. 4: the terms Adds put on the scores (ALiBi, position biases, masks:
 * ScoreSources.biases), which identification fetches.
 */
export const TAP_FORMAT = 4;

/** The full tap of a scanned model: its Softmax plan, the score sources, and the bytes to append (maybe none). */
export interface FullTap {
  readonly plan: TapPlan;
  readonly sources: readonly ScoreSources[];
  /** Graph outputs still to add (Softmax outputs first, then score taps), without duplicates. */
  readonly toAppend: readonly string[];
  readonly suffix: Uint8Array;
}

/**
 * Plans every output the worker needs from a scanned model, skipping names that already are graph outputs
 * (so a pre-tapped model gets an empty suffix); throws planTap's TapError ('softmax-in-subgraph' for a
 * merged decoder, which must be rewritten instead: rewriteSubgraphs).
 */
export function planFullTap(summary: OnnxSummary): FullTap {
  const plan = planTap(summary);
  let sources: ScoreSources[] = [];
  try {
    sources = planScoreTaps(summary, plan.softmaxOutputs);
  } catch {
    sources = []; // score taps only serve explanations: the attention does not depend on them
  }
  // The plan's names are appended even where they are graph inputs or initializers (a fused node's inputs); score taps are not.
  const taken = new Set([...summary.outputs.map((o) => o.name), ...summary.inputs.map((i) => i.name), ...summary.initializerNames]);
  const outputs = new Set(summary.outputs.map((o) => o.name));
  const toAppend: string[] = [];
  for (const name of plan.toAppend ?? plan.softmaxOutputs) {
    if (!outputs.has(name)) toAppend.push(name);
    outputs.add(name);
    taken.add(name);
  }
  for (const name of scoreTapNames(sources)) {
    if (!taken.has(name)) toAppend.push(name);
    taken.add(name);
  }
  return { plan, sources, toAppend, suffix: toAppend.length ? encodeExtraOutputs(toAppend, 0) : new Uint8Array(0) };
}

/** A model with every output the worker fetches. */
export interface FullyTapped extends Omit<FullTap, 'suffix' | 'toAppend'> {
  /** The tapped bytes: the very `model` given when it needed nothing, else one new buffer. */
  readonly tapped: Uint8Array;
  readonly summary: OnnxSummary;
  /** Bytes added to the model: the appended suffix, or what the merged-decoder rewrite added; 0 for a pre-tapped model. */
  readonly added: number;
}

/**
 * Taps model bytes for every output the worker fetches, allocating at most one new buffer (the original
 * plus the suffix, or the rewritten merged decoder); a pre-tapped model comes back as the same buffer.
 */
export function tapAll(model: Uint8Array): FullyTapped {
  const summary = scanOnnx(model);
  let full: FullTap;
  try {
    full = planFullTap(summary);
  } catch (e) {
    if (!(e instanceof TapError) || e.code !== 'softmax-in-subgraph') throw e;
    const rewritten = rewriteSubgraphs(model);
    if (!rewritten) throw e;
    const after = scanOnnx(rewritten.bytes);
    const { plan, sources } = planFullTap(after); // a rewritten model needs no suffix: its taps are If outputs
    return { tapped: rewritten.bytes, summary: after, plan: { ...plan, layerOrder: rewritten.layerOrder }, sources,
      added: rewritten.bytes.length - model.length };
  }
  if (full.suffix.length === 0) return { tapped: model, summary, plan: full.plan, sources: full.sources, added: 0 };
  const tapped = appendSuffix(model, full.suffix);
  // The appended outputs are untyped and hold no other field, so the summary of `tapped` is `summary` plus them.
  const outputs = [...summary.outputs, ...full.toAppend.map((name) => ({ name, elemType: 0, dims: [] }))];
  return { tapped, summary: { ...summary, outputs }, plan: full.plan, sources: full.sources, added: full.suffix.length };
}
