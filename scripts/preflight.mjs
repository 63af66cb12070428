// System packages `npm test` and `npm start` need, checked before anything long starts.
//
//   ensureSystem(['browser', 'code-server'], { purpose })
//
// Each need maps to files or commands that show a Debian package is there. When some are missing: as root
// with apt-get, install them (apt-get update, then apt-get install -y --no-install-recommends …) and check
// again; otherwise stop at once with one message naming the exact command to run. Set
// ATTENTION_LENS_NO_APT=1 to never install (the message is printed instead).
// CLI: node scripts/preflight.mjs [browser] [code-server]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** A command on PATH (not a shell builtin or alias). */
function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && isExecutable(path.join(d, cmd)));
}
function isExecutable(file) {
  try { fs.accessSync(file, fs.constants.X_OK); return fs.statSync(file).isFile(); } catch { return false; }
}
const anyFile = (...files) => () => files.some((f) => fs.existsSync(f));
const anyCommand = (...cmds) => () => cmds.some(onPath);

/** Chromium as the tests find it (CHROMIUM_PATH wins, as in scripts/code-server.mjs and test/browser). */
const chromiumFound = () => [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']
  .some((p) => p && isExecutable(p));

/** Debian package → how to tell it is there, and why it is needed. */
const PACKAGES = {
  chromium: { present: chromiumFound, why: 'the browser the webview, VS Code and UI tests run in (playwright-core never downloads one)' },
  'fonts-dejavu-core': { present: anyFile('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'), why: 'text in screenshots' },
  'libkrb5-dev': { present: anyFile('/usr/include/gssapi/gssapi.h', '/usr/include/gssapi.h'), why: "headers for code-server's kerberos module" },
  'build-essential': { present: () => onPath('make') && (onPath('g++') || onPath('c++')), why: "a C++ compiler and make for code-server's native modules" },
  python3: { present: anyCommand('python3'), why: 'node-gyp, which builds those modules' },
  'pkg-config': { present: anyCommand('pkg-config'), why: 'native module builds look up libraries with it' },
  'libx11-dev': { present: anyFile('/usr/include/X11/Xlib.h'), why: "headers for code-server's native-keymap module" },
};

/** What each need requires. */
const NEEDS = {
  browser: ['chromium', 'fonts-dejavu-core'],
  'code-server': ['libkrb5-dev', 'build-essential', 'python3', 'pkg-config', 'libx11-dev'],
};

/** The Debian packages missing for `needs` (in a stable order, without duplicates). */
export function missingPackages(needs) {
  const wanted = [...new Set(needs.flatMap((n) => NEEDS[n] ?? []))];
  return wanted.filter((p) => !PACKAGES[p].present());
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** The command a person runs to install `pkgs` (sudo unless root). */
export function installCommand(pkgs) {
  return `${isRoot() ? '' : 'sudo '}apt-get update && ${isRoot() ? '' : 'sudo '}apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

/**
 * Makes sure the system packages for `needs` are there: installs them as root with apt-get, or exits
 * the process with one message naming the command. `purpose` says what they are for, in that message.
 */
export function ensureSystem(needs, { purpose = 'the tests' } = {}) {
  let missing = missingPackages(needs);
  if (missing.length === 0) return;
  const list = missing.map((p) => `  - ${p}: ${PACKAGES[p].why}`).join('\n');
  const canApt = isRoot() && onPath('apt-get') && process.env.ATTENTION_LENS_NO_APT !== '1';
  if (canApt) {
    console.log(`[preflight] ${purpose} need system packages that are missing; installing them with apt-get:\n${list}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const install = update.status === 0
      ? spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env })
      : update;
    missing = missingPackages(needs);
    if (install.status === 0 && missing.length === 0) {
      console.log('[preflight] system packages installed');
      return;
    }
  }
  const how = onPath('apt-get')
    ? `Run:\n\n  ${installCommand(missing)}\n`
    : `This is not a Debian-based system: install the equivalents of these Debian packages with your package manager (see README, Troubleshooting).\n`;
  console.error(`\n[preflight] ${purpose} need system packages that are missing:\n` +
    `${missing.map((p) => `  - ${p}: ${PACKAGES[p].why}`).join('\n')}\n\n${how}` +
    (canApt ? '(apt-get was tried and did not install them; its output is above.)\n' : ''));
  process.exit(1);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const needs = process.argv.slice(2);
  const unknown = needs.filter((n) => !(n in NEEDS));
  if (unknown.length) {
    console.error(`usage: node scripts/preflight.mjs [${Object.keys(NEEDS).join('] [')}]; unknown: ${unknown.join(', ')}`);
    process.exit(2);
  }
  ensureSystem(needs.length ? needs : Object.keys(NEEDS), { purpose: 'Attention Lens' });
  console.log('[preflight] all system packages present');
}
