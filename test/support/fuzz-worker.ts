/**
 * The fuzz test's worker thread (test/unit/fuzz-models.test.ts starts out/test/support/fuzz-worker.js): takes one
 * mutated model at a time and puts it through what the extension does with an untrusted model file, reporting
 * how each stage ended. A stage may succeed or refuse the model with the project's own errors (TapError,
 * FeedError, ModelError); anything else thrown is a crash. Hangs and out-of-memory deaths are the test's to see:
 * it times each mutant and terminates this worker when one runs over. Test-only, Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { scanOnnxFile } from '../../src/host/onnx-file';
import { ModelError } from '../../src/host/model-layout';
import { buildFeeds, FeedError, planFeeds } from '../../src/shared/feeds';
import { planFullTap, tapAll } from '../../src/shared/full-tap';
import { requiredInputs, scanOnnx, TapError, type OnnxSummary } from '../../src/shared/onnx-tap';
import { planAnyTap } from '../../src/shared/tap-subgraph';

/** The test's message: one mutant. */
export interface FuzzRequest { readonly index: number; readonly bytes: Uint8Array }
/** A stage that threw something other than the project's errors. */
export interface FuzzCrash { readonly stage: string; readonly name: string; readonly message: string; readonly stack: string }
/** The worker's answer: per stage 'ok' or the refusal's class and code, and the first crash. */
export interface FuzzResult { readonly index: number; readonly stages: Record<string, string>; readonly crash?: FuzzCrash; readonly ms: number }

const { tmpDir } = workerData as { tmpDir: string };
const file = path.join(tmpDir, `mutant-${threadId}.onnx`);

/** Runs every stage, stopping at the first crash. */
async function pipeline(bytes: Uint8Array): Promise<Omit<FuzzResult, 'index' | 'ms'>> {
  const stages: Record<string, string> = {};
  let crash: FuzzCrash | undefined;
  const stage = async <T>(name: string, run: () => T | Promise<T>): Promise<T | undefined> => {
    if (crash) return undefined;
    try {
      const v = await run();
      stages[name] = 'ok';
      return v;
    } catch (e) {
      if (e instanceof TapError) stages[name] = `TapError(${e.code})`;
      else if (e instanceof FeedError) stages[name] = 'FeedError';
      else if (e instanceof ModelError) stages[name] = 'ModelError';
      else {
        stages[name] = 'crash';
        crash = e instanceof Error
          ? { stage: name, name: e.constructor.name, message: e.message, stack: (e.stack ?? '').split('\n').slice(1, 6).join('\n') }
          : { stage: name, name: `non-Error ${typeof e}`, message: String(e), stack: '' };
      }
      return undefined;
    }
  };
  // The host: the file scanned from disk without its weights (onnx-file.ts), as Load and Add Model do.
  fs.writeFileSync(file, bytes);
  const fromDisk = await stage('scanOnnxFile', () => scanOnnxFile(file));
  // The same scan in memory, then what the tap cache and the inference worker plan and append or rewrite.
  const summary: OnnxSummary | undefined = await stage('scanOnnx', () => scanOnnx(bytes));
  if (summary) await stage('planFullTap', () => planFullTap(summary));
  const tapped = await stage('tapAll', () => tapAll(bytes));
  await stage('planAnyTap', () => planAnyTap(bytes));
  // A tapped model is read again (the tap cache re-plans it; onnxruntime loads it).
  if (tapped) await stage('rescan tapped', () => planFullTap(scanOnnx(tapped.tapped)));
  // The feeds, as Add Model shapes them once (model-inspect.ts) and the worker builds them for a short input.
  for (const [name, s] of [['disk', fromDisk], ['memory', summary]] as const) {
    if (!s) continue;
    await stage(`planFeeds (${name})`, () => planFeeds(requiredInputs(s)));
    await stage(`buildFeeds (${name})`, () => buildFeeds(requiredInputs(s), [1, 2],
      { encoderHiddenStates: { data: new Float32Array(2), dims: [1, 2, 1] } }));
  }
  return { stages, crash };
}

parentPort!.on('message', (req: FuzzRequest) => {
  const t0 = performance.now();
  void pipeline(req.bytes).then((r) => {
    const result: FuzzResult = { index: req.index, ...r, ms: performance.now() - t0 };
    parentPort!.postMessage(result);
  });
});
