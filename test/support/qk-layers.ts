/**
 * Real tapped Q and Kᵀ of the test models, as the worker's paged path reads them (identified on a short run, then a
 * longer run through the narrowed model), run in onnxruntime-node. Test-only, Node only.
 */
import { tapAll } from '../../src/shared/full-tap';
import { buildFeeds } from '../../src/shared/feeds';
import { toFloat32, fetchedLookup } from '../../src/shared/tapped-run';
import { requiredInputs } from '../../src/shared/onnx-tap';
import { retapForPaging } from '../../src/shared/paged-tap';
import { identificationFetches, identifyPaths, pagedFetches, pagedFromFetched } from '../../src/shared/attention-paths';
import { fusedTapNames } from '../../src/shared/fused-plan';
import { identifyFusedPaths, pagedFused } from '../../src/shared/fused-paged';
import type { LayerQK } from '../../src/shared/qk-attention';
import type { PagedHeads } from '../../src/shared/paged-attention';

const ort = require('onnxruntime-node');

/** Token ids below a vocabulary of 32, with repeats. */
export const idsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7 + 3 + ((i * i) % 5)) % 32);

/** Runs `bytes` on `ids`, fetching `names`, with the worker's feeds. */
async function runOn(bytes: Uint8Array, summaryOf: Uint8Array, ids: readonly number[], names: readonly string[], externalData?: unknown) {
  const t = tapAll(summaryOf);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, ...(externalData ? { externalData } : {}) });
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(t.summary), ids)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  return session.run(feeds, [...names]);
}

/** A name → fetched tensor lookup over onnxruntime-node's outputs. */
function lookup(out: Record<string, any>) {
  return (name: string) => (out[name] ? { dims: out[name].dims.map(Number), data: toFloat32(out[name]).slice(), type: out[name].type as string } : undefined);
}

/** The recomputed layers of a model with Softmax nodes, on `long` tokens (identified on the first 8). */
export async function softmaxModelLayers(bytes: Uint8Array, long: readonly number[]): Promise<LayerQK[]> {
  const t = tapAll(bytes);
  const self = t.plan.softmaxOutputs.filter((_, i) => (t.plan.kinds?.[i] ?? 'self') === 'self');
  const short = long.slice(0, 8);
  const idOut = await runOn(t.tapped, bytes, short, identificationFetches(self, t.sources));
  const paths = identifyPaths(self, t.sources, lookup(idOut), short.length).layers;
  const names = pagedFetches(paths, t.sources);
  const out = await runOn(retapForPaging(t.tapped, names)!, bytes, long, names);
  return layersOf(pagedFromFetched(paths, t.sources, lookup(out), long.length, 0).pages);
}

/** The recomputed layers of a fused-attention model (grouped-query ones share keys), on `ids`. */
export async function fusedModelLayers(bytes: Uint8Array, ids: readonly number[]): Promise<LayerQK[]> {
  const t = tapAll(bytes);
  const sources = t.plan.fused!;
  const short = ids.slice(0, 7);
  const found = identifyFusedPaths(sources, fetchedLookup(await runOn(t.tapped, bytes, short, fusedTapNames(sources))), short.length);
  if (typeof found === 'string') throw new Error(found);
  const get = fetchedLookup(await runOn(t.tapped, bytes, ids, fusedTapNames(sources)));
  return layersOf(pagedFused(sources, found.layers, get, ids.length, 0).pages);
}

/** The Q/K layers of a paged stack. */
function layersOf(pages: unknown): LayerQK[] {
  return (pages as PagedHeads).layers.flatMap((s) => (s.path === 'qk' ? [s.qk] : []));
}
