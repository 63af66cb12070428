/** Names of onnxruntime-web files shipped in dist/ and dist/ort (kept apart so the panel need not bundle onnxruntime). */

/** The two inference-worker builds: onnxruntime's JSEP build (WebGPU and WASM) and its plain WASM build, half the size. */
export type OrtBuild = 'webgpu' | 'wasm';

/** Per build: the worker bundle in dist/ and the .wasm binary in dist/ort it runs. */
export const ORT_FILES: Readonly<Record<OrtBuild, { readonly worker: string; readonly wasm: string }>> = {
  webgpu: { worker: 'worker.js', wasm: 'ort-wasm-simd-threaded.jsep.wasm' },
  wasm: { worker: 'worker-wasm.js', wasm: 'ort-wasm-simd-threaded.wasm' },
};

/** The build a backend setting needs: JSEP only when WebGPU may run (not asked away, and an adapter exists). */
export function ortBuildFor(setting: 'auto' | 'webgpu' | 'wasm', adapter: boolean): OrtBuild {
  return setting !== 'wasm' && adapter ? 'webgpu' : 'wasm';
}
