/**
 * How many WebAssembly threads onnxruntime-web gets in the panel's worker. Threads need SharedArrayBuffer,
 * which a browser gives only to a cross-origin isolated context (VS Code: desktop started with `--enable-coi`,
 * vscode.dev with `?vscode-coi=3`); anywhere else one thread runs. Pure: no DOM, no `vscode`.
 */

/** The most threads `attentionLens.wasmThreads: 0` (auto) picks: past 8, the small models here gain little and each thread is a worker. */
export const MAX_AUTO_WASM_THREADS = 8;

/** The most threads an explicit setting may ask for (package.json's maximum). */
export const MAX_WASM_THREADS = 64;

/**
 * Threads for a setting (0 or absent: auto), the number of logical cores (`navigator.hardwareConcurrency`) and
 * whether the context is cross-origin isolated. Auto takes every core up to MAX_AUTO_WASM_THREADS; an explicit
 * value is capped by the cores. Not isolated, or anything unusable: 1.
 */
export function wasmThreadCount(setting: number | undefined, cores: number | undefined, isolated: boolean): number {
  if (!isolated) return 1;
  const available = typeof cores === 'number' && Number.isFinite(cores) && cores >= 1 ? Math.floor(cores) : 1;
  const asked = typeof setting === 'number' && Number.isFinite(setting) && setting >= 1 ? Math.min(Math.floor(setting), MAX_WASM_THREADS) : 0;
  return asked === 0 ? Math.min(available, MAX_AUTO_WASM_THREADS) : Math.min(asked, available);
}

/** The header's words for a thread count: "1 thread", "4 threads". */
export function threadsLabel(threads: number): string {
  return threads === 1 ? '1 thread' : `${threads} threads`;
}
