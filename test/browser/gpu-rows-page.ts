/**
 * A test page for the WebGPU rows: bundles webview/worker/gpu-rows.ts and gpu-paged.ts with the JavaScript rows, the
 * paged store and the worker's query driver (held-runs.ts; what the worker bundles) into out/gpu-rows-page, exposed as `globalThis.__lens`. Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot } from '../support/model';

/** The page's folder, relative to the repository (serve it with startServer's extraDirs). */
export const GPU_ROWS_PAGE = path.join('out', 'gpu-rows-page');

/** Writes the page's bundle.js and index.html. */
export async function buildGpuRowsPage(): Promise<void> {
  const dir = path.join(repoRoot, GPU_ROWS_PAGE);
  fs.mkdirSync(dir, { recursive: true });
  await esbuild.build({
    stdin: {
      contents: `import { GpuRows, gpuRows } from './webview/worker/gpu-rows';
        import { GpuPagedRun } from './webview/worker/gpu-paged';
        import { isVisible, qkRow, qkHead } from './src/shared/qk-attention';
        import { pagedAttention } from './src/shared/paged-attention';
        import { AttentionStore } from './src/shared/attention-query';
        import { HeldRuns } from './webview/worker/held-runs';
        globalThis.__lens = { GpuRows, gpuRows, GpuPagedRun, isVisible, qkRow, qkHead, pagedAttention, AttentionStore, HeldRuns };`,
      resolveDir: repoRoot, loader: 'ts',
    },
    bundle: true, format: 'iife', platform: 'browser', target: 'es2022', outfile: path.join(dir, 'bundle.js'), logLevel: 'warning',
  });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script src="bundle.js"></script>');
}
