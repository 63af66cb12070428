// `npm test`: every check, in order, each printed as a stage, then one summary line `N passed, N failed`.
//
//   typecheck  npm run typecheck, then npm run lint (ESLint)      (counts as 1 check)
//   build      node scripts/build.mjs                             (counts as 1 check)
//   unit       mocha out/test/unit/**/*.test.js                   (Node)
//   model      mocha out/test/model/**/*.test.js                  (Node: the shipped model's heads)
//   browser    mocha out/test/browser/**/*.test.js                (Node + Chromium), when present
//   vscode     node scripts/run-vscode-tests.mjs --no-build       (the extension-host suite in a real VS Code), then its
//              thread and own-model tests again with --coi (cross-origin isolated, as `code --enable-coi`)
//   ui         mocha out/test/ui/**/*.test.js                     (code-server + Chromium, the user's flow)
//
// Test counts come from mocha's spec summary (`N passing`, `N failing`) or, for the extension-host suite,
// from the JSON it writes to $ATTENTION_LENS_TEST_RESULTS. A stage that fails without reporting tests
// counts as one failure. Exits non-zero when anything failed.
// Options: --only=unit,vscode  --skip=ui  (stage names as above).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { isCodeServerInstalled } from './code-server.mjs';
import { ensureSystem } from './preflight.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mochaBin = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const opt = (name) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3).split(',').filter(Boolean) : undefined;
};
const only = opt('only');
const skip = opt('skip') ?? [];
const wanted = (name) => (!only || only.includes(name)) && !skip.includes(name);

const hasTests = (dir) => {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return false;
  return fs.readdirSync(abs, { recursive: true }).some((f) => String(f).endsWith('.test.js'));
};

/** Runs a command, streaming its output, and resolves with { code, output }. */
function exec(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (stream) => (d) => { output += d; stream.write(d); };
    child.stdout.on('data', onData(process.stdout));
    child.stderr.on('data', onData(process.stderr));
    child.on('error', (e) => { output += String(e); resolve({ code: 1, output }); });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

/** Counts from mocha's spec reporter summary. */
function mochaCounts(output) {
  const text = stripVTControlCharacters(output);
  const num = (re) => { const m = text.match(re); return m ? Number(m[1]) : undefined; };
  const passes = num(/^\s*(\d+) passing/m);
  if (passes === undefined) return undefined;
  return { passes, failures: num(/^\s*(\d+) failing/m) ?? 0, pending: num(/^\s*(\d+) pending/m) ?? 0 };
}

const mochaArgs = (glob, timeoutMs) => [mochaBin, '--no-config', '--no-package', '--reporter', 'spec', '--no-color',
  '--timeout', String(timeoutMs), glob];

const stages = [
  // Both always run, so one pass reports type errors and lint findings together.
  { name: 'typecheck', kind: 'check', run: async () => {
    const types = await exec('npm', ['run', '--silent', 'typecheck']);
    const lint = await exec('npm', ['run', '--silent', 'lint']);
    return { code: types.code || lint.code, output: types.output + lint.output };
  } },
  { name: 'build', kind: 'check', gate: true, run: () => exec(process.execPath, [path.join(root, 'scripts', 'build.mjs')]) },
  { name: 'unit', kind: 'mocha', run: () => exec(process.execPath, mochaArgs('out/test/unit/**/*.test.js', 120_000)) },
  // The shipped model's heads: previous-token and induction properties of models/lens-gpt, through the tap.
  { name: 'model', kind: 'mocha', run: () => exec(process.execPath, mochaArgs('out/test/model/**/*.test.js', 600_000)) },
  { name: 'browser', kind: 'mocha', optional: 'out/test/browser',
    run: () => exec(process.execPath, mochaArgs('out/test/browser/**/*.test.js', 600_000)) },
  { name: 'vscode', kind: 'vscode', run: async () => {
    const results = path.join(os.tmpdir(), `attention-lens-vscode-${process.pid}.json`);
    const suite = async (extra) => {
      fs.rmSync(results, { force: true });
      const r = await exec(process.execPath, [path.join(root, 'scripts', 'run-vscode-tests.mjs'), '--no-build', ...extra],
        { ATTENTION_LENS_TEST_RESULTS: results });
      try { r.counts = JSON.parse(fs.readFileSync(results, 'utf8')); } catch { /* fall back to the log */ }
      fs.rmSync(results, { force: true });
      return r;
    };
    const plain = await suite([]);
    // Again cross-origin isolated (as `code --enable-coi`): threads, and the models from their folders and from storage.
    const isolated = await suite(['--coi', '--grep', '/WebAssembly threads|your own models/']);
    const counts = [plain, isolated].map((r) => r.counts ?? mochaCounts(r.output));
    return {
      code: plain.code || isolated.code, output: plain.output + isolated.output,
      counts: counts.every(Boolean) ? counts.reduce((a, c) => ({ passes: a.passes + c.passes, failures: a.failures + c.failures,
        pending: (a.pending ?? 0) + (c.pending ?? 0) })) : undefined,
    };
  } },
  { name: 'ui', kind: 'mocha', optional: 'out/test/ui', run: () => exec(process.execPath, mochaArgs('out/test/ui/**/*.test.js', 1_200_000)) },
];

// System packages first, so a missing browser or header stops the run now, not nine tests deep.
const active = stages.filter((s) => wanted(s.name));
const needs = new Set();
for (const s of active) {
  if (['browser', 'vscode', 'ui'].includes(s.name)) needs.add('browser');
  if (['vscode', 'ui'].includes(s.name) && !isCodeServerInstalled()) needs.add('code-server');
}
ensureSystem([...needs], { purpose: `npm test (${active.map((s) => s.name).join(', ')})` });

const rows = [];
let passed = 0;
let failed = 0;
let gateFailed = false;
const tAll = Date.now();
for (const stage of stages) {
  if (!wanted(stage.name)) continue;
  const banner = `━━━ ${stage.name} `;
  console.log(`\n${banner}${'━'.repeat(Math.max(3, 72 - banner.length))}`);
  if (gateFailed) {
    console.log(`skipped: the build failed`);
    rows.push({ name: stage.name, status: 'skipped', passes: 0, failures: 1, seconds: 0 });
    failed += 1;
    continue;
  }
  if (stage.optional && !hasTests(stage.optional)) {
    console.log(`no tests in ${stage.optional}/`);
    rows.push({ name: stage.name, status: 'none', passes: 0, failures: 0, seconds: 0 });
    continue;
  }
  const t0 = Date.now();
  const r = await stage.run();
  const seconds = (Date.now() - t0) / 1000;
  let passes;
  let failures;
  let pending = 0;
  if (stage.kind === 'check') {
    passes = r.code === 0 ? 1 : 0;
    failures = r.code === 0 ? 0 : 1;
  } else {
    const c = r.counts ?? mochaCounts(r.output);
    if (c) {
      passes = c.passes;
      failures = c.failures;
      pending = c.pending ?? 0;
      // A non-zero exit with no failing test (a crash after the summary, a hook that threw) still fails.
      if (r.code !== 0 && failures === 0) failures = 1;
    } else {
      passes = 0;
      failures = 1;
    }
  }
  passed += passes;
  failed += failures;
  const status = failures === 0 && r.code === 0 ? 'ok' : 'FAILED';
  rows.push({ name: stage.name, status, passes, failures, pending, seconds });
  if (stage.gate && r.code !== 0) gateFailed = true;
}

console.log(`\n━━━ summary ${'━'.repeat(60)}`);
for (const r of rows) {
  console.log(`  ${r.name.padEnd(10)} ${r.status.padEnd(8)} ${String(r.passes).padStart(4)} passed ${String(r.failures).padStart(3)} failed` +
    `${r.pending ? ` ${r.pending} pending` : ''}  ${r.seconds.toFixed(1)} s`);
}
console.log(`  total time ${((Date.now() - tAll) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || rows.some((r) => r.status === 'FAILED') ? 1 : 0);
