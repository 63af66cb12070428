// Runs the extension-host mocha suite (out/test/vscode/index.js → out/test/vscode/suite/*.test.js) inside a
// real VS Code and exits with the suite's exit code, printing mocha's output.
//
// Two ways to get a VS Code:
//   1. @vscode/test-electron, where a desktop VS Code is cached already (.vscode-test/vscode-*) or can be
//      downloaded (tried on every run with a display, bounded in time), or when ATTENTION_LENS_USE_ELECTRON=1
//      (or ATTENTION_LENS_VSCODE_EXECUTABLE=…). ATTENTION_LENS_USE_CODE_SERVER=1 skips the download attempt.
//   2. Otherwise code-server (scripts/code-server.mjs) + Debian Chromium: the workbench URL's payload names
//      the extension under development and extensionTestsPath, and the workbench reports the suite's exit
//      code through window.codeAutomationExit and the extension host's log through window.codeAutomationLog.
//
// Options: --no-build (skip `node scripts/build.mjs`), --grep <title> (ATTENTION_LENS_GREP; /…/ for a pattern),
//   --coi: cross-origin isolated, as a desktop user gets with `code --enable-coi`: desktop VS Code gets that flag;
//   code-server is opened with ?vscode-coi=3 through scripts/coi-proxy.mjs, which adds the COOP/COEP headers
//   code-server does not send. The suite sees ATTENTION_LENS_EXPECT_COI=1 (test/vscode/suite/7-threads.test.ts).
// Env: ATTENTION_LENS_TEST_RESULTS=<file> receives {passes, failures, pending, tests} as JSON;
//      ATTENTION_LENS_EXTENSION_PATH loads the extension from another folder;
//      ATTENTION_LENS_VSCODE_TIMEOUT_S (default 1500) guards against a hung suite.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { root, startCodeServer, launchChromium, tail } from './code-server.mjs';
import { startCoiProxy } from './coi-proxy.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const argValue = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const testsIndex = path.join(root, 'out', 'test', 'vscode', 'index.js');
const outputDir = path.join(root, 'test-output');
const timeoutS = Number(process.env.ATTENTION_LENS_VSCODE_TIMEOUT_S ?? 1500);
const grep = argValue('--grep');
const coi = args.includes('--coi');
// ATTENTION_LENS_EXTENSION_PATH loads another build of the extension (e.g. a stub while debugging the harness).
const extensionPath = path.resolve(process.env.ATTENTION_LENS_EXTENSION_PATH ?? root);
// Log lines from calls the closed network refuses (extension gallery, GitHub, …).
const NOISE = /ENOTFOUND|ECONNREFUSED|EAI_AGAIN|open-vsx|marketplace|getaddrinfo|Failed to fetch/i;
const say = (...a) => console.log('[vscode-tests]', ...a);

if (!args.includes('--no-build')) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (!fs.existsSync(testsIndex)) {
  console.error(`[vscode-tests] ${path.relative(root, testsIndex)} is missing; run npm run build`);
  process.exit(1);
}

const resultsFile = process.env.ATTENTION_LENS_TEST_RESULTS
  ?? path.join(os.tmpdir(), `attention-lens-vscode-results-${process.pid}.json`);
fs.rmSync(resultsFile, { force: true });
const suiteEnv = { ATTENTION_LENS_TEST_RESULTS: resultsFile, ...(grep ? { ATTENTION_LENS_GREP: grep } : {}),
  ...(coi ? { ATTENTION_LENS_EXPECT_COI: '1' } : {}) };

/** A fresh workspace: a copy of test/fixtures, so nothing a test does can touch the repository's files. */
function makeWorkspace() {
  const ws = path.join(root, '.vscode-test', 'workspaces', `suite-${process.pid}`);
  fs.rmSync(ws, { recursive: true, force: true });
  fs.mkdirSync(ws, { recursive: true });
  fs.cpSync(path.join(root, 'test', 'fixtures'), ws, { recursive: true });
  return ws;
}

/** A desktop VS Code that test-electron downloaded earlier, if any. */
function cachedVSCode() {
  if (process.env.ATTENTION_LENS_VSCODE_EXECUTABLE) return process.env.ATTENTION_LENS_VSCODE_EXECUTABLE;
  const dir = path.join(root, '.vscode-test');
  if (!fs.existsSync(dir)) return undefined;
  for (const d of fs.readdirSync(dir).filter((n) => n.startsWith('vscode-')).sort().reverse()) {
    const base = path.join(dir, d);
    if (!fs.existsSync(path.join(base, 'is-complete'))) continue; // test-electron's mark of a finished download
    for (const exe of ['code', 'Code.exe', 'Visual Studio Code.app/Contents/MacOS/Code',
      'Visual Studio Code.app/Contents/MacOS/Electron']) {
      if (fs.existsSync(path.join(base, exe))) return path.join(base, exe);
    }
  }
  return undefined;
}

async function runWithElectron(executable) {
  const { runTests } = require('@vscode/test-electron');
  const ws = makeWorkspace();
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-ud-'));
  say(`running in desktop VS Code via @vscode/test-electron${executable ? ` (${executable})` : ' (downloads VS Code)'}`);
  try {
    return await runTests({
      ...(executable ? { vscodeExecutablePath: executable } : {}),
      extensionDevelopmentPath: extensionPath,
      extensionTestsPath: testsIndex,
      extensionTestsEnv: suiteEnv,
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes',
        '--disable-gpu', '--user-data-dir', userData, ...(coi ? ['--enable-coi'] : [])],
    });
  } catch (err) {
    say(`test-electron: ${err?.message ?? err}`);
    return typeof err === 'number' ? err : 1;
  } finally {
    fs.rmSync(userData, { recursive: true, force: true });
  }
}

async function runWithCodeServer() {
  const ws = makeWorkspace();
  say('running in code-server (a real VS Code in Chromium; desktop VS Code cannot be downloaded here)');
  fs.rmSync(path.join(outputDir, 'vscode-logs'), { recursive: true, force: true });
  const t0 = Date.now();
  let cs;
  let proxy;
  let browser;
  let failed = true;
  const browserLog = [];
  const workbenchLog = path.join(outputDir, 'vscode-suite-workbench.log');
  let suiteStarted = () => false;
  try {
    cs = await startCodeServer({ workspace: ws, extensionDevelopmentPath: extensionPath, extensionTestsPath: testsIndex, env: suiteEnv });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    let finish;
    const finished = new Promise((resolve) => { finish = resolve; });
    // The workbench forwards its own log and the extension host's console here. All of it goes to a file;
    // stdout shows the suite's part (from the runner's first line on), minus noise from blocked network calls.
    fs.mkdirSync(outputDir, { recursive: true });
    const logStream = fs.createWriteStream(workbenchLog);
    let inSuite = false;
    let droppingStack = false;
    await page.exposeFunction('codeAutomationLog', (type, message) => {
      const text = Array.isArray(message) ? message.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' ')
        : typeof message === 'string' ? message : JSON.stringify(message);
      logStream.write(`[${type}] ${text}\n`);
      if (text.includes('[attention-lens tests]')) inSuite = true;
      if (!inSuite) return;
      for (const line of text.split('\n')) {
        if (NOISE.test(line)) { droppingStack = true; continue; }
        if (droppingStack && /^\s+at /.test(line)) continue;
        droppingStack = false;
        console.log(type === 'error' ? `  ! ${line}` : line);
      }
    });
    suiteStarted = () => inSuite;
    await page.exposeFunction('codeAutomationExit', (code, logs) => finish({ code, logs }));
    page.on('console', (m) => browserLog.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => browserLog.push(`[pageerror] ${e.message}`));
    let url = cs.url;
    if (coi) {
      proxy = await startCoiProxy(cs.port);
      url = `${proxy.base}${cs.url.slice(cs.base.length)}`;
      url += `${url.includes('?') ? '&' : '?'}vscode-coi=3`;
    }
    say(`opening ${url}`);
    await page.goto(url);
    if (coi) say(`workbench crossOriginIsolated: ${await page.evaluate(() => globalThis.crossOriginIsolated)}`);
    let timer;
    const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve({ code: 'timeout' }), timeoutS * 1000); });
    const { code, logs } = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (code === 'timeout') {
      say(`the suite did not finish within ${timeoutS} s`);
      fs.mkdirSync(path.join(outputDir, 'screenshots'), { recursive: true });
      const shot = path.join(outputDir, 'screenshots', 'vscode-suite-timeout.png');
      await page.screenshot({ path: shot }).then(() => say(`screenshot: ${shot}`), () => undefined);
      return 1;
    }
    failed = code !== 0;
    if (failed && Array.isArray(logs)) {
      const dir = path.join(outputDir, 'vscode-logs');
      fs.mkdirSync(dir, { recursive: true });
      for (const l of logs) {
        const file = path.join(dir, String(l.relativePath).replace(/[^\w.-]+/g, '_'));
        fs.writeFileSync(file, l.contents ?? '');
      }
      say(`workbench logs written to ${dir}`);
    }
    say(`suite exited with ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (coi) {
      // Under COEP a resource without CORP/CORS is blocked, and a page may still half-work: any such console line fails the run.
      const blocked = browserLog.filter((l) => /require-corp|Cross-Origin-(Embedder|Resource)|ERR_BLOCKED_BY_RESPONSE|NotSameOrigin/i.test(l));
      say(`resources blocked by cross-origin isolation: ${blocked.length}`);
      if (blocked.length) {
        console.log(blocked.join('\n'));
        failed = true;
        return 1;
      }
    }
    return typeof code === 'number' ? code : 1;
  } catch (err) {
    say(`error: ${err?.stack ?? err}`);
    return 1;
  } finally {
    if (failed) {
      fs.mkdirSync(outputDir, { recursive: true });
      if (!suiteStarted()) {
        say(`the suite never started; the workbench log ends with:`);
        console.log(tail(workbenchLog, 40));
      }
      say(`workbench log: ${workbenchLog}`);
      const bl = path.join(outputDir, 'vscode-suite-browser.log');
      fs.writeFileSync(bl, browserLog.join('\n'));
      say(`browser console: ${bl}`);
      if (cs) {
        say(`code-server log: ${cs.logPath}`);
        console.log(tail(cs.logPath, 20));
      }
    }
    await browser?.close().catch(() => undefined);
    await proxy?.close();
    await cs?.stop({ keepLogs: failed });
    if (failed && cs) {
      const dst = path.join(outputDir, 'vscode-logs', 'server');
      const src = path.join(cs.dataDir, 'logs');
      if (fs.existsSync(src)) {
        fs.cpSync(src, dst, { recursive: true });
        const hostLogs = fs.readdirSync(dst, { recursive: true }).map(String).filter((f) => /remoteexthost\.log$/.test(f));
        say(`server-side logs (extension host: ${hostLogs.join(', ') || 'none'}) in ${dst}`);
      }
    }
  }
}

/**
 * Desktop VS Code through test-electron's own download, where this machine can reach VS Code's servers and
 * show a window; undefined (with the reason printed) where it cannot, e.g. no route to
 * update.code.visualstudio.com. The attempt is bounded, so a network that drops packets cannot stall the run.
 */
async function downloadVSCode() {
  if (process.env.ATTENTION_LENS_USE_CODE_SERVER === '1') return undefined;
  if (process.platform === 'linux' && !process.env.DISPLAY) {
    say('no DISPLAY for a desktop VS Code window: using code-server (set ATTENTION_LENS_USE_ELECTRON=1 to try anyway)');
    return undefined;
  }
  const { downloadAndUnzipVSCode } = require('@vscode/test-electron');
  try {
    // test-electron's own idle timeout ends a stalled download itself, and it marks a finished install
    // with an `is-complete` file (cachedVSCode trusts only those).
    const timeout = 1000 * Number(process.env.ATTENTION_LENS_DOWNLOAD_TIMEOUT_S ?? 60);
    return await downloadAndUnzipVSCode({ cachePath: path.join(root, '.vscode-test'), timeout });
  } catch (err) {
    say(`desktop VS Code cannot be downloaded here (${err?.message ?? err}): using code-server`);
    return undefined;
  }
}

const wantElectron = process.env.ATTENTION_LENS_USE_ELECTRON === '1';
const desktop = cachedVSCode() ?? (wantElectron ? undefined : await downloadVSCode());
const code = wantElectron || desktop ? await runWithElectron(desktop) : await runWithCodeServer();

let summary;
try { summary = JSON.parse(fs.readFileSync(resultsFile, 'utf8')); } catch { /* the suite never reported */ }
if (summary) say(`${summary.passes} passing, ${summary.failures} failing, ${summary.pending} pending`);
else say('the suite reported no results (it did not load or did not finish)');
if (!process.env.ATTENTION_LENS_TEST_RESULTS) fs.rmSync(resultsFile, { force: true });
process.exit(code === 0 && (!summary || summary.failures === 0) ? 0 : code || 1);
