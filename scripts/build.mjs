// One esbuild script, one target per runtime: the extension host (Node, CJS), the panel and compare
// webviews (browser IIFE), the inference worker (browser ES module, started as a module worker from a blob URL:
// onnxruntime's WebAssembly threads start more copies of it from its own import.meta.url), and the test
// bundles under out/test. The worker is built twice: dist/worker.js with onnxruntime-web's default (JSEP) bundle,
// which runs WebGPU and WASM from a 28 MB .wasm, and dist/worker-wasm.js with its WASM-only bundle, whose .wasm is
// 14 MB; the panel starts the second unless WebGPU may run (webview/panel/worker-start.ts). Both .wasm files are
// copied into dist/ort so nothing comes from a CDN.
// Usage: node scripts/build.mjs [--watch] [--no-tests]
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const withTests = !process.argv.includes('--no-tests');
const exists = (p) => fs.existsSync(path.join(root, p));

const common = { bundle: true, sourcemap: 'linked', logLevel: 'warning', absWorkingDir: root, legalComments: 'none' };
const targets = [];
if (exists('src/extension.ts')) {
  targets.push({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', platform: 'node',
    format: 'cjs', target: 'node18', external: ['vscode'] });
  // The tokenizer thread (a worker_threads worker): tokenizer.json is read, built and run there, off the host's thread.
  targets.push({ ...common, entryPoints: ['src/host/tokenizer-worker.ts'], outfile: 'dist/tokenizer-worker.js', platform: 'node',
    format: 'cjs', target: 'node18' });
}
for (const [entry, out] of [['webview/panel/main.ts', 'dist/panel.js'], ['webview/compare/main.ts', 'dist/compare.js'],
  ['webview/worker/worker.ts', 'dist/worker.js'], ['webview/export/viewer.ts', 'dist/export-viewer.js']]) {
  if (exists(entry)) {
    targets.push({ ...common, entryPoints: [entry], outfile: out, platform: 'browser', format: entry.includes('worker') ? 'esm' : 'iife',
      target: 'es2022', minify: !watch });
  }
}
if (exists('webview/worker/worker.ts')) {
  targets.push({ ...common, entryPoints: ['webview/worker/worker.ts'], outfile: 'dist/worker-wasm.js', platform: 'browser', format: 'esm',
    target: 'es2022', minify: !watch, alias: { 'onnxruntime-web': 'onnxruntime-web/wasm' } });
}
if (withTests) {
  const tests = [];
  const walk = (dir) => {
    if (!exists(dir)) return;
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) tests.push(p);
    }
  };
  walk('test');
  if (tests.length) {
    targets.push({ ...common, entryPoints: tests, outdir: 'out/test', outbase: 'test', platform: 'node', format: 'cjs',
      target: 'node18', external: ['vscode', 'onnxruntime-node', 'onnxruntime-web', 'tokenizers', 'playwright-core', 'mocha', 'esbuild'] });
  }
}

function copyOrt() {
  const src = path.join(root, 'node_modules/onnxruntime-web/dist');
  const dst = path.join(root, 'dist/ort');
  fs.mkdirSync(dst, { recursive: true });
  // The default bundle's JSEP binary runs both the WebGPU and the WASM execution providers; the plain one, WASM only.
  for (const f of ['ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.wasm']) {
    const from = path.join(src, f);
    const to = path.join(dst, f);
    // Copy only when it changed, and atomically: a test server may be serving the old file meanwhile.
    const same = fs.existsSync(to) && fs.statSync(to).size === fs.statSync(from).size
      && fs.statSync(to).mtimeMs >= fs.statSync(from).mtimeMs;
    if (same) continue;
    fs.copyFileSync(from, `${to}.tmp`);
    fs.renameSync(`${to}.tmp`, to);
  }
}

fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
copyOrt();
if (watch) {
  for (const t of targets) await (await esbuild.context(t)).watch();
  console.log('watching…');
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
  console.log(`built ${targets.length} targets`);
}
