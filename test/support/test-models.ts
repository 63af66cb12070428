/**
 * Test helpers for the Hugging Face-shaped test models under test/models (built by
 * test/models/recipe): their reference files, and one tapped run in onnxruntime through the shared runner
 * (src/shared/tapped-run.ts) and feeds builder. Test-only, Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FeedOptions } from '../../src/shared/feeds';
import { planTap, scanOnnx, tapAttention, type OnnxSummary, type TapPlan } from '../../src/shared/onnx-tap';
import { runTappedModel, type TappedResult } from '../../src/shared/tapped-run';
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

/** Taps the model, opens a session, feeds it through buildFeeds and collects self (and cross) attention. */
export async function runTestModel(ort: OrtLike, m: TestOnnx, ids: readonly number[], feedOpts: FeedOptions = {},
  sessionOpts: object = {}, tolerance = 1e-3): Promise<TappedResult> {
  const session = await openTestModel(ort, m, sessionOpts);
  try {
    return await runTappedModel(ort, { session, summary: m.summary, plan: m.plan }, ids, feedOpts, tolerance);
  } finally {
    await session.release?.();
  }
}

/** Runs `ids` through a session opened by openTestModel (every required input fed as the worker feeds it). */
export function runOpenedTestModel(ort: OrtLike, session: any, m: TestOnnx, ids: readonly number[]): Promise<TappedResult> {
  return runTappedModel(ort, { session, summary: m.summary, plan: m.plan }, ids);
}

/** Opens a tapped session for a test model (external data passed as buffers). */
export function openTestModel(ort: OrtLike, m: TestOnnx, sessionOpts: object = {}): Promise<any> {
  return ort.InferenceSession.create(tapAttention(m.bytes, m.plan),
    { intraOpNumThreads: 1, ...sessionOpts, ...(m.externalData ? { externalData: m.externalData } : {}) });
}
