import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  BYTE_MUTATIONS, mapStructure, mutantSeed, mutateBytes, Rng, STRUCTURAL_MUTATIONS, structuralMutant, type Mutant, type StructureMap,
} from '../support/fuzz-mutate';
import type { FuzzCrash, FuzzRequest, FuzzResult } from '../support/fuzz-worker';
import { repoRoot } from '../support/model';

// Issue 11 (hardening): a model file is untrusted input. A seeded few hundred mutations of the real test models
// (truncated, bytes flipped, lengths overwritten with 0xff or lies, byte ranges and whole fields duplicated or
// removed) and a few small structural ones go through what the extension does with a model file: scanned from
// disk and in memory, tapped (planFullTap, tapAll, planAnyTap with the merged-decoder rewrite), the tapped bytes
// re-planned, and the feeds planned and built for a short input. Each may succeed or be refused with the
// project's own errors (TapError, FeedError, ModelError); any other throw is a crash, and a mutant that runs
// past its time limit is a hang. The mutants run in a worker thread (test/support/fuzz-worker.ts), so a hang or
// a stack overflow costs the worker, not mocha: it is terminated and a new one takes the next mutant.
//
// Reproduce a failure with the seed and index it reports: FUZZ_SEED=<seed> FUZZ_ONLY=<index>[,<index>…] npx mocha
// out/test/unit/fuzz-models.test.js (FUZZ_MUTANTS sets the count, FUZZ_LIMIT_MS the time limit). Failing mutants
// are also written to test-output/fuzz/.

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_0b1e) >>> 0;
const MUTANTS = Number(process.env.FUZZ_MUTANTS ?? 300);
// The slowest mutants (the structural ones with tens of thousands of nodes or initializers) take about 1 s on a busy
// 2-core machine; what the fuzz found took 10 s to minutes.
const LIMIT_MS = Number(process.env.FUZZ_LIMIT_MS ?? 4000);
const ONLY = process.env.FUZZ_ONLY ? new Set(process.env.FUZZ_ONLY.split(',').map(Number)) : undefined;
/** Hangs after which the run stops (each costs LIMIT_MS), so the report comes before mocha's timeout. */
const MAX_HANGS = 15;
/** Of every 10 mutants, this many are structural (built with onnx-builder.ts); the rest mutate the files' bytes. */
const STRUCTURAL_PER_10 = 1;

const FILES = [
  path.join('models', 'lens-gpt', 'onnx', 'model.onnx'),
  ...fs.readdirSync(path.join(repoRoot, 'test', 'models'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'recipe')
    .flatMap((d) => {
      const dir = path.join('test', 'models', d.name, 'onnx');
      return fs.existsSync(path.join(repoRoot, dir)) ? fs.readdirSync(path.join(repoRoot, dir)).filter((f) => f.endsWith('.onnx')).map((f) => path.join(dir, f)) : [];
    }),
].sort();

const WORKER = path.join(repoRoot, 'out', 'test', 'support', 'fuzz-worker.js');

/** Runs mutants one at a time in a worker; on a hang (or a dead worker) starts a new worker for the next. */
class FuzzRunner {
  private worker: Worker | undefined;
  constructor(private readonly tmpDir: string) {}

  private start(): Worker {
    // A small heap, so a mutant that makes the code allocate without bound dies as a crash instead of swapping, and
    // the main thread's stack (Node's default is just under 1 MB; a worker's 4 MB) so a deep recursion or a spread
    // call with too many arguments overflows here as it would in the extension host.
    return new Worker(WORKER, { workerData: { tmpDir: this.tmpDir }, resourceLimits: { maxOldGenerationSizeMb: 512, stackSizeMb: 1 } });
  }

  /** The worker's result, or one made up here: `hang` when it does not answer in time, a crash in stage 'worker' when it dies. */
  run(index: number, bytes: Uint8Array): Promise<FuzzResult & { hang?: true }> {
    const worker = this.worker ??= this.start();
    const t0 = performance.now();
    return new Promise((resolve) => {
      const done = (r: FuzzResult & { hang?: true }, replace: boolean) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (replace) {
          void worker.terminate();
          this.worker = undefined;
        }
        resolve(r);
      };
      const onMessage = (r: FuzzResult) => done(r, false);
      const onError = (e: Error) => done({ index, stages: {}, ms: performance.now() - t0,
        crash: { stage: 'worker', name: e.constructor.name, message: e.message, stack: (e.stack ?? '').split('\n').slice(1, 6).join('\n') } }, true);
      const onExit = (code: number) => done({ index, stages: {}, ms: performance.now() - t0,
        crash: { stage: 'worker', name: 'exit', message: `the worker exited with code ${code}`, stack: '' } }, true);
      const timer = setTimeout(() => done({ index, stages: {}, ms: performance.now() - t0, hang: true }, true), LIMIT_MS);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      const req: FuzzRequest = { index, bytes };
      worker.postMessage(req, [bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

/** Mutant `index`: byte mutations of the files in turn (each kind in turn), with every tenth one structural. */
function mutant(index: number, originals: readonly { file: string; bytes: Uint8Array; map: StructureMap }[]): Mutant & { file: string } {
  const rng = new Rng(mutantSeed(SEED, index));
  if (index % 10 < STRUCTURAL_PER_10) {
    const k = Math.floor(index / 10);
    return { ...structuralMutant(rng, STRUCTURAL_MUTATIONS[k % STRUCTURAL_MUTATIONS.length]), file: '(built)' };
  }
  const b = index - Math.floor(index / 10) * STRUCTURAL_PER_10 - Math.min(index % 10, STRUCTURAL_PER_10); // index among byte mutants
  const o = originals[b % originals.length];
  return { ...mutateBytes(rng, o.bytes, o.map, BYTE_MUTATIONS[Math.floor(b / originals.length) % BYTE_MUTATIONS.length]), file: o.file };
}

const describeCrash = (c: FuzzCrash): string =>
  `CRASH in ${c.stage}: ${c.name}: ${c.message.slice(0, 300)}${c.stack ? `\n      ${c.stack.replace(/\n/g, '\n      ')}` : ''}`;

describe('fuzzing the model pipeline (scan → plan → feeds) with mutated models', function () {
  this.timeout(180_000);
  let tmpDir: string;
  before(() => {
    assert.ok(fs.existsSync(WORKER), `${WORKER} is missing: run node scripts/build.mjs first`);
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-fuzz-'));
  });
  after(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

  it(`${ONLY ? `mutants ${[...ONLY].join(', ')}` : `${MUTANTS} mutants`} (seed ${SEED}) neither crash nor hang; the unmutated files pass`, async () => {
    const t0 = performance.now();
    assert.ok(FILES.length >= 5, `found the test models: ${FILES.join(', ')}`);
    const originals = FILES.map((file) => {
      const bytes = new Uint8Array(fs.readFileSync(path.join(repoRoot, file)));
      return { file, bytes, map: mapStructure(bytes) };
    });
    const runner = new FuzzRunner(tmpDir);
    const failures: string[] = [];
    const tally = new Map<string, number>();
    const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
    const times: { ms: number; what: string }[] = [];
    try {
      // The controls: each unmutated file goes through every stage without a crash, its scan and tap succeeding.
      if (!ONLY) {
        for (const o of originals) {
          const r = await runner.run(-1, o.bytes.slice());
          const refused = ['scanOnnxFile', 'scanOnnx', 'tapAll', 'planAnyTap'].filter((stage) => !r.crash && !r.hang && r.stages[stage] !== 'ok');
          if (r.hang || r.crash || refused.length) {
            failures.push(`unmutated ${o.file}\n    → ${r.hang ? `HANG (no answer within ${LIMIT_MS} ms)` : r.crash ? describeCrash(r.crash)
              : `refused: ${refused.map((stage) => `${stage} ${r.stages[stage]}`).join(', ')}`}`);
          }
        }
      }
      const indices = ONLY ? [...ONLY] : Array.from({ length: MUTANTS }, (_, i) => i);
      let hangs = 0;
      for (const i of indices) {
        if (hangs >= MAX_HANGS) {
          failures.push(`stopped after ${MAX_HANGS} hangs, before mutant #${i}: the rest would outlast the test's timeout`);
          break;
        }
        const m = mutant(i, originals);
        const r = await runner.run(i, m.bytes.slice());
        times.push({ ms: r.ms, what: `#${i} ${m.file}: ${m.mutation.slice(0, 100)}` });
        const scanned = r.stages.scanOnnx === 'ok';
        count(r.hang ? 'hang' : r.crash ? 'crash' : !scanned ? 'refused by the scan' : r.stages.tapAll === 'ok' ? 'tapped' : 'scanned, tap refused');
        count(`${m.kind}: ${scanned ? 'scanned' : 'not scanned'}`);
        if (!r.hang && !r.crash) continue;
        if (r.hang) hangs++;
        const saved = path.join(repoRoot, 'test-output', 'fuzz', `seed-${SEED}-mutant-${i}.onnx`);
        fs.mkdirSync(path.dirname(saved), { recursive: true });
        fs.writeFileSync(saved, m.bytes);
        const what = r.hang ? `HANG (no answer within ${LIMIT_MS} ms)` : describeCrash(r.crash!);
        failures.push(`#${i} (FUZZ_SEED=${SEED} FUZZ_ONLY=${i}) ${m.file}: ${m.mutation.slice(0, 300)}\n    → ${what}\n    saved as ${path.relative(repoRoot, saved)}`);
      }
    } finally {
      await runner.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`      fuzz: seed ${SEED}, ${ONLY ? ONLY.size : MUTANTS} mutants in ${seconds.toFixed(1)} s, limit ${LIMIT_MS} ms each; the slowest:`);
    for (const t of times.sort((a, b) => b.ms - a.ms).slice(0, 3)) console.log(`        ${t.ms.toFixed(0).padStart(5)} ms  ${t.what}`);
    console.log('      outcomes:');
    for (const [k, v] of [...tally].sort()) console.log(`        ${String(v).padStart(4)}  ${k}`);
    assert.equal(failures.length, 0, `${failures.length} failures (crashes, hangs, refused unmutated files), seed ${SEED}:\n  ${failures.join('\n  ')}`);
    if (!ONLY) {
      // The fuzz reaches past the first varint: enough mutants scan, and some are still tapped, for the later stages to be exercised.
      const scanned = MUTANTS - (tally.get('refused by the scan') ?? 0);
      assert.ok(scanned >= MUTANTS / 5, `only ${scanned} of ${MUTANTS} mutants got past the scan`);
      assert.ok((tally.get('tapped') ?? 0) >= MUTANTS / 10, `only ${tally.get('tapped') ?? 0} of ${MUTANTS} mutants were tapped`);
    }
  });
});
