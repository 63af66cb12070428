/** Names of onnxruntime-web files shipped in dist/ort (kept apart so the panel need not bundle onnxruntime). */

/** The binary the default onnxruntime-web bundle uses for both the WebGPU and the WASM providers. */
export const ORT_WASM_FILE = 'ort-wasm-simd-threaded.jsep.wasm';
