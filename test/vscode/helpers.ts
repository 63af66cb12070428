/**
 * Helpers for the extension-host suite (runs inside a real VS Code: test-electron or code-server).
 * Everything goes through the public test API that activate() returns (src/api.ts) and VS Code's own
 * API. Nothing here asserts on time: waits are generous and exist only so a hung run fails with a clear
 * message instead of hanging.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { AttentionLensApi, RunSnapshot, UserMessage } from '../../src/api';

export const EXTENSION_ID = 'attention-lens.attention-lens';
export const COMMAND = 'attentionLens.showAttention';

/** Repository root: the folder above out/test/… whose package.json is this extension's. */
export const repoRoot = (() => {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'attention-lens') return dir;
      } catch { /* keep looking */ }
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..', '..');
})();

export const fixture = (name: string): string => path.join(repoRoot, 'test', 'fixtures', name);

/** The bundled model's context length (tokens per run). */
export function modelContext(): number {
  const cfg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'lens-gpt', 'config.json'), 'utf8'));
  return cfg.n_ctx ?? cfg.n_positions ?? cfg.max_position_embeddings;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it returns a truthy value; fails with `what` after `limitMs` (a hang guard, not a timing assertion). */
export async function waitFor<T>(cond: () => T | undefined | null | false, what: string, limitMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

let apiPromise: Promise<AttentionLensApi> | undefined;
/** Activates the extension and returns its test API. */
export function getApi(): Promise<AttentionLensApi> {
  apiPromise ??= (async () => {
    const ext = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is not loaded`);
    const api = await ext.activate();
    assert.ok(api && typeof api.lastRun === 'function' && typeof api.waitForRun === 'function',
      'activate() returns the AttentionLensApi');
    return api;
  })();
  return apiPromise;
}

const tmpDir = path.join(os.tmpdir(), `attention-lens-tests-${process.pid}`);
let tmpCount = 0;

/** Writes `content` byte-for-byte to a fresh temporary file and opens it in an editor. */
export async function openFile(content: string, name = 'doc.txt'): Promise<vscode.TextEditor> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const file = path.join(tmpDir, `${++tmpCount}-${name}`);
  fs.writeFileSync(file, content, 'utf8');
  return openPath(file);
}

/** Opens an existing file in an editor (not as a preview, so later opens do not replace it). */
export async function openPath(file: string): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  return vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.One });
}

/** Selects [startOffset, endOffset) of the document (UTF-16 offsets). */
export function selectOffsets(editor: vscode.TextEditor, startOffset: number, endOffset: number): vscode.Selection {
  const doc = editor.document;
  const sel = new vscode.Selection(doc.positionAt(startOffset), doc.positionAt(endOffset));
  editor.selection = sel;
  return sel;
}

export function selectAll(editor: vscode.TextEditor): vscode.Selection {
  return selectOffsets(editor, 0, editor.document.getText().length);
}

/** What one execution of the command led to. */
export interface Outcome {
  /** The run the command started, settled (result or error); undefined when it started none. */
  readonly run?: RunSnapshot;
  /** Messages shown to the user while the command ran. */
  readonly messages: readonly UserMessage[];
}

/**
 * Executes "Attention Lens: Show Attention" on the active editor and waits until the run it started has
 * a result or an error. The command returns the id of the run it started, or undefined when it started
 * none: then it has already told the user why (a refusal is shown before the command returns), so the
 * messages are read at once, with no grace period for late ones.
 */
export async function showAttention(api: AttentionLensApi): Promise<Outcome> {
  const before = api.lastRun()?.runId;
  const msgCount = api.messages().length;
  const newMessages = () => api.messages().slice(msgCount);
  const runId = await withinGuard(Promise.resolve(vscode.commands.executeCommand<unknown>(COMMAND)),
    () => `the command did not return (last run: ${describeRun(api.lastRun())}; new messages: ${JSON.stringify(newMessages())})`);
  if (runId === undefined) {
    const last = api.lastRun();
    assert.equal(last?.runId, before, `the command returned no run id but started run ${describeRun(last)}`);
    const errorShown = newMessages().find((m) => m.kind === 'error');
    if (errorShown) throw new Error(`the command showed an error and started no run: ${errorShown.text}`);
    assert.ok(newMessages().length > 0, 'the command started no run and did not tell the user why');
    return { messages: newMessages() };
  }
  assert.equal(typeof runId, 'number', `the command returns a run id (got ${JSON.stringify(runId)})`);
  const run = await withinGuard(api.waitForRun(runId as number),
    () => `run ${runId as number} did not finish (last run: ${describeRun(api.lastRun())}; new messages: ${JSON.stringify(newMessages())})`);
  return { run: api.lastRun()?.runId === run.runId ? api.lastRun() : run, messages: newMessages() };
}

/** `p`, or a rejection naming `what()` once the hang guard runs out (a hang guard, not a timing assertion). */
async function withinGuard<T>(p: Promise<T>, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      hung.count++;
      reject(new Error(`gave up waiting: ${what()}`));
    }, guardMs());
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** A short description of a run for failure messages. */
export function describeRun(run: RunSnapshot | undefined): string {
  if (!run) return 'none';
  return JSON.stringify({ runId: run.runId, tokens: run.tokens.length, shapes: run.shapes, error: run.error,
    notices: run.notices, backendUsed: run.backendUsed, stale: run.stale });
}

/**
 * How long a run may take before the helper gives up: generous (the first run loads onnxruntime and the
 * model into the webview), but once a run in this session has hung, later ones get less, so a broken
 * panel fails the suite in minutes rather than after every test's full wait. Shared across the suite's
 * bundles through globalThis.
 */
const hung: { count: number } = ((globalThis as Record<string, unknown>).__attentionLensHung ??= { count: 0 }) as { count: number };
const guardMs = () => (hung.count === 0 ? 100_000 : 30_000);

/** Runs the command and insists that it produced a successful run. */
export async function showAttentionRun(api: AttentionLensApi): Promise<RunSnapshot> {
  const out = await showAttention(api);
  assert.ok(out.run, `expected a run; messages: ${JSON.stringify(out.messages)}`);
  assert.equal(out.run.error, undefined, `run failed: ${out.run.error}`);
  assert.ok(out.run.shapes, 'the run has attention');
  return out.run;
}

/** Tokens that have a range in the text (special tokens have -1). */
export const rangedTokens = (run: RunSnapshot) => run.tokens.filter((t) => t.start >= 0);

/**
 * Attention invariants: shape [L,H,T,T] with T = number of tokens, every row sums to 1 (1e-5), exact
 * zeros above the diagonal for a causal model, finite non-negative entries.
 */
export async function checkAttention(run: RunSnapshot): Promise<void> {
  // The host holds no stack: the test API asks the panel's worker for every head.
  const a = await (await getApi()).attention(run.runId);
  assert.ok(run.backendUsed === 'wasm' || run.backendUsed === 'webgpu', `backendUsed is set (got ${run.backendUsed})`);
  const T = a.queries;
  assert.equal(T, run.tokens.length, 'attention is T×T with T = number of tokens');
  assert.equal(a.keys, T, 'self-attention: as many keys as queries');
  assert.ok(a.layers >= 1 && a.heads >= 1, 'at least one layer and head');
  assert.equal(a.data.length, a.layers * a.heads * T * T, 'data length = L*H*T*T');
  assert.equal(a.causal, true, 'the bundled model is causal');
  for (let l = 0; l < a.layers; l++) {
    for (let h = 0; h < a.heads; h++) {
      const base = (l * a.heads + h) * T * T;
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const v: number = a.data[base + i * T + j];
          if (!(Number.isFinite(v) && v >= 0)) assert.fail(`L${l} H${h} [${i},${j}] = ${v} is not a finite non-negative weight`);
          if (j > i && v !== 0) assert.fail(`L${l} H${h} [${i},${j}] = ${v}: not exactly 0 above the diagonal`);
          sum += v;
        }
        if (Math.abs(sum - 1) > 1e-5) assert.fail(`L${l} H${h} row ${i} sums to ${sum}, not 1 (±1e-5)`);
      }
    }
  }
}

/** The token ranges tile run.text: in order, no gaps, no overlaps (empty ranges allowed for byte fragments). */
export function checkTiling(run: RunSnapshot): void {
  let pos = 0;
  let pieces = '';
  for (const [k, t] of run.tokens.entries()) {
    if (t.start < 0) {
      assert.equal(t.end, -1, `token ${k} (special) has start -1 and end -1`);
      continue;
    }
    assert.equal(t.start, pos, `token ${k} ${JSON.stringify(t.text)} starts at ${t.start}, previous ended at ${pos}`);
    assert.ok(t.end >= t.start, `token ${k} has end ${t.end} >= start ${t.start}`);
    pieces += run.text.slice(t.start, t.end);
    pos = t.end;
  }
  assert.equal(pos, run.text.length, 'the last token ends at the end of the text');
  assert.equal(pieces, run.text, 'the token ranges concatenate to the text');
}

/** True for a token whose text is a whole piece of the document (not a byte fragment of a character). */
export const isOrdinary = (t: { text: string; start: number; end: number }) =>
  t.start >= 0 && t.end > t.start && t.text.length > 0 && !t.text.includes('\uFFFD');

/**
 * Every ordinary token's range, mapped into the document, spells the token's text. Ranges are compared
 * through VS Code positions (`positionAt` → `getText(Range)`); a boundary that falls between the \r and
 * \n of a CRLF has no VS Code position, so such tokens are compared by document offset instead.
 */
export function checkDocumentRanges(doc: vscode.TextDocument, run: RunSnapshot): number {
  const full = doc.getText();
  const off = run.documentOffset;
  assert.equal(full.slice(off, off + run.text.length), run.text, 'run.text sits at documentOffset in the document');
  const insideCrlf = (o: number) => o > 0 && full[o - 1] === '\r' && full[o] === '\n';
  let checked = 0;
  for (const [k, t] of run.tokens.entries()) {
    if (!isOrdinary(t)) continue;
    const a = off + t.start;
    const b = off + t.end;
    if (insideCrlf(a) || insideCrlf(b)) {
      assert.equal(full.slice(a, b), t.text, `token ${k} ${JSON.stringify(t.text)} by offset`);
    } else {
      const got = doc.getText(new vscode.Range(doc.positionAt(a), doc.positionAt(b)));
      assert.equal(got, t.text, `token ${k} ${JSON.stringify(t.text)} at [${t.start},${t.end}) maps to ${JSON.stringify(got)}`);
    }
    checked++;
  }
  return checked;
}

/** Closes all editors without saving (tests never save). */
export async function closeAll(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.files.revert').then(undefined, () => undefined);
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}
