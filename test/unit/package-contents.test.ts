import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/model';

/** The files `vsce package` would put in the .vsix, as vsce itself lists them (after the build stage). */
function packagedFiles(): string[] {
  const vsce = path.join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce');
  const out = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: repoRoot, encoding: 'utf8' });
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('package: what the .vsix ships (.vscodeignore, listed by vsce)', function () {
  this.timeout(60_000);
  let files: string[];
  before(function () {
    if (!fs.existsSync(path.join(repoRoot, 'dist', 'extension.js'))) throw new Error('build first: node scripts/build.mjs');
    files = packagedFiles();
  });

  it('ships the bundles, onnxruntime .wasm, media, the icon, the manifest strings, the changelog and the bundled model', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/extension.js', 'dist/panel.js', 'dist/compare.js',
      'dist/worker.js', 'dist/tokenizer-worker.js', 'media/panel.css', 'media/compare.css', 'media/icon.svg', 'models/lens-gpt/config.json',
      'models/lens-gpt/tokenizer.json', 'models/lens-gpt/onnx/model.onnx', 'models/lens-gpt/MODEL_CARD.md',
      'package.nls.json', 'CHANGELOG.md', 'media/icon.png']) {
      assert.ok(files.includes(f), `${f} is shipped`);
    }
    assert.ok(files.some((f) => /^dist\/ort\/.+\.wasm$/.test(f)), 'an onnxruntime .wasm is shipped (no CDN)');
  });

  it('ships every file the Get Started walkthrough shows or opens (its step markdown and the sample text)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    type Step = { media: { markdown?: string; image?: string; svg?: string } };
    const steps: Step[] = manifest.contributes.walkthroughs.flatMap((w: { steps: Step[] }) => w.steps);
    const needed = [...steps.flatMap((s) => [s.media.markdown, s.media.image, s.media.svg].filter((f): f is string => !!f)), 'media/walkthrough/sample.txt'];
    assert.ok(needed.length >= 5);
    for (const f of needed) assert.ok(files.includes(f), `${f} is shipped`);
  });

  it('ships nothing but dist/, media/, models/ and the manifest and docs', () => {
    const allowedTop = new Set(['package.json', 'package.nls.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
    const stray = files.filter((f) => !/^(dist|media|models)\//.test(f) && !allowedTop.has(f));
    assert.deepEqual(stray, []);
  });

  it('leaves out source maps, the training recipe and the test reference tensors', () => {
    const leaked = files.filter((f) => f.endsWith('.map') || f.startsWith('models/recipe/') || /^models\/[^/]+\/reference\//.test(f));
    assert.deepEqual(leaked, []);
  });

  it('keeps the bundled default model and its tokenizer within 20 MB', () => {
    const shipped = files.filter((f) => f.startsWith('models/lens-gpt/'));
    const bytes = shipped.reduce((sum, f) => sum + fs.statSync(path.join(repoRoot, f)).size, 0);
    assert.ok(shipped.includes('models/lens-gpt/tokenizer.json') && bytes <= 20 * 1024 * 1024, `${(bytes / 1048576).toFixed(1)} MB`);
  });
});
