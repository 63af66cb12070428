// `npm start`: build, then open VS Code with Attention Lens loaded from this folder and a sample workspace
// (a copy of test/fixtures in .vscode-test/sample-workspace; your edits there survive restarts).
//   - With a desktop `code` on PATH: `code --extensionDevelopmentPath=<repo> <sample> <sample>/prose.txt`.
//   - Otherwise: code-server on 127.0.0.1 (installed on first use into .vscode-test/code-server/), with the
//     extension loaded through the workbench URL; prints the URL and runs until Ctrl+C.
// Options: --port=N (or PORT), --code-server (skip the desktop check), --no-build, --coi (cross-origin isolated, so
// WebAssembly uses every core: desktop VS Code gets --enable-coi; code-server is opened with ?vscode-coi=3 through
// scripts/coi-proxy.mjs on the port, which adds the COOP/COEP headers code-server does not send).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, freePort, startCodeServer, ensureCodeServer, isCodeServerInstalled } from './code-server.mjs';
import { ensureSystem } from './preflight.mjs';
import { startCoiProxy } from './coi-proxy.mjs';

const flag = (n) => process.argv.includes(`--${n}`);
const value = (n) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3);

const desktop = hasDesktopCode();
// Without a desktop VS Code, code-server is built on first use: check its system packages before anything long.
if (!desktop && !isCodeServerInstalled()) ensureSystem(['code-server'], { purpose: 'npm start (code-server)' });

if (!flag('no-build')) {
  console.log('building…');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--no-tests'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const sample = path.join(root, '.vscode-test', 'sample-workspace');
fs.mkdirSync(sample, { recursive: true });
fs.cpSync(path.join(root, 'test', 'fixtures'), sample, { recursive: true, force: false, errorOnExist: false });
const sampleFile = path.join(sample, 'prose.txt');

function hasDesktopCode() {
  if (flag('code-server') || process.env.ATTENTION_LENS_START === 'code-server') return false;
  const r = spawnSync('code', ['--version'], { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 && /^\d+\.\d+/.test(r.stdout ?? '');
}

if (desktop) {
  console.log(`opening VS Code with the extension from ${root}`);
  const child = spawn('code', [`--extensionDevelopmentPath=${root}`, '--new-window', ...(flag('coi') ? ['--enable-coi'] : []), sample, sampleFile],
    { stdio: 'inherit' });
  child.on('exit', (code) => {
    console.log('VS Code is open: select text and run "Attention Lens: Show Attention" (ctrl+k ctrl+shift+a).');
    process.exit(code ?? 0);
  });
} else {
  await ensureCodeServer();
  const wanted = Number(value('port') ?? process.env.PORT ?? 8080);
  const port = await portOr(wanted);
  const coi = flag('coi');
  const cs = await startCodeServer({ port: coi ? await freePort() : port, workspace: sample, extensionDevelopmentPath: root, quiet: true });
  const proxy = coi ? await startCoiProxy(cs.port, { port }) : undefined;
  const url = proxy ? `${proxy.base}${cs.url.slice(cs.base.length)}${cs.url.includes('?') ? '&' : '?'}vscode-coi=3` : cs.url;
  console.log('');
  console.log(`Attention Lens is running in code-server (VS Code in the browser${coi ? ', cross-origin isolated' : ''}). Open:`);
  console.log('');
  console.log(`  ${url}`);
  console.log('');
  console.log(`Then open prose.txt, select a sentence and run "Attention Lens: Show Attention" (F1, or ctrl+k ctrl+shift+a).`);
  console.log(`Only 127.0.0.1 listens; from another machine use an SSH tunnel: ssh -L ${port}:127.0.0.1:${port} <host>`);
  console.log(`code-server log: ${cs.logPath}`);
  console.log('Press Ctrl+C to stop.');
  let stopping = false;
  const stop = async (sig) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: stopping code-server…`);
    await proxy?.close();
    await cs.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const ended = await cs.exited;
  if (!stopping) {
    console.error(`code-server exited on its own (${JSON.stringify(ended)}); log: ${cs.logPath}`);
    process.exit(1);
  }
}

/** `wanted` if it is free on 127.0.0.1, else any free port. */
async function portOr(wanted) {
  const net = await import('node:net');
  const free = await new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(wanted, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  if (free) return wanted;
  const p = await freePort();
  console.log(`port ${wanted} is busy; using ${p}`);
  return p;
}
