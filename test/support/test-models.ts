/**
 * Test helpers for the Hugging Face-shaped test models under test/models (built by
 * test/models/recipe): their reference files, and one tapped run in onnxruntime through the shared feeds
 * builder, exactly as the worker feeds a model. Test-only, Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildFeeds, type FeedOptions } from '../../src/shared/feeds';
import {
  collectAttention, float16ToFloat32, planTap, requiredInputs, scanOnnx, tapAttention,
  type CollectedAttention, type OnnxSummary, type TapPlan,
} from '../../src/shared/onnx-tap';
import { repoRoot } from './model';
import type { OrtLike } from './run-tapped';

/** Folder of the test models. */
export const testModelsDir = path.join(repoRoot, 'test', 'models');

/** One reference entry: ids, texts, and named Float32 tensors with their shapes. */
export interface TestReference {
  readonly text: string;
  readonly ids: number[];
  readonly decoderIds?: number[];
  readonly tensors: Record<string, { data: Float32Array; shape: number[] }>;
}

/** Loads test/models/<name>/reference. */
export function loadTestReference(name: string): TestReference[] {
  const dir = path.join(testModelsDir, name, 'reference');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'reference.bin'));
  return index.entries.map((e: Record<string, any>) => {
    const tensors: TestReference['tensors'] = {};
    for (const [k, v] of Object.entries(e)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && 'offset' in v) {
        const n = (v.shape as number[]).reduce((a, b) => a * b, 1);
        tensors[k] = { shape: v.shape, data: new Float32Array(bin.buffer.slice(bin.byteOffset + v.offset, bin.byteOffset + v.offset + 4 * n)) };
      }
    }
    return { text: e.text, ids: e.ids, decoderIds: e.decoder_ids, tensors };
  });
}

/** A test model file, its external data (if any), scan and plan. */
export interface TestOnnx {
  readonly bytes: Uint8Array;
  readonly summary: OnnxSummary;
  readonly plan: TapPlan;
  readonly externalData?: { path: string; data: Uint8Array }[];
}

/** Reads test/models/<name>/onnx/<file> and the external data files it names. */
export function readTestOnnx(name: string, file = 'model.onnx'): TestOnnx {
  const dir = path.join(testModelsDir, name, 'onnx');
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, file)));
  const summary = scanOnnx(bytes);
  const files = summary.externalDataFiles ?? [];
  const externalData = files.length
    ? files.map((f) => ({ path: f, data: new Uint8Array(fs.readFileSync(path.join(dir, f))) })) : undefined;
  return { bytes, summary, plan: planTap(summary), externalData };
}

/** What one tapped run returned: attention by kind, the session's raw outputs and the fetched tensor types. */
export interface TappedRun {
  readonly self: CollectedAttention;
  readonly cross?: CollectedAttention;
  readonly outputs: Record<string, { dims: number[]; data: Float32Array }>;
  readonly tapTypes: string[];
}

function toFloat32(t: { type: string; data: unknown }): Float32Array {
  if (t.type === 'float16') {
    const d = t.data as unknown;
    return d instanceof Uint16Array ? float16ToFloat32(d) : Float32Array.from(d as ArrayLike<number>);
  }
  return t.data as Float32Array;
}

/** Taps the model, feeds it through buildFeeds and collects self (and cross) attention. */
export async function runTestModel(ort: OrtLike, m: TestOnnx, ids: readonly number[], feedOpts: FeedOptions = {},
  sessionOpts: object = {}, tolerance = 1e-3): Promise<TappedRun> {
  const session = await ort.InferenceSession.create(tapAttention(m.bytes, m.plan),
    { intraOpNumThreads: 1, ...sessionOpts, ...(m.externalData ? { externalData: m.externalData } : {}) });
  const feeds: Record<string, unknown> = {};
  for (const f of buildFeeds(requiredInputs(m.summary), ids, feedOpts)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
  const out = await session.run(feeds);
  const outputs: TappedRun['outputs'] = {};
  for (const [k, v] of Object.entries(out as Record<string, any>)) {
    if (v.type === 'float32' || v.type === 'float16') outputs[k] = { dims: v.dims.map(Number), data: toFloat32(v) };
  }
  const fetch = (kind: 'self' | 'cross') => m.plan.softmaxOutputs
    .filter((_, i) => (m.plan.kinds?.[i] ?? 'self') === kind)
    .map((name) => ({ name, dims: outputs[name].dims, data: outputs[name].data }));
  const T = ids.length;
  const S = feedOpts.encoderHiddenStates?.dims[1];
  const crossFetched = fetch('cross');
  await session.release?.();
  return {
    self: collectAttention(fetch('self'), T, tolerance),
    cross: crossFetched.length && S ? collectAttention(crossFetched, T, tolerance, S) : undefined,
    outputs,
    tapTypes: m.plan.softmaxOutputs.map((n) => (out as Record<string, any>)[n].type),
  };
}
