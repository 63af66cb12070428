/**
 * `npm run bench -- --scale`: one hovered row at T = 2 048 (16 heads of 64, one layer of random Q and Kᵀ, causal)
 * computed on WebGPU (gpu-rows.ts, upload excluded, readback included) against the worker's JavaScript rows
 * (qk-attention.ts qkRow), one whole head each way, and a head's pooled thumbnail streamed over row blocks by the worker's
 * query driver (held-runs.ts) with its blocks from the GPU (gpu-paged.ts `blocks`) or from JavaScript, median of a
 * few, in Chromium. Here WebGPU is SwiftShader, a CPU
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
      // A thumbnail (110 px) of head 5 streamed over row blocks (4 MiB: 512 rows), as the grid asks it, each way.
      // A fresh run each time (upload not timed): the colour scale is kept per run once found.
      const thumb = async (device: unknown) => {
        const ms: number[] = [];
        let on: string | undefined;
        for (let k = 0; k < 4; k++) {
          const stack = L.pagedAttention([{ path: 'qk', qk: x }], H, T);
          const run = await L.GpuPagedRun.create(device, stack.pages);
          const s = performance.now(); // the first slice runs as the question is asked
          const answer = new Promise<any>((resolve) => {
            const held = new L.HeldRuns((m: any) => { if (m.type === 'answer') resolve(m); });
            held.keep(1, [stack], undefined, false, run);
            held.answer({ type: 'query', id: 1, runId: 1, query: { kind: 'matrix', head: { stack: 'self', layer: 0, head: 5 }, maxSide: 110 } });
          });
          on = (await answer).computedOn;
          if (k > 0) ms.push(performance.now() - s); // the first warms up
          run.release();
        }
        return { ms: median(ms), on };
      };
      const gpuThumb = await thumb(gpu);
      const jsThumb = await thumb(undefined);
      const info = adapter?.info ?? {};
      return { uploadMs, gpuRow, jsRow, gpuHead, jsHead, gpuThumb, jsThumb, adapter: `${info.vendor ?? '?'} ${info.architecture ?? ''}`.trim() };
    });
    if ('error' in r) console.log(`WebGPU rows at T = 2 048: not measured (${r.error})`);
    else {
      console.log(`Hovered row at T = 2 048 (16 heads of 64, one layer): WebGPU (${r.adapter}, a CPU emulation here, nothing to say about real GPUs) ` +
        `${r.gpuRow.toFixed(2)} ms vs the worker's JavaScript ${r.jsRow.toFixed(2)} ms (median); whole head ${r.gpuHead.toFixed(0)} ms vs ` +
        `${r.jsHead.toFixed(0)} ms; upload of the layer's Q and Kᵀ ${r.uploadMs.toFixed(0)} ms. A head's 110 px thumbnail streamed over ` +
        `4 MiB row blocks: ${r.gpuThumb.ms.toFixed(0)} ms with blocks from the GPU (computedOn ${r.gpuThumb.on}) vs ${r.jsThumb.ms.toFixed(0)} ms ` +
        `from JavaScript (${r.jsThumb.on}).`);
    }
  } finally {
    await closeSharedBrowsers();
    await server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
