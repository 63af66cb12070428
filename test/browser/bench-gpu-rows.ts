/**
 * `npm run bench -- --scale`: one hovered row at T = 2 048 (16 heads of 64, one layer of random Q and Kᵀ, causal)
 * computed on WebGPU (gpu-rows.ts, upload excluded, readback included) against the worker's JavaScript rows
 * (qk-attention.ts qkRow), and one whole head each way, median of a few, in Chromium. Here WebGPU is SwiftShader, a CPU
 * emulation: the figure says nothing about a real GPU. Figures, never assertions. Node only.
 */
import { closeSharedBrowsers, launch } from './browser';
import { startServer } from './serve';
import { buildGpuRowsPage, GPU_ROWS_PAGE } from './gpu-rows-page';
import { repoRoot } from '../support/model';

async function main(): Promise<void> {
  await buildGpuRowsPage();
  const server = await startServer(repoRoot, [GPU_ROWS_PAGE]);
  const browser = await launch({ webgpu: true });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.origin}/${GPU_ROWS_PAGE}/index.html`);
    const r = await page.evaluate(async () => {
      const L = (globalThis as any).__lens;
      const [H, T, d] = [16, 2048, 64];
      let seed = 1;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      const x = { heads: H, kvHeads: H, tokens: T, d, q: Float32Array.from({ length: H * T * d }, rand), kT: Float32Array.from({ length: H * d * T }, rand),
        form: { scale: 1 / Math.sqrt(d), causal: true } };
      const gpu = await L.gpuRows();
      if (!gpu) return { error: 'no WebGPU adapter' };
      const adapter = await (globalThis as any).navigator.gpu.requestAdapter();
      const t0 = performance.now();
      const layer = await gpu.upload(x);
      const uploadMs = performance.now() - t0;
      if (typeof layer === 'string') return { error: layer };
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const time = async (f: () => unknown, n: number) => {
        await f();
        const ms: number[] = [];
        for (let k = 0; k < n; k++) { const s = performance.now(); await f(); ms.push(performance.now() - s); }
        return median(ms);
      };
      const rows = [T - 1, 1500, 700, 2000, 1023];
      let k = 0;
      const gpuRow = await time(() => gpu.rows(layer, k % H, rows[k % rows.length], rows[k++ % rows.length] + 1), 15);
      const jsRow = await time(() => L.qkRow(x, k % H, rows[k++ % rows.length]), 15);
      const gpuHead = await time(() => gpu.rows(layer, 3, 0, T), 3);
      const jsHead = await time(() => L.qkHead(x, 3), 3);
      layer.release();
      const info = adapter?.info ?? {};
      return { uploadMs, gpuRow, jsRow, gpuHead, jsHead, adapter: `${info.vendor ?? '?'} ${info.architecture ?? ''}`.trim() };
    });
    if ('error' in r) console.log(`WebGPU rows at T = 2 048: not measured (${r.error})`);
    else {
      console.log(`Hovered row at T = 2 048 (16 heads of 64, one layer): WebGPU (${r.adapter}, a CPU emulation here, nothing to say about real GPUs) ` +
        `${r.gpuRow.toFixed(2)} ms vs the worker's JavaScript ${r.jsRow.toFixed(2)} ms (median); whole head ${r.gpuHead.toFixed(0)} ms vs ` +
        `${r.jsHead.toFixed(0)} ms; upload of the layer's Q and Kᵀ ${r.uploadMs.toFixed(0)} ms.`);
    }
  } finally {
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
