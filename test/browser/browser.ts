/**
 * Browser-test helpers: launches Debian's Chromium through playwright-core with a fresh profile, opens a
 * webview document with a stand-in acquireVsCodeApi() that records posted messages in window.__posted,
 * and tokenizes reference texts with the real tokenizer in Node. Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { chromium, type Browser as PlaywrightBrowser, type BrowserContext, type Page } from 'playwright-core';
import { byteLevelRanges } from '../../src/shared/offsets';
import type { TokenInfo } from '../../src/shared/protocol';
import { bundledModelDir, repoRoot } from '../support/model';
import type { ThemeClass } from './theme';

/** Flags every launch uses (the closed network makes background services noisy). */
export const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** One test file's view of the shared browser: pages it opens live in a context shared by the whole run. */
export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** One Chromium context per set of launch flags, started on first use and closed after the last test file. */
const shared = new Map<string, Promise<{ browser: PlaywrightBrowser; context: BrowserContext }>>();

/** Closes the shared Chromium processes (a root-level mocha hook calls it once every file has run). */
export async function closeSharedBrowsers(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map(async (b) => (await b).browser.close()));
}

// Root-level hook: registered when the first test file imports this module, it runs after every suite.
if (typeof after === 'function') after(closeSharedBrowsers);

/**
 * The shared /usr/bin/chromium context for these flags (`webgpu` adds --enable-unsafe-webgpu: a
 * SwiftShader adapter). One process and one context for the run, instead of one per file, lets later
 * files reuse the compiled onnxruntime .wasm from the code cache. Each page still starts its own worker
 * and session, and close() closes the pages this handle's file opened.
 */
export async function launch(opts: { webgpu: boolean }): Promise<Browser> {
  const key = opts.webgpu ? 'webgpu' : 'plain';
  let entry = shared.get(key);
  if (!entry) {
    entry = (async () => {
      const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
        headless: true,
        args: [...BASE_FLAGS, ...(opts.webgpu ? ['--enable-unsafe-webgpu'] : [])],
      });
      return { browser, context: await browser.newContext({ viewport: { width: 960, height: 760 }, deviceScaleFactor: 2 }) };
    })();
    shared.set(key, entry);
  }
  const { context } = await entry;
  const before = new Set(context.pages());
  return { context, close: async () => { await Promise.all(context.pages().filter((p) => !before.has(p)).map((p) => p.close())); } };
}

/** Script run before the page's own: the stand-in VS Code API and a CSP violation log. */
const INIT = `
  window.__posted = [];
  window.__csp = [];
  window.__console = [];
  let state;
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi called twice');
    acquired = true;
    return {
      postMessage: (m) => { window.__posted.push(m); },
      getState: () => state,
      setState: (s) => { state = JSON.parse(JSON.stringify(s)); },
    };
  };
  window.__getState = () => state;
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
  });
`;

/**
 * Opens `url` in a new page with the stand-in VS Code API; collects console errors into `errors`.
 * `savedState` is what getState() returns at first, as after VS Code restores a webview.
 */
export async function openWebview(browser: Browser, url: string, errors: string[] = [], savedState?: unknown): Promise<Page> {
  const page = await browser.context.newPage();
  await page.addInitScript(INIT.replace('let state;', `let state = ${JSON.stringify(savedState ?? null)} ?? undefined;`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as any).__posted.some((m: any) => m.type === 'ready'), undefined, { timeout: 30000 });
  return page;
}

/** Delivers a host message to the webview as VS Code would (a window message event). */
export async function deliver(page: Page, msg: unknown): Promise<void> {
  await page.evaluate((m) => (globalThis as any).postMessage(m, '*'), msg);
}

/**
 * Waits until the webview has posted a message matching type (and runId, if given); returns it, buffers as arrays.
 * A 'result' carries only the stacks' shapes (the worker keeps the data): its `stacks` (and `attention`, the first)
 * are then read back the way the host asks, one 'query' per head (stacksOf).
 */
export async function waitForPosted(page: Page, type: string, runId?: number, timeout = 120000): Promise<any> {
  await page.waitForFunction(({ type, runId }) => (globalThis as any).__posted.some((m: any) => m.type === type
    && (runId === undefined || m.runId === runId)), { type, runId }, { timeout, polling: 100 });
  const plain = await page.evaluate(({ type, runId }) => {
    const m = (globalThis as any).__posted.find((x: any) => x.type === type && (runId === undefined || x.runId === runId));
    return JSON.parse(JSON.stringify(m, (_k, v) => (v instanceof ArrayBuffer ? undefined : v)));
  }, { type, runId });
  if (type === 'result' && Array.isArray(plain.shapes)) {
    plain.stacks = await stacksOf(page, plain.runId, plain.shapes);
    plain.attention = plain.stacks[0];
  }
  return plain;
}

/**
 * Every stack of run `runId`, asked of the panel as the host asks: one 'query' message per head for its full
 * matrix, each answered by an 'answer' with the same id. Data as plain arrays.
 */
export async function stacksOf(page: Page, runId: number, shapes: readonly any[]): Promise<any[]> {
  return page.evaluate(async ({ runId, shapes }) => {
    const g = globalThis as any;
    const ask = (query: unknown) => new Promise<any>((resolve, reject) => {
      const id = (g.__testQueryId = (g.__testQueryId ?? 1_000_000) + 1);
      const look = () => {
        const a = g.__posted.find((m: any) => m.type === 'answer' && m.id === id);
        if (!a) return void g.requestAnimationFrame(look);
        if (a.error) reject(new Error(a.error));
        else resolve(a.answer);
      };
      g.postMessage({ type: 'query', id, runId, query }, '*');
      look();
    });
    const out = [];
    for (const s of shapes) {
      const n = s.queries * s.keys;
      const data = new Float32Array(s.layers * s.heads * n);
      for (let l = 0; l < s.layers; l++) {
        for (let h = 0; h < s.heads; h++) {
          const a = await ask({ kind: 'matrix', head: { stack: s.kind === 'encoder' ? 'self' : s.kind, layer: l, head: h } });
          if (a.pooled || a.rows * a.cols !== n) throw new Error(`L${l} H${h} came back ${a.rows}×${a.cols}`);
          data.set(new Float32Array(a.data), (l * s.heads + h) * n);
        }
      }
      out.push({ ...s, data: Array.from(data) });
    }
    return out;
  }, { runId, shapes });
}

/** Messages of one type posted so far (without buffers). */
export async function postedOfType(page: Page, type: string): Promise<any[]> {
  return page.evaluate((type) => JSON.parse(JSON.stringify((globalThis as any).__posted.filter((m: any) => m.type === type),
    (_k, v) => (v instanceof ArrayBuffer ? undefined : v))), type);
}

/** Tokenizes `text` with the model's tokenizer.json (pure-JS tokenizer) and maps each token to its range. */
export function tokenize(modelDir: string, text: string): TokenInfo[] {
  const json = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8'));
  const tok = new Tokenizer(json, {});
  const enc = tok.encode(text, { add_special_tokens: false });
  const special = new Set<string>((json.added_tokens ?? []).map((t: { content: string }) => t.content));
  const ranges = byteLevelRanges(text, enc.tokens, special);
  return enc.ids.map((id: number, i: number) => {
    const r = ranges[i];
    return { id, text: r ? text.slice(r[0], r[1]) : enc.tokens[i], start: r ? r[0] : -1, end: r ? r[1] : -1 };
  });
}

/** Tokens for `ids` over a text of their numbers separated by spaces (for models whose ids need no tokenizer here). */
export function numberTokens(ids: readonly number[]): { text: string; tokens: TokenInfo[] } {
  let at = 0;
  const tokens = ids.map((id) => {
    const text = String(id);
    const t = { id, text, start: at, end: at + text.length };
    at += text.length + 1;
    return t;
  });
  return { text: ids.join(' '), tokens };
}

/** The text the real tokenizer decodes token `id` of the model to, with whitespace made visible as the panel shows it. */
export function decodeToken(modelDir: string, id: number): string {
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')), {});
  return tok.decode([id]).replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥');
}

/** Folder for screenshots (test-output/screenshots under the repository root). */
export function screenshotDir(repoRoot: string): string {
  const dir = path.join(repoRoot, 'test-output', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Switches the test page's theme by body class, as VS Code does (the test stylesheet keys the variables on it). */
export async function setTheme(page: Page, kind: ThemeClass): Promise<void> {
  await page.evaluate((kind) => {
    const body = (globalThis as any).document.body;
    body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light');
    body.classList.add(kind);
  }, kind);
  await nextFrames(page);
}

/** Sets `--vscode-*` variables (names without the prefix) on <html> as VS Code does, leaving the body class alone. */
export async function setThemeVariables(page: Page, vars: Record<string, string>): Promise<void> {
  await page.evaluate((vars) => {
    const root = (globalThis as any).document.documentElement;
    for (const [k, v] of Object.entries(vars)) root.style.setProperty(`--vscode-${k}`, v);
  }, vars);
  await nextFrames(page);
}

/** Waits two animation frames (observers re-render, then the browser paints). */
export async function nextFrames(page: Page): Promise<void> {
  await page.evaluate(() => new Promise((r) => (globalThis as any).requestAnimationFrame(() => (globalThis as any).requestAnimationFrame(r))));
}

/** Saves a full-page screenshot (after the next frames) to test-output/screenshots/<name>, prints and returns its path. */
export async function shot(page: Page, name: string): Promise<string> {
  const file = path.join(screenshotDir(repoRoot), name);
  await nextFrames(page);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    screenshot: ${file}`);
  return file;
}

/** Picks `value` in the toolkit dropdown #id by clicking it open and clicking the option, and waits until it holds. */
export async function selectDropdown(page: Page, id: string, value: string): Promise<void> {
  await page.locator(`#${id}`).click();
  await page.locator(`#${id} vscode-option[value="${value}"]`).click();
  await page.waitForFunction(({ id, value }) => (globalThis as any).document.getElementById(id).value === value, { id, value });
}

/** A 'show' message running the bundled model (lens-gpt) on `text` with WASM, as the host sends it; `extra` adds or overrides fields. */
export function bundledShow(origin: string, runId: number, documentLabel: string, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const config = JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'config.json'), 'utf8'));
  return {
    type: 'show', runId, documentLabel, text, tokens: tokenize(bundledModelDir, text),
    model: {
      name: 'lens-gpt (bundled)', onnxUri: `${origin}/models/lens-gpt/onnx/model.onnx`, maxTokens: config.n_positions,
      extraInputs: [], tokenizerUri: `${origin}/models/lens-gpt/tokenizer.json`,
    },
    backend: 'wasm', notices: [], timings: {}, ...extra,
  };
}
