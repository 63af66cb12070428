/**
 * The inference worker (started by the panel from a blob: URL). It holds the tapped model and its
 * onnxruntime-web sessions, runs one request at a time in arrival order, drops cancelled or superseded
 * runs, and answers every run with 'result' (the stacks' shapes: it keeps the stacks and answers queries about them,
 * held-runs.ts) or 'error'.
 */
import { selfAttention } from '../../src/shared/attention';
import { AttentionStore, shapesOf } from '../../src/shared/attention-query';
import { valueWeightedStack } from '../../src/shared/value-weighted';
import { assertNever, type PanelToWorker, type WorkerToPanel } from '../../src/shared/protocol';
import { inductionProbe, inductionScores, probePeriod, PROBE_PERIOD } from '../../src/shared/head-labels';
import { checkProbeScores, type ProbeScores } from '../../src/shared/probe-scores';
import { explain, valueNormsOf, type ExplainableRun } from './explain';
import {
  chooseBackend, configureOrt, getSession, prepareModel, releaseModel, runModel, startRuntime, wasmThreads, type PreparedModel,
} from './session';
import { messageOf, stepWithFallback } from '../../src/shared/backend-fallback';
import { handleEncoderDecoderRun } from './encdec';
import { runOnPaged, runPaged, sessionKindFor } from './paged-run';
import { handleGenerate } from './generate-run';
import { HeldRuns } from './held-runs';
import { residualOf } from './residual-run';
import type { ResidualAnswer } from '../../src/shared/residual-norms';
import { GpuPagedRun, pagesOf } from './gpu-paged';
import { gpuRows } from './gpu-rows';

declare const self: DedicatedWorkerGlobalScope;

type RunMessage = Extract<PanelToWorker, { type: 'run' }>;

/** Models by key; only the most recently sent model is kept, so memory holds one model at a time. */
const models = new Map<string, PreparedModel | Error>();
const cancelled = new Set<number>();
/** Generations the panel asked to stop (by id): each stops before its next step. */
const stoppedGenerations = new Set<number>();
/** Induction-probe results by model key (computed once per model, or taken from a run's stored `probe`). */
const probes = new Map<string, ProbeScores>();
/** The last single-model run that produced a result, kept so its weights can be explained. */
let lastRun: (ExplainableRun & { backend: Parameters<typeof getSession>[1] }) | undefined;
let latestRunId: number | undefined;
let queue: Promise<void> = Promise.resolve();
function post(msg: WorkerToPanel, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

/** The runs this worker holds and answers queries about. */
const runs = new HeldRuns(post);

/** The latest companion run asked for since the latest base run (a base run makes every earlier companion stale). */
let latestCompanionId: number | undefined;

/** A run is stale once cancelled, or once a newer base run (or, for a companion, a newer companion) was asked for. */
const stale = (runId: number): boolean => cancelled.has(runId) || (runId !== latestRunId && runId !== latestCompanionId);

/** A model's bytes taken out of its run message. */
interface ModelBytes {
  model: ArrayBuffer;
  externalData?: RunMessage['externalData'];
  decoder?: ArrayBuffer;
}

/**
 * Takes the model bytes out of a run message (the message lives as long as its run, and would keep an
 * untapped model alive next to its tapped copy); undefined when the message carries none.
 */
function takeModelBytes(msg: RunMessage): ModelBytes | undefined {
  const m = msg as { -readonly [K in keyof RunMessage]?: RunMessage[K] };
  if (!m.model) return undefined;
  const bytes: ModelBytes = { model: m.model, externalData: m.externalData, decoder: m.decoderModel };
  delete m.model;
  delete m.decoderModel;
  delete m.externalData;
  return bytes;
}

/**
 * Prepares and keeps a model, releasing any other. Only the prepared model references the bytes afterwards:
 * the same buffer for a pre-tapped file, else its one tapped copy (the untapped buffer is then garbage).
 */
async function addModel(key: string, bytes: ModelBytes): Promise<void> {
  for (const [k, m] of models) {
    if (k !== key && !(m instanceof Error)) await releaseModel(m);
    models.delete(k);
  }
  try {
    const model = prepareModel(key, new Uint8Array(bytes.model), bytes.externalData);
    if (bytes.decoder) model.decoder = prepareModel(`${key}#decoder`, new Uint8Array(bytes.decoder));
    models.set(key, model);
  } catch (e) {
    models.set(key, e instanceof Error ? e : new Error(messageOf(e)));
  }
}

async function handleRun(msg: RunMessage): Promise<void> {
  const { runId } = msg;
  // Model bytes are kept even when their run is already stale: later runs of the same key omit them.
  // (Passed on without a local, so this frame does not hold the untapped bytes while the run goes on.)
  if (msg.model) await addModel(msg.modelKey, takeModelBytes(msg)!);
  if (stale(runId)) return;
  try {
    await runtime;
    const model = models.get(msg.modelKey);
    if (!model) throw new Error(`The worker does not hold the model "${msg.modelKey}"; reload the panel.`);
    if (model instanceof Error) throw model;
    if (msg.inputIds.length === 0) throw new Error('There are no tokens to run.');
    if (msg.decoderInputIds) {
      return await handleEncoderDecoderRun(msg, model, { post, stale: () => stale(runId), keep: (st) => runs.keep(runId, st, undefined, msg.companion) });
    }
    const t0 = performance.now();
    const chosen = await chooseBackend(msg.backend);
    // WebGPU that fails (creating the session, or running) is retried on WASM, with the reason; the panel keeps the deadline.
    post({ type: 'progress', runId, stage: 'loading', backend: chosen.backend });
    const recompute = msg.recompute ?? 'auto';
    const kind = sessionKindFor(model, msg.inputIds.length, recompute);
    const started = await stepWithFallback(chosen.backend, (b) => getSession(model, b, kind), { doing: 'start' });
    const loadMs = performance.now() - t0;
    if (stale(runId)) return;
    post({ type: 'progress', runId, stage: 'running', backend: started.backend });
    let t1 = performance.now();
    const ran = await stepWithFallback(started.backend, async (b) => {
      const s = b === started.backend ? started.value : await getSession(model, b, kind);
      t1 = performance.now();
      const paged = await runPaged(model, b, s, kind, msg.inputIds, recompute, msg.context ?? msg.inputIds.length);
      return paged ?? { session: s, output: await runModel(model, s, msg.inputIds) };
    }, { doing: 'run the model', onFallback: () => post({ type: 'progress', runId, stage: 'running', backend: 'wasm' }) });
    const inferenceMs = performance.now() - t1;
    const backend = ran.backend;
    const fallbackReason = ran.fallbackReason ?? started.fallbackReason ?? chosen.fallbackReason;
    const { session, output } = ran.value;
    if (stale(runId)) return;
    const a = output.attention;
    if (!a.pages) selfAttention(a.layers, a.heads, a.queries, a.data, a.causal); // checks the shape
    const logits = output.logits && output.vocab ? { data: output.logits, vocab: output.vocab } : undefined;
    // A paged run's rows are recomputed on the worker's WebGPU device when the backend setting allows it (gpu-paged.ts).
    const pages = output.paths ? pagesOf(a) : undefined;
    const gpu = pages && await GpuPagedRun.create(msg.backend === 'wasm' ? undefined : await gpuRows(), pages, 'the backend setting is WASM');
    if (stale(runId)) return gpu?.release();
    const paths = output.paths && gpu ? gpu.summary(output.paths) : output.paths;
    // A paged run of an unfused graph ran on the narrowed session (fused graphs' taps are narrow already).
    const narrowed = !!output.paths && !model.plan.fused;
    const source = { runId, model, inputIds: msg.inputIds, layerNames: a.names, backend, ...(narrowed ? { paged: true } : {}) };
    runs.keep(runId, [a], logits, msg.companion, gpu, source);
    post({
      type: 'result', runId, backendUsed: backend, fallbackReason, ...(backend === 'wasm' ? { threads: wasmThreads() } : {}),
      shapes: shapesOf([a]), vocab: logits?.vocab, loadMs, inferenceMs, recomputed: output.recomputed,
      ...(paths ? { paths } : {}),
    });
    // A companion run is only shown beside its base run: the base run stays the one explained and probed.
    if (msg.companion) return;
    lastRun = source;
    await postProbe(msg, model, session, output.vocab, a, narrowed);
  } catch (e) {
    if (!cancelled.has(runId)) post({ type: 'error', runId, message: messageOf(e) });
  } finally {
    cancelled.delete(runId);
  }
}

/**
 * Posts the model's induction-probe scores after a run: from this worker's cache, from the run's stored
 * `probe` when it fits the model (same period and layers × heads), or by running the probe [r, r] once
 * (skipped while a newer run waits; the next run tries again). Running it needs the vocabulary size (logits).
 */
async function postProbe(msg: RunMessage, model: PreparedModel, session: Awaited<ReturnType<typeof getSession>>,
  vocab: number | undefined, shape: { layers: number; heads: number }, paged: boolean): Promise<void> {
  const period = probePeriod(msg.context ?? 2 * PROBE_PERIOD);
  let cached = probes.get(msg.modelKey);
  let computed = false;
  if (!cached && msg.probe) {
    const stored = checkProbeScores(msg.probe);
    if (typeof stored !== 'string' && stored.period === period && stored.layers === shape.layers && stored.heads === shape.heads) {
      cached = stored;
      probes.set(msg.modelKey, cached);
    }
  }
  if (!cached) {
    if (!vocab || stale(msg.runId)) return;
    const probe = inductionProbe(vocab, msg.context ?? 2 * PROBE_PERIOD);
    if (!probe) return;
    // The probe runs the model again, and a running model holds this thread: the panel's first questions (the
    // rows and thumbnails it draws) are answered first, and the probe starts once they have stopped coming.
    await runs.quiet(() => stale(msg.runId));
    if (stale(msg.runId)) return;
    try {
      // A paged session declares no Softmax output of the recomputed layers: the probe is read from Q and K too.
      const a = (paged ? await runOnPaged(model, session, probe.ids) : await runModel(model, session, probe.ids)).attention;
      const induction = inductionScores(a, probe.period)
        .map((x) => Math.min(1, Math.max(0, x))); // float rounding may leave a mean of weights a hair above 1
      cached = { period: probe.period, layers: a.layers, heads: a.heads, induction };
      probes.set(msg.modelKey, cached);
      computed = true;
    } catch {
      return; // the probe is optional: labels go without induction
    }
  }
  post({ type: 'probe', runId: msg.runId, modelKey: msg.modelKey, computed, ...cached });
}

/** Answers an 'explain' request about the last run (an error when that run is no longer held). */
async function handleExplain(req: Extract<PanelToWorker, { type: 'explain' }>): Promise<void> {
  const base = { type: 'explanation' as const, runId: req.runId, layer: req.layer, head: req.head, query: req.query };
  const run = lastRun;
  if (!run || run.runId !== req.runId) {
    post({ ...base, error: 'Only the latest run of a single (not encoder–decoder) model can be explained; run Show Attention again.' });
    return;
  }
  try {
    post(await explain(req, run, await getSession(run.model, run.backend, run.paged ? 'paged' : 'full')));
  } catch (e) {
    post({ ...base, error: messageOf(e) });
  }
}

/** onnxruntime started by the panel's 'init' (runs wait for it, even one that came first; its failure is each run's error). */
let initialised!: (started: Promise<void>) => void;
const runtime = new Promise<void>((resolve) => { initialised = resolve; });
runtime.catch(() => undefined);

/** Configures onnxruntime for the build and .wasm the panel named, starts it, and reports how long that took. */
function startWorkerRuntime(msg: Extract<PanelToWorker, { type: 'init' }>): Promise<void> {
  const t0 = performance.now();
  configureOrt(msg.build, msg.wasmUrl, msg.wasmBinary, msg.wasmThreads);
  const started = startRuntime();
  started.then(() => post({ type: 'runtime', ms: performance.now() - t0 }),
    (e: unknown) => post({ type: 'runtime', ms: performance.now() - t0, error: messageOf(e) }));
  return started;
}

/** Handles the panel's messages (not in onnxruntime's pthread workers, which load this same module and answer their own). */
const onPanelMessage = (ev: MessageEvent<PanelToWorker>): void => {
  const msg = ev.data;
  switch (msg.type) {
    case 'init':
      // Not queued: a run tapping its model meanwhile awaits it (handleRun) while the runtime compiles.
      initialised(startWorkerRuntime(msg));
      break;
    case 'run':
      if (msg.companion) latestCompanionId = msg.runId;
      else [latestRunId, latestCompanionId] = [msg.runId, undefined];
      queue = queue.then(() => handleRun(msg));
      break;
    case 'cancel':
      cancelled.add(msg.runId);
      break;
    case 'explain':
      queue = queue.then(() => handleExplain(msg));
      break;
    case 'query':
      runs.answer(msg);
      break;
    case 'generate':
      queue = queue.then(() => handleGenerate(msg, { run: lastRun, post, stopped: () => stoppedGenerations.has(msg.id) || stale(msg.runId) })
        .finally(() => stoppedGenerations.delete(msg.id)));
      break;
    case 'stopGenerate':
      stoppedGenerations.add(msg.id);
      break;
    case 'valueNorms':
      queue = queue.then(async () => {
        // The latest run, or a companion run (Compare With Another Selection) held beside it.
        const run = runs.get(msg.runId)?.source;
        if (!run) return post({ type: 'valueNorms', runId: msg.runId, error: 'This run is no longer held by the worker.' });
        try {
          const r = await valueNormsOf(run, await getSession(run.model, run.backend, run.paged ? 'paged' : 'full'));
          if ('error' in r) return post({ type: 'valueNorms', runId: msg.runId, error: r.error });
          // From now on queries may ask for the value-weighted stacks, kept beside the plain ones.
          const h = runs.get(msg.runId);
          if (h && !h.weighted) h.weighted = new AttentionStore(h.store.stacks.map((s) => valueWeightedStack(s, r.norms)));
          post({ type: 'valueNorms', runId: msg.runId, norms: r.norms.buffer as ArrayBuffer }, [r.norms.buffer]);
        } catch (e) {
          post({ type: 'valueNorms', runId: msg.runId, error: messageOf(e) });
        }
      });
      break;
    case 'residual':
      queue = queue.then(async () => {
        const answer = await residualOf(msg, lastRun, runs.get(msg.runId)?.store.stacks[0]?.heads)
          .catch((e: unknown): ResidualAnswer => ({ type: 'residual', id: msg.id, runId: msg.runId, error: messageOf(e) }));
        post(answer, [answer.headNorms, answer.residualNorms].filter((b): b is ArrayBuffer => !!b));
      });
      break;
    default:
      assertNever(msg);
  }
};

if (!self.name?.startsWith('em-pthread')) self.onmessage = onPanelMessage;
