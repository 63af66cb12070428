/**
 * The user's flow, end to end, in a real VS Code (code-server) driven through a real browser (Debian
 * Chromium + playwright-core): open a file, select a sentence, run "Attention Lens: Show Attention" from
 * the command palette, wait for the panel to compute attention, hover a token, and check both the
 * highlighted targets in the panel and the decorations in the editor. Screenshots go to
 * test-output/screenshots/. Runs in Node under mocha (`mocha out/test/ui/**\/*.test.js`).
 *
 * No assertion is about time: every wait is generous and only stops a hang.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { createTokenizer, tokenizeWithLimit } from '../../src/host/tokenize';
import { selectTargets } from '../../src/shared/attention';
import { bundledModelDir, readBundledOnnx } from '../support/model';
import { openTapped, runTapped } from '../support/run-tapped';

const repoRoot = (() => {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'attention-lens') return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..');
})();
const screenshotDir = path.join(repoRoot, 'test-output', 'screenshots');
const ortNode = require('onnxruntime-node');
const COMMAND_TITLE = 'Attention Lens: Show Attention';

interface CodeServerHandle { url: string; logPath: string; stop(): Promise<void> }
interface CodeServerModule {
  ensureCodeServer(o?: { quiet?: boolean }): Promise<unknown>;
  startCodeServer(o: { workspace: string; extensionDevelopmentPath: string }): Promise<CodeServerHandle>;
  launchChromium(o?: { args?: string[] }): Promise<Browser>;
}
/** scripts/code-server.mjs, loaded at run time (it is ESM and must stay outside this CJS bundle). */
async function codeServerModule(): Promise<CodeServerModule> {
  const url = pathToFileURL(path.join(repoRoot, 'scripts', 'code-server.mjs')).href;
  return (await import(url)) as CodeServerModule;
}

/** Row `query` of layer/head attention for `text` on the bundled model (host tokenizer + tap + onnxruntime-node), and the tokens' ranges in `text`. */
async function referenceRow(text: string, layer: number, head: number, query: number):
  Promise<{ tokens: number; row: Float32Array; ranges: [number, number][] }> {
  const tokenizer = createTokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')));
  const tokenized = tokenizeWithLimit(tokenizer, text, 128).tokens;
  const ids = tokenized.map((t) => t.id);
  const session = await openTapped(ortNode, readBundledOnnx(), { intraOpNumThreads: 1 });
  const { attention: a } = await runTapped(ortNode, session, ids);
  const T = a.queries;
  const start = ((layer * a.heads + head) * T + query) * T;
  return { tokens: T, row: a.data.slice(start, start + T), ranges: tokenized.map((t) => [t.start, t.end] as [number, number]) };
}

async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`    screenshot: ${file}`);
  return file;
}

/** Runs a command from the palette (F1), retrying: the first try sometimes does not list it yet. */
async function runCommand(page: Page, title: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input, .quick-input-widget input').first();
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 5_000 });
      await page.keyboard.press('Enter');
      return;
    } catch (err) {
      await page.keyboard.press('Escape');
      if (attempt >= 12) throw new Error(`the command palette never listed "${title}": ${String(err)}`);
      // Each try already waited 5 s for the row; the next opens the palette afresh once this one has closed.
      await input.waitFor({ state: 'hidden', timeout: 30_000 });
    }
  }
}

/** Opens a workspace file with Quick Open (ctrl+p). */
async function quickOpen(page: Page, fileName: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input').first();
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    await input.fill(fileName);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: fileName }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      await page.keyboard.press('Enter');
      await page.locator(`.tabs-container .tab.active`, { hasText: fileName }).waitFor({ timeout: 30_000 });
      return;
    } catch (err) {
      await page.keyboard.press('Escape');
      if (attempt >= 6) throw new Error(`Quick Open never found ${fileName}: ${String(err)}`);
      await input.waitFor({ state: 'hidden', timeout: 30_000 });
    }
  }
}

/** Notifications and the text of every webview, for failure messages. */
async function whatTheUserSees(page: Page): Promise<string> {
  const toasts = await page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts().catch(() => []);
  const views: string[] = [];
  const n = await page.locator('iframe.webview.ready').count().catch(() => 0);
  for (let i = 0; i < n; i++) {
    const body = page.frameLocator(`iframe.webview.ready >> nth=${i}`).frameLocator('iframe#active-frame').locator('body');
    views.push((await body.innerText({ timeout: 5_000 }).catch(() => '?')).replace(/\s+/g, ' ').slice(0, 400));
  }
  return `Notifications: ${JSON.stringify(toasts)}. Webviews: ${JSON.stringify(views)}`;
}

/**
 * The webview (two nested iframes) whose document has `selector`. Waits for whichever comes first: the
 * selector appearing in one of the webviews open now, or the number of webviews changing (then looks again).
 */
async function findWebview(page: Page, selector: string, limitMs: number): Promise<FrameLocator> {
  const deadline = Date.now() + limitMs;
  const webview = (i: number) => page.frameLocator(`iframe.webview.ready >> nth=${i}`).frameLocator('iframe#active-frame');
  for (;;) {
    const n = await page.locator('iframe.webview.ready').count();
    for (let i = 0; i < n; i++) {
      if (await webview(i).locator(selector).count().catch(() => 0)) return webview(i);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no webview with ${selector} appeared (${n} webview(s) open). ${await whatTheUserSees(page)}`);
    const appeared = Array.from({ length: n }, (_, i) => webview(i).locator(selector).first().waitFor({ state: 'attached', timeout: left }));
    const opened = page.waitForFunction((count) => (globalThis as any).document.querySelectorAll('iframe.webview.ready').length !== count,
      n, { timeout: left });
    // The losers of the race time out later on their own; their rejections are dropped.
    await Promise.any([...appeared, opened].map((p) => p.then(() => undefined))).catch(() => undefined);
  }
}

/**
 * The editor columns painted by the extension's decorations with a visible background, as a canonical
 * string: per decoration type (VS Code names their classes `ced-…-TextEditorDecorationType…`), the columns of
 * the top line it covers (a column counts when the centre of its character lies inside the element), as
 * ranges such as `4-9,16-19`; types sorted by the opacity of their background, faintest first (the weight
 * colours attentionLens.weight1..5 grow more opaque with the level in every theme), and joined by ` | `
 * (all merged into one when `partition` is false). A painted element on another line adds `elsewhere`. Runs in the page: it stores
 * what it found in `__alPainted` and returns whether that is `want`, so that it can be waited for.
 */
function paintedLayout(arg: { want: string; partition: boolean }): boolean {
  // Runs in the page; the project's tsconfig has no DOM lib (it would leak into host code), hence `any`.

  const w = globalThis as any;
  const document = w.document;
  const byType = new Map<string, { alpha: number; cols: Set<number> }>();
  const unpainted = new Set<string>();
  let elsewhere = 0;
  for (const ed of Array.from<any>(document.querySelectorAll('.monaco-editor'))) {
    const lines = Array.from<any>(ed.querySelectorAll('.view-lines .view-line')).map((el) => ({ el, r: el.getBoundingClientRect() }));
    if (lines.length === 0) continue;
    const top = Math.min(...lines.map((l) => l.r.top));
    const centres = new Map<any, number[]>();
    for (const el of Array.from<any>(ed.querySelectorAll('[class*="TextEditorDecorationType"]'))) {
      const type = String(el.className).split(/\s+/).find((c: string) => c.includes('TextEditorDecorationType')) ?? String(el.className);
      const background = String(w.getComputedStyle(el).backgroundColor);
      if (/^(transparent|rgba\([^)]*,\s*0\))$/.test(background)) {
        unpainted.add(type);
        continue;
      }
      const r = el.getBoundingClientRect();
      const mid = (r.top + r.bottom) / 2;
      const line = lines.find((l) => mid >= l.r.top && mid < l.r.bottom);
      if (!line || Math.abs(line.r.top - top) > 0.5) {
        elsewhere++;
        continue;
      }
      if (!centres.has(line.el)) {
        const xs: number[] = [];
        const walker = document.createTreeWalker(line.el, 4 /* NodeFilter.SHOW_TEXT */);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          for (let k = 0; k < n.length; k++) {
            const range = document.createRange();
            range.setStart(n, k);
            range.setEnd(n, k + 1);
            const b = range.getBoundingClientRect();
            xs.push((b.left + b.right) / 2);
          }
        }
        centres.set(line.el, xs);
      }
      const key = arg.partition ? type : 'all';
      const group = byType.get(key) ?? { alpha: Number(/^rgba\([^)]*,\s*([\d.]+)\)$/.exec(background)?.[1] ?? 1), cols: new Set<number>() };
      centres.get(line.el)!.forEach((x, c) => { if (x >= r.left && x < r.right) group.cols.add(c); });
      byType.set(key, group);
    }
  }
  const ranges = (cols: number[]): string => {
    const out: string[] = [];
    for (let k = 0; k < cols.length; k++) {
      let e = k;
      while (e + 1 < cols.length && cols[e + 1] === cols[e] + 1) e++;
      out.push(`${cols[k]}-${cols[e]}`);
      k = e;
    }
    return out.join(',');
  };
  const groups = [...byType.values()].filter((g) => g.cols.size > 0).sort((x, y) => x.alpha - y.alpha)
    .map((g) => [...g.cols].sort((x, y) => x - y));
  const got = groups.map(ranges).join(' | ') + (elsewhere ? ` | elsewhere ×${elsewhere}` : '');
  w.__alPainted = { got, unpainted: [...unpainted] };
  return got === arg.want;
}

/** The canonical form paintedLayout() gives for `groups` (faintest first), each a list of [start, end) column ranges. */
function layoutOf(groups: [number, number][][]): string {
  return groups.map((g) => g.flatMap(([s, e]) => Array.from({ length: e - s }, (_, k) => s + k)).sort((x, y) => x - y))
    .filter((cols) => cols.length > 0)
    .map((cols) => {
      const out: string[] = [];
      for (let k = 0; k < cols.length; k++) {
        let e = k;
        while (e + 1 < cols.length && cols[e + 1] === cols[e] + 1) e++;
        out.push(`${cols[k]}-${cols[e]}`);
        k = e;
      }
      return out.join(',');
    }).join(' | ');
}

/**
 * The editor's decoration levels for one attention row, as the product documents them (written out here, not
 * imported): a token is painted when its weight is at least a tenth of the row's largest, at level
 * ⌈5 · weight / max⌉. `ambiguous` is set when a ratio sits within 1e-4 of a level boundary, where the
 * panel's WASM numbers and onnxruntime-node's could round to different levels.
 */
function decorationLevels(row: ArrayLike<number>): { levels: number[]; ambiguous: boolean } {
  const max = Math.max(...Array.from(row));
  let ambiguous = false;
  const levels = Array.from(row, (w) => {
    const ratio = w / max;
    if ([0.1, 0.2, 0.4, 0.6, 0.8].some((b) => Math.abs(ratio - b) < 1e-4)) ambiguous = true;
    return ratio >= 0.1 ? Math.min(5, Math.max(1, Math.ceil(ratio * 5))) : 0;
  });
  return { levels, ambiguous };
}

describe('UI flow in code-server + Chromium', function () {
  this.timeout(20 * 60_000);
  let cs: CodeServerHandle | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let panel: FrameLocator;
  let failed = false;

  before(async function () {
    this.timeout(15 * 60_000); // includes a first-time code-server install
    const mod = await codeServerModule();
    await mod.ensureCodeServer();
    const ws = path.join(repoRoot, '.vscode-test', 'workspaces', `ui-${process.pid}`);
    fs.rmSync(ws, { recursive: true, force: true });
    fs.cpSync(path.join(repoRoot, 'test', 'fixtures'), ws, { recursive: true });
    // ATTENTION_LENS_EXTENSION_PATH loads another build of the extension (e.g. a stub while debugging the harness).
    const extensionDevelopmentPath = path.resolve(process.env.ATTENTION_LENS_EXTENSION_PATH ?? repoRoot);
    cs = await mod.startCodeServer({ workspace: ws, extensionDevelopmentPath });
    browser = await mod.launchChromium();
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(cs.url);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  after(async () => {
    if (failed && page) await shot(page, 'ui-flow-failure').catch(() => undefined);
    if (failed && cs) console.log(`    code-server log: ${cs.logPath}`);
    await browser?.close().catch(() => undefined);
    await cs?.stop();
  });

  it('the workbench loads with the workspace', async () => {
    await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 120_000 });
  });

  it('opens prose.txt and selects its first sentence', async () => {
    await quickOpen(page, 'prose.txt');
    const editor = page.locator('.editor-instance .monaco-editor .view-lines').first();
    await editor.click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Shift+End');
    await page.locator('.monaco-editor .selected-text').first().waitFor({ timeout: 30_000 });
  });

  it(`runs "${COMMAND_TITLE}" and the panel computes attention`, async () => {
    const started = Date.now();
    await runCommand(page, COMMAND_TITLE);
    // When the panel first says what it is doing (its progress line), then when its tokens are drawn.
    await findWebview(page, '#progress:not([hidden]), span.token[data-token-index]', 180_000);
    const progressAfter = Date.now() - started;
    panel = await findWebview(page, 'span.token[data-token-index]', 180_000);
    const backend = panel.locator('#backend');
    await backend.waitFor({ timeout: 180_000 });
    try {
      await backend.filter({ hasText: /wasm|webgpu/i }).waitFor({ timeout: 300_000 });
    } catch {
      throw new Error(`#backend never named a backend (shows ${JSON.stringify(await backend.textContent())}). ${await whatTheUserSees(page)}`);
    }
    const text = (await backend.textContent()) ?? '';
    console.log(`    backend: ${text.trim()}`);
    console.log(`    command → progress shown: ${progressAfter} ms, → backend shown: ${Date.now() - started} ms; ${((await panel.locator('#timings').textContent()) ?? '').trim()}`);
    // code-server opened without COOP/COEP: the webview is not cross-origin isolated, so WebAssembly runs one thread.
    if (/wasm/i.test(text)) assert.match(text.trim(), /^WASM · 1 thread\b/);
    assert.ok((await panel.locator('span.token[data-token-index]').count()) >= 5, 'the sentence is shown as tokens');
    await shot(page, 'ui-1-panel');
  });

  it('hovering a token highlights earlier targets in the panel and decorates the editor', async () => {
    assert.ok(panel, 'the panel opened (see the previous test)');
    const tokens = panel.locator('span.token[data-token-index]');
    const count = await tokens.count();
    // A token in the middle of the sentence, so it has earlier tokens to attend to.
    const k = Math.min(count - 1, Math.max(1, Math.floor(count / 2)));
    const hovered = tokens.nth(k);
    const hoveredIndex = Number(await hovered.getAttribute('data-token-index'));
    await hovered.hover();

    const targets = panel.locator('.target[data-weight]');
    // A hover the panel missed (it was still settling) is retried: move away, hover again, wait for targets.
    for (let attempt = 1; ; attempt++) {
      try {
        await targets.first().waitFor({ state: 'attached', timeout: 10_000 });
        break;
      } catch {
        if (attempt >= 6) throw new Error('no .target[data-weight] appeared after hovering a token');
        await page.mouse.move(0, 0);
        await hovered.hover();
      }
    }
    const found = await targets.evaluateAll((els) => els.map((e) => ({
      index: Number(e.getAttribute('data-token-index') ?? e.closest('[data-token-index]')?.getAttribute('data-token-index')),
      weight: Number(e.getAttribute('data-weight')),
    })));
    assert.ok(found.length > 0);
    for (const t of found) {
      assert.ok(t.weight > 0 && t.weight <= 1, `weight ${t.weight} is in (0, 1]`);
      assert.ok(Number.isInteger(t.index), 'a target is a token');
      assert.ok(t.index <= hoveredIndex, `causal: target ${t.index} is not after the hovered token ${hoveredIndex}`);
    }
    console.log(`    hovered token ${hoveredIndex}: ${found.length} target(s), weights ${found.map((t) => t.weight.toFixed(3)).join(' ')}`);

    // The same numbers as the model computes: the selected sentence tokenized as the host does, the shipped
    // ONNX tapped and run in onnxruntime-node, the row of the hovered token in the layer and head shown.
    const summary = (await panel.locator('#focus-summary').textContent()) ?? '';
    const shown = /\bin L(\d+) H(\d+)\b/.exec(summary);
    assert.ok(shown, `the summary names the layer and head: ${JSON.stringify(summary)}`);
    const [layer, head] = [Number(shown[1]), Number(shown[2])];
    const reference = await referenceRow(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'prose.txt'), 'utf8').split(/\r?\n/)[0],
      layer, head, hoveredIndex);
    assert.equal(count, reference.tokens, 'the panel shows the tokens the host tokenizer makes');
    assert.deepEqual(found.map((t) => t.index), selectTargets(reference.row), 'the highlighted targets are the row\'s');
    for (const t of found) {
      assert.ok(Math.abs(t.weight - reference.row[t.index]) <= 1e-4,
        `target ${t.index}: shown ${t.weight}, onnxruntime-node ${reference.row[t.index]}`);
    }

    // The editor paints exactly the tokens the row says, one decoration type per level, more opaque for a
    // higher level: the columns each type covers on the selected line, faintest type first, are the columns
    // of the tokens at level 1, 2, … (host tokenizer ranges).
    const { levels, ambiguous } = decorationLevels(reference.row);
    const painted = levels.flatMap((level, j) => (level > 0 ? [j] : []));
    assert.ok(painted.length >= 2, `the row paints at least two tokens (levels ${levels.join(' ')})`);
    const byLevel = [1, 2, 3, 4, 5].map((level) => reference.ranges.filter((_, j) => levels[j] === level));
    // Near a level boundary the two runtimes may round apart: then only the painted columns are compared.
    const want = ambiguous ? layoutOf([byLevel.flat()]) : layoutOf(byLevel);
    try {
      await page.waitForFunction(paintedLayout, { want, partition: !ambiguous }, { timeout: 60_000, polling: 100 });
    } catch {
      await shot(page, 'ui-2-hover');
      const seen = await page.evaluate(() => (globalThis as any).__alPainted) as { got: string; unpainted: string[] } | undefined;
      throw new Error(`the editor does not paint the hovered token's targets: want columns ${JSON.stringify(want)} ` +
        `(tokens ${painted.join(', ')}), painted ${JSON.stringify(seen?.got)}; decoration types with a transparent background: ` +
        `${seen?.unpainted.join(', ') || 'none'} (a ThemeColor whose default is not #hex resolves to transparent)`);
    }
    console.log(`    editor paints tokens ${painted.join(', ')} of the row (columns by level: ${want})`);
    await shot(page, 'ui-2-hover');
  });

  it('closing the panel and showing attention again opens a new panel that computes attention', async () => {
    await page.locator('.tabs-container .tab', { hasText: 'Attention:' }).first().click();
    await runCommand(page, 'View: Close Editor');
    await page.locator('.tabs-container .tab', { hasText: 'Attention:' }).waitFor({ state: 'detached', timeout: 30_000 });
    await quickOpen(page, 'prose.txt');
    await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Shift+End');
    const started = Date.now();
    await runCommand(page, COMMAND_TITLE);
    // When the panel first says what it is doing (its progress line), then when its tokens are drawn.
    await findWebview(page, '#progress:not([hidden]), span.token[data-token-index]', 180_000);
    const progressAfter = Date.now() - started;
    panel = await findWebview(page, 'span.token[data-token-index]', 180_000);
    await panel.locator('#backend').filter({ hasText: /wasm|webgpu/i }).waitFor({ timeout: 300_000 });
    console.log(`    reopen: command → progress shown: ${progressAfter} ms, → backend shown: ${Date.now() - started} ms; ${((await panel.locator('#timings').textContent()) ?? '').trim()}`);
    assert.ok((await panel.locator('span.token[data-token-index]').count()) >= 5, 'the reopened panel shows the tokens');
  });
});
