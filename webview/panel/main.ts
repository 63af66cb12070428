/**
 * The attention panel webview. Posts `ready`, then handles HostToPanel messages: on 'show' it runs the
 * model in the inference worker, posts the result (with timings up to first paint) to the host and
 * renders the Tokens, Heatmap and Model grid views. UI state persists through vscode.setState.
 */
import { assertNever, HOST_TO_PANEL_TYPES, isMessage, type AttentionStackKind, type HostToPanel, type PanelToHost, type Timings } from '../../src/shared/protocol';
import { readTheme, watchTheme, type Theme } from '../common/theme';
import { vscodeApi } from '../common/vscode-api';
import { CancelledError, InferenceClient } from './client';
import { ProgressLine, queryProgressText } from './load-progress';
import { encoderOnly, loadRun, resultForHost, type LoadedRun } from './run-loader';
import { HeadPicker, registerToolkit, ViewTabs } from './controls';
import { GridView } from './grid-view';
import { Header } from './header';
import { HeatmapView } from './heatmap-view';
import { labelHead, type HeadLabel } from '../../src/shared/head-labels';
import { MetricsView } from './metrics-view';
import { fileWideText } from '../../src/shared/head-aggregate';
import { LinesView } from './lines-view';
import { ExplainView } from './explain-view';
import { loadVocab, PredictionsView } from './predictions-view';
import { explainCellOf } from './explain-cell';
import { wireToolbar } from './toolbar';
import { headRefOf, restoreState, RunData, throttle, type HeadChoice, type UiState } from './state';
import { TokensView } from './tokens-view';
import { GenerateView } from './generate-view';
import { wireViewExport } from './view-export';
import { CrossTokensView } from './cross-tokens';
import { StackPicker } from './stack-picker';
import { CrossRunData, STACK_ORDER } from './stack-run';
import { CompareTextView } from './compare-text';
import { ResidualView } from './residual-view';

registerToolkit();

const vscode = vscodeApi();
const post = (m: PanelToHost): void => vscode.postMessage(m);

const state: UiState = restoreState(vscode.getState());
let hovered: number | null = null;
let theme: Theme = readTheme();
let run: RunData | undefined;
let currentRunId: number | undefined;
/** The model of the run on show, and its induction-probe scores once the worker sent them. */
let currentModelKey: string | undefined;
let probe: { modelKey: string; period: number; layers: number; heads: number; induction: readonly number[] } | undefined;
/** Encoder–decoder runs: one RunData per stack (`run` is the one state.stack picks). */
let stacks: Map<AttentionStackKind, RunData> | undefined;
/** The stack HeadRefs name: the one on show, or 'self' for single-stack models. */
const stackKind = (): AttentionStackKind => (stacks && state.stack && stacks.has(state.stack) ? state.stack : 'self');

const header = new Header();
const progressLine = new ProgressLine((text, stages) => header.setProgress(text, stages));
const client = new InferenceClient(document.body.dataset.workerUri ?? '', document.body.dataset.wasmBase ?? '');
const picker = new HeadPicker((layer, head) => selectHead(layer, head));
const tabs = new ViewTabs((view) => { state.view = view; changed(); });
const tokens = new TokensView({
  hover: (i) => setHover(i),
  lock: (i) => setLock(i === null ? null : state.locked === i ? null : i),
  move: (i) => { if (state.locked !== null) setLock(i); },
});
const crossTokens = new CrossTokensView({
  hover: (i) => setHover(i),
  lock: (i) => setLock(i === null ? null : state.locked === i ? null : i),
  move: (i) => { if (state.locked !== null) setLock(i); },
});
const stackPicker = new StackPicker((kind) => selectStack(kind));
const heatmap = new HeatmapView({
  hoverRow: (i) => setHover(i),
  lock: (i) => setLock(i === null ? null : state.locked === i ? null : i),
  explain: (i, j) => { setLock(i); void explainCell(i, j); },
});
const explainView = new ExplainView(() => explainView.hide());
const lines = new LinesView((i) => setHover(i));
const predictions = new PredictionsView();
const generation = new GenerateView(client, post);
/** The model's context on show (how long a generated sequence may grow). */
let contextTokens = 0;
const valueToggle = document.getElementById('value-weighted') as HTMLElement & { checked: boolean };
const saveImageButton = document.getElementById('save-image')!;
/** The 'show' of the run on show: Compare With Another Selection runs its model on the second text. */
let lastShow: Extract<HostToPanel, { type: 'show' }> | undefined;
const compareText = new CompareTextView({
  client, post, theme: () => theme, head: () => ({ layer: state.layer, head: state.head }),
  base: () => {
    const base = stacks ? stacks.get('encoder') : run;
    return base && lastShow?.runId === base.runId ? { run: base, show: lastShow } : undefined;
  },
});
const viewExport = wireViewExport({ run: () => run, view: () => state.view, layer: () => state.layer, head: () => state.head, theme: () => theme,
  grid: () => ({ metrics: run?.metrics(inductionFor(run)), metric: state.gridMetric, labels: (l, h) => (run ? labelsOf(run, l, h) : []) }) }, (m) => post(m));
const attendedBy = document.getElementById('attended-by') as HTMLElement & { checked: boolean };
attendedBy.checked = state.direction === 'by';
attendedBy.addEventListener('change', () => {
  if (attendedBy.checked) state.direction = 'by';
  else delete state.direction; // the default, 'to', is not saved
  changed();
});
valueToggle.addEventListener('change', () => void applyValueWeighting());

/** Shows α·‖v‖ (scaled by value norms) or α as the toggle says, asking the worker for ‖v_j‖ the first time for a run. */
async function applyValueWeighting(): Promise<void> {
  const r = run;
  if (!r?.ready || stacks) return;
  if (valueToggle.checked && !r.hasValueNorms) {
    const x = await client.valueNorms(r.runId);
    if (run !== r) return;
    if (x.error || !x.norms) {
      valueToggle.checked = false;
      header.setError(`Cannot weight by ‖v‖: ${x.error ?? 'no values'}`);
      return;
    }
    r.setValueWeighted(valueToggle.checked, true); // the worker now holds the value-weighted stack too
  } else r.setValueWeighted(valueToggle.checked);
  document.body.classList.toggle('value-weighted', r.valueWeighted);
  explainView.hide();
  heatmap.invalidate();
  grid.invalidate();
  render();
}
/** The run whose logits the worker holds (decoder models), and the model's token strings, for next-token predictions. */
let logitsRunId: number | undefined;
let vocabStrings: readonly string[] = [];

/** Explains cell (i, j) of the head on show, from what the worker fetches (explain-cell.ts). */
const explainCell = (i: number, j: number): Promise<void> =>
  explainCellOf({ client, view: explainView, shown: () => ({ run, layer: state.layer, head: state.head, theme }) }, i, j);
const grid = new GridView({
  select: (layer, head) => selectHead(layer, head),
  open: (layer, head) => { selectHead(layer, head); state.view = 'heatmap'; changed(); },
  metric: (key) => { state.gridMetric = key; changed(); },
});

const metricsView = new MetricsView({
  select: (layer, head) => selectHead(layer, head),
  pin: (layer, head) => post({ type: 'pinHead', head: { stack: stackKind(), layer, head } }),
  sort: (key, descending) => { state.sortKey = key; state.sortDesc = descending; changed(); },
  revealWindow: (layer, head, metric) => post({ type: 'revealWindow', layer, head, metric }),
});
const residualView = new ResidualView({ client, select: (layer, head) => selectHead(layer, head), focus: (i) => setLock(i) });
/** The latest Analyse Heads Across File result (mean ± sd per head), shown under the Metrics table's values. */
let aggregate: Extract<HostToPanel, { type: 'headAggregate' }> | undefined;
client.onQueryProgress = (m) => { if (m.runId === currentRunId) progressLine.query(m.id, queryProgressText(m.kind, m.done, m.total)); };
client.onProbe = (m) => {
  probe = { modelKey: m.modelKey, period: m.period, layers: m.layers, heads: m.heads, induction: m.induction };
  // Freshly computed: the host stores it for this model, so the next panel (or window) need not run the probe.
  if (m.computed) post({ type: 'probe', runId: m.runId, period: m.period, layers: m.layers, heads: m.heads, induction: m.induction });
  grid.invalidate();
  if (state.view === 'metrics' || state.view === 'grid') render();
};

/** The probe's induction scores for the run on show, if they are in and fit its dimensions. */
function inductionFor(r: RunData): readonly number[] | undefined {
  return probe && probe.modelKey === currentModelKey && probe.layers === r.layers && probe.heads === r.heads
    ? probe.induction : undefined;
}

/** The automatic labels of one head of the run on show. */
function labelsOf(r: RunData, layer: number, head: number): HeadLabel[] {
  const m = r.metrics(inductionFor(r))[layer * r.heads + head];
  return m ? labelHead(m) : [];
}

const focused = (): number | null => state.locked ?? hovered;

const postFocus = throttle((runId: number, tokenIndex: number | null, layer: number, head: HeadChoice, stack: AttentionStackKind) => {
  post({ type: 'focus', runId, tokenIndex, head: headRefOf(layer, head, stack) });
}, 100);
let lastFocusKey = '';

function maybePostFocus(): void {
  if (!run) return;
  const key = `${run.runId}|${focused()}|${state.layer}|${state.head === 'all' ? 'mean' : state.head}|${stackKind()}`;
  if (key === lastFocusKey) return;
  lastFocusKey = key;
  postFocus(run.runId, focused(), state.layer, state.head, stackKind());
}

/** Saves state, re-renders the visible view and reports focus. */
function changed(): void {
  vscode.setState({ ...state });
  tabs.show(state.view);
  render();
  maybePostFocus();
}

function clampState(r: RunData): void {
  const { layers, heads } = r;
  if (layers > 0) state.layer = Math.min(state.layer, layers - 1);
  if (typeof state.head === 'number' && state.head >= heads) state.head = heads > 0 ? 0 : 'mean';
  if (state.locked !== null && state.locked >= r.T) state.locked = null;
  if (hovered !== null && hovered >= r.T) hovered = null;
}

function render(): void {
  document.body.classList.toggle('has-run', !!run);
  const canSave = !!run?.ready && (state.view === 'heatmap' || state.view === 'grid');
  saveImageButton.toggleAttribute('disabled', !canSave);
  attendedBy.toggleAttribute('disabled', run instanceof CrossRunData); // cross-attention's tokens view has its own two rows
  viewExport.update();
  saveImageButton.title = canSave ? 'Save this view as a PNG image, in the colours shown' : 'Open the Heatmap or the Model grid to save it as an image';
  if (!run) return;
  const f = focused();
  if (run.ready) picker.update(run.layers, run.heads, state.layer, state.head);
  stackPicker.update(stacks ? STACK_ORDER.filter((k) => stacks!.has(k)) : [], stacks ? stackKind() : undefined);
  crossTokens.setVisible(run instanceof CrossRunData);
  if (state.view === 'tokens' || !run.ready) {
    (run instanceof CrossRunData ? crossTokens : tokens).render({ run, layer: state.layer, head: state.head,
      focused: run.ready ? f : null, locked: state.locked, theme, direction: state.direction });
    predictions.render({ run, focused: run.ready ? f : null, hasLogits: logitsRunId === run.runId && !stacks, strings: vocabStrings });
    generation.render({ run, canGenerate: logitsRunId === run.runId && !stacks && run.causal, layer: state.layer, head: state.head, theme,
      strings: vocabStrings, maxTokens: contextTokens });
  }
  if (!run.ready) return;
  compareText.render();
  if (state.view === 'heatmap') {
    heatmap.draw({ run, layer: state.layer, head: state.head, focused: f, theme, direction: run instanceof CrossRunData ? 'to' : state.direction });
  }
  if (state.view === 'lines') lines.draw({ run, layer: state.layer, head: state.head, focused: f, theme });
  if (state.view === 'grid') {
    grid.draw({ run, layer: state.layer, head: state.head, theme, labels: (l, h) => labelsOf(run!, l, h),
      metrics: run.metrics(inductionFor(run)), metric: state.gridMetric,
      fileWide: (l, h, k) => (aggregate ? fileWideText(aggregate.rows, aggregate.windows, l, h, k) : '') });
  }
  if (state.view === 'residual') residualView.render({ run, single: !stacks, focused: f, layer: state.layer, head: state.head, theme });
  if (state.view === 'metrics') {
    const induction = inductionFor(run);
    metricsView.render({
      rows: run.metrics(induction), aggregate, layer: state.layer, head: state.head, sortKey: state.sortKey, descending: state.sortDesc,
      probe: induction ? { period: probe!.period } : { missing: 'waiting for the probe (a repeated random sequence run once per model); models without logits are not probed.' },
    });
  }
}

/** Draws again on the next frame: an answer from the worker came in (several in one frame draw once). */
function answerArrived(): void {
  cancelAnimationFrame(answerFrame);
  answerFrame = requestAnimationFrame(() => render());
}
let answerFrame = 0;

/** Shows another stack of an encoder–decoder run (from the picker, or a focusHead that names it). */
function selectStack(kind: AttentionStackKind): void {
  const next = stacks?.get(kind);
  if (!next || (state.stack === kind && run === next)) return;
  // Encoder rows are input tokens, decoder and cross rows decoder tokens: a lock does not carry across.
  if ((kind === 'encoder') !== (stackKind() === 'encoder')) state.locked = null;
  state.stack = kind;
  run = next;
  hovered = null;
  heatmap.invalidate();
  grid.invalidate();
  clampState(next);
  changed();
}

function setHover(i: number | null): void {
  if (hovered === i) return;
  hovered = i;
  if (state.locked === null) changed();
}

function setLock(i: number | null): void {
  if (state.locked === i) return;
  state.locked = i;
  changed();
}

function selectHead(layer: number, head: HeadChoice): void {
  if (state.layer === layer && state.head === head) return;
  explainView.hide();
  state.layer = layer;
  state.head = head;
  changed();
}

/** Resolves after the next frame has been painted (or soon, when the webview is hidden and paints nothing). */
function afterPaint(): Promise<void> {
  return new Promise((resolve) => {
    if (document.visibilityState === 'hidden') return resolve();
    const timer = setTimeout(resolve, 1000);
    requestAnimationFrame(() => setTimeout(() => { clearTimeout(timer); resolve(); }, 0));
  });
}

/** The host opened this panel for a run and is loading the model and tokenizing: say so, and start the runtime. */
function prepare(msg: Extract<HostToPanel, { type: 'prepare' }>): void {
  if (currentRunId === undefined) client.prepare(msg.backend, msg.wasmThreads ?? 0, progressLine.prepare(msg.modelName));
}

async function show(msg: Extract<HostToPanel, { type: 'show' }>): Promise<void> {
  if (currentRunId !== undefined && currentRunId !== msg.runId) client.cancel(currentRunId);
  currentRunId = msg.runId;
  currentModelKey = msg.model.onnxUri;
  contextTokens = msg.model.context ?? msg.model.maxTokens;
  lastShow = msg;
  compareText.clear();
  const timings: Timings = { ...msg.timings };
  header.setSource(msg.model.name, msg.documentLabel);
  header.setNotices(encoderOnly(msg) ? [...msg.notices, 'Encoder–decoder model without decoder tokens: showing the encoder’s self-attention only.'] : msg.notices);
  header.setStale(undefined);
  header.setRefusal(undefined);
  header.setError(undefined);
  header.setBackend(undefined);
  header.setTimings(timings);
  heatmap.invalidate();
  heatmap.resetZoom();
  grid.invalidate();
  explainView.hide();
  run = new RunData(msg.runId, msg.text, msg.tokens, undefined);
  logitsRunId = undefined;
  stacks = undefined;
  hovered = null;
  render();
  if (msg.tokens.length === 0) {
    const message = 'There are no tokens to show: the selection is empty.';
    progressLine.clear();
    header.setError(message);
    post({ type: 'runError', runId: msg.runId, message });
    return;
  }
  // Every stage shows from the first moment (load-progress.ts): the runtime and the model load side by side,
  // the runtime maybe started already by the host's 'prepare'.
  const onProgress = progressLine.startRun();
  const loadStart = performance.now();
  let loaded: LoadedRun;
  try {
    loaded = await loadRun(client, msg, (e) => { if (currentRunId === msg.runId) onProgress(e); },
      () => { if (currentRunId === msg.runId) answerArrived(); });
  } catch (e) {
    if (e instanceof CancelledError || currentRunId !== msg.runId) return;
    const message = e instanceof Error ? e.message : String(e);
    progressLine.clear();
    header.setError(`Could not run the model: ${message}`);
    post({ type: 'runError', runId: msg.runId, message });
    return;
  }
  if (currentRunId !== msg.runId) return;
  logitsRunId = loaded.result.vocab ? msg.runId : undefined;
  void loadVocab(msg.model.tokenizerUri).then((v) => {
    if (currentRunId !== msg.runId || v === vocabStrings) return;
    vocabStrings = v;
    if (state.view === 'tokens') render();
  });
  const { result } = loaded;
  timings.runtimeMs = result.runtimeMs;
  timings.fetchMs = result.fetchMs;
  timings.sessionMs = result.loadMs;
  timings.loadMs = performance.now() - loadStart - result.inferenceMs;
  timings.inferenceMs = result.inferenceMs;
  const t0 = performance.now();
  run = loaded.run;
  stacks = loaded.stacks;
  if (stacks) run = stacks.get(stackKind() === 'self' ? (state.stack = 'encoder') : stackKind()) ?? run;
  clampState(run);
  progressLine.clear();
  header.setBackend(result.backendUsed, result.fallbackReason, result.threads);
  header.setRecomputed(result.recomputed);
  header.setPaths(result.paths);
  document.body.classList.remove('value-weighted');
  if (valueToggle.checked) queueMicrotask(() => void applyValueWeighting());
  lastFocusKey = '';
  changed();
  await afterPaint();
  timings.firstPaintMs = performance.now() - t0;
  header.setTimings(timings);
  if (currentRunId !== msg.runId) return;
  post(resultForHost(loaded, timings));
}

window.addEventListener('message', (ev: MessageEvent) => {
  const msg: unknown = ev.data;
  if (!isMessage<HostToPanel>(msg, HOST_TO_PANEL_TYPES)) return;
  switch (msg.type) {
    case 'prepare':
      prepare(msg);
      break;
    case 'show':
      void show(msg);
      break;
    case 'compareText':
      void compareText.start(msg);
      break;
    case 'focusHead': {
      const h = msg.head;
      if (stacks?.has(h.stack)) selectStack(h.stack);
      if (!run?.ready || h.layer < 0 || h.layer >= run.layers) break;
      if (typeof h.head === 'number' && (h.head < 0 || h.head >= run.heads)) break;
      selectHead(h.layer, h.head);
      break;
    }
    case 'stale':
      header.setStale(msg.reason);
      break;
    case 'error':
      progressLine.clear();
      header.setError(msg.message);
      break;
    case 'showView':
      if (msg.view === 'tokens' || msg.view === 'heatmap' || msg.view === 'lines' || msg.view === 'grid' || msg.view === 'metrics' || msg.view === 'residual') {
        state.view = msg.view;
        changed();
      }
      break;
    case 'refusal':
      header.setRefusal(msg.message);
      break;
    case 'editorHover':
      setHover(msg.tokenIndex !== null && run && msg.tokenIndex >= 0 && msg.tokenIndex < run.T ? msg.tokenIndex : null);
      break;
    case 'exportView':
      viewExport.send(msg.format, true);
      break;
    case 'headAggregate':
      aggregate = msg;
      if (state.view === 'metrics' || state.view === 'grid') render();
      break;
    case 'query': {
      // The worker owns the stacks: the host's question goes there, and the answer comes back under the host's id.
      const hostId = msg.id;
      void client.query(msg.runId, msg.query, msg.weighted === true).then((a) => post({ ...a, id: hostId, runId: msg.runId }));
      break;
    }
    default:
      assertNever(msg);
  }
});

wireToolbar({ post, run: () => run, view: () => state.view, layer: () => state.layer, head: () => state.head, stack: stackKind });

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.locked !== null) setLock(null);
});

watchTheme(() => {
  theme = readTheme();
  heatmap.invalidate();
  grid.invalidate();
  compareText.invalidate();
  render();
});

new ResizeObserver(() => { if (state.view !== 'tokens') render(); })
  .observe(document.getElementById('views')!);

tabs.show(state.view);
post({ type: 'ready' });
