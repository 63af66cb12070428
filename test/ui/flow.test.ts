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

/** Row `query` of layer/head attention for `text` on the bundled model: host tokenizer + tap + onnxruntime-node. */
async function referenceRow(text: string, layer: number, head: number, query: number): Promise<{ tokens: number; row: Float32Array }> {
  const tokenizer = createTokenizer(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')));
  const ids = tokenizeWithLimit(tokenizer, text, 128).tokens.map((t) => t.id);
  const session = await openTapped(ortNode, readBundledOnnx(), { intraOpNumThreads: 1 });
  const { attention: a } = await runTapped(ortNode, session, ids);
  const T = a.queries;
  const start = ((layer * a.heads + head) * T + query) * T;
  return { tokens: T, row: a.data.slice(start, start + T) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
      await sleep(1_000);
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
      await sleep(2_000);
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

/** The webview (two nested iframes) whose document has `selector`. */
async function findWebview(page: Page, selector: string, limitMs: number): Promise<FrameLocator> {
  const t0 = Date.now();
  for (;;) {
    const n = await page.locator('iframe.webview.ready').count();
    for (let i = 0; i < n; i++) {
      const fl = page.frameLocator(`iframe.webview.ready >> nth=${i}`).frameLocator('iframe#active-frame');
      if (await fl.locator(selector).count().catch(() => 0)) return fl;
    }
    if (Date.now() - t0 > limitMs) {
      throw new Error(`no webview with ${selector} appeared (${n} webview(s) open). ${await whatTheUserSees(page)}`);
    }
    await sleep(500);
  }
}

/**
 * Decorations the extension drew in the text editors: elements whose class comes from a
 * TextEditorDecorationType (VS Code names them `ced-…-TextEditorDecorationType…`), each as
 * `class|left,top,width|computed background colour`.
 */
async function editorDecorations(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    // Runs in the page; the project's tsconfig has no DOM lib (it would leak into host code), hence `any`.
    const w = globalThis as any;
    const document = w.document;
    const getComputedStyle = (el: any, pseudo?: string) => w.getComputedStyle(el, pseudo);
    const out: string[] = [];
    const editors = Array.from<any>(document.querySelectorAll('.monaco-editor'));
    for (const ed of editors) {
      for (const el of Array.from<any>(ed.querySelectorAll('[class*="TextEditorDecorationType"]'))) {
        const s = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        out.push(`${el.className}|${Math.round(r.left)},${Math.round(r.top)},${Math.round(r.width)}|${s.backgroundColor}`);
      }
    }
    return out;
  });
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
    await runCommand(page, COMMAND_TITLE);
    panel = await findWebview(page, 'span.token[data-token-index]', 180_000);
    const backend = panel.locator('#backend');
    await backend.waitFor({ timeout: 180_000 });
    const t0 = Date.now();
    let text = '';
    while (!/wasm|webgpu/i.test(text)) {
      text = (await backend.textContent()) ?? '';
      if (Date.now() - t0 > 300_000) {
        throw new Error(`#backend never named a backend (shows ${JSON.stringify(text)}). ${await whatTheUserSees(page)}`);
      }
      await sleep(500);
    }
    console.log(`    backend: ${text.trim()}`);
    assert.ok((await panel.locator('span.token[data-token-index]').count()) >= 5, 'the sentence is shown as tokens');
    await shot(page, 'ui-1-panel');
  });

  it('hovering a token highlights earlier targets in the panel and decorates the editor', async () => {
    assert.ok(panel, 'the panel opened (see the previous test)');
    const tokens = panel.locator('span.token[data-token-index]');
    const count = await tokens.count();
    const before = new Set(await editorDecorations(page));
    // A token in the middle of the sentence, so it has earlier tokens to attend to.
    const k = Math.min(count - 1, Math.max(1, Math.floor(count / 2)));
    const hovered = tokens.nth(k);
    const hoveredIndex = Number(await hovered.getAttribute('data-token-index'));
    await hovered.hover();

    const targets = panel.locator('.target[data-weight]');
    const t0 = Date.now();
    while ((await targets.count()) === 0) {
      if (Date.now() - t0 > 60_000) throw new Error('no .target[data-weight] appeared after hovering a token');
      await hovered.hover();
      await sleep(250);
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

    // The targets are painted in the editor: new decoration elements with a visible background (the
    // focused token's outline alone does not count).
    const t1 = Date.now();
    let added: string[] = [];
    let painted: string[] = [];
    for (;;) {
      added = (await editorDecorations(page)).filter((d) => !before.has(d));
      painted = added.filter((d) => !/\|(transparent|rgba\([^)]*,\s*0\))$/.test(d));
      if (painted.length) break;
      if (Date.now() - t1 > 60_000) {
        await shot(page, 'ui-2-hover');
        const unpainted = added.filter((d) => !painted.includes(d)).map((d) => d.split('|')[0]);
        throw new Error(`no editor decoration with a visible background appeared after the hover ` +
          `(${added.length} new decoration element(s), ${unpainted.length} with a transparent background: ` +
          `${[...new Set(unpainted)].join(', ')}; a ThemeColor whose default is not #hex resolves to transparent)`);
      }
      await hovered.hover();
      await sleep(250);
    }
    console.log(`    editor decorations added by the hover: ${added.length} (${painted.length} with a background)`);
    await shot(page, 'ui-2-hover');
  });
});
