/**
 * Starting an inference worker and its onnxruntime as early as possible: picks the build (the plain WASM one,
 * half the JSEP one's size, unless WebGPU may run), fetches its worker script (connect-src) and starts it as a
 * module worker from a blob: URL, downloads the .wasm here with progress, and sends both in an 'init' message
 * so that the runtime compiles while the model is still being fetched.
 */
import { ORT_FILES, ortBuildFor, type OrtBuild } from '../worker/ort-files';
import { webgpuAvailable } from '../common/webgpu-probe';
import type { BackendSetting, PanelToWorker } from '../../src/shared/protocol';

/** What the runtime is doing: downloading its .wasm (bytes so far, of total when known), or compiling and starting it. */
export type RuntimeProgress = { readonly step: 'download'; readonly loaded: number; readonly total?: number } | { readonly step: 'compile' };

/** A started worker: its blob: URL (kept alive: onnxruntime's threads start from it), build and thread setting. */
export interface StartedWorker {
  readonly worker: Worker;
  readonly url: string;
  readonly build: OrtBuild;
  readonly threads: number;
}

/** The onnxruntime build for a backend setting on this page. */
export async function buildFor(setting: BackendSetting): Promise<OrtBuild> {
  return ortBuildFor(setting, setting !== 'wasm' && await webgpuAvailable());
}

const sources = new Map<string, Promise<string>>();

/** The worker script's text, fetched once per URL (a failed fetch is forgotten). */
function workerSource(uri: string): Promise<string> {
  let s = sources.get(uri);
  if (!s) {
    s = fetch(uri).then((r) => {
      if (!r.ok) throw new Error(`Could not load the inference worker (${r.status} ${r.statusText}).`);
      return r.text();
    });
    sources.set(uri, s);
    s.catch(() => sources.delete(uri));
  }
  return s;
}

/**
 * The .wasm's bytes, read here with progress: in VS Code the webview's own fetches go through its resource service
 * worker, which a blob: worker may not share. Undefined when the fetch fails (the worker then tries `url` itself).
 */
async function fetchWasm(url: string, progress: (p: RuntimeProgress) => void): Promise<ArrayBuffer | undefined> {
  try {
    const r = await fetch(url);
    if (!r.ok || !r.body) return undefined;
    const total = Number(r.headers.get('content-length')) || undefined;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    let reported = 0;
    progress({ step: 'download', loaded, total });
    for (const reader = r.body.getReader(); ;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      if (loaded - reported >= 1 << 20) progress({ step: 'download', loaded: (reported = loaded), total });
    }
    const bytes = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
    return bytes.buffer;
  } catch {
    return undefined;
  }
}

/**
 * Starts a worker of `build` and sends it 'init' with the .wasm: `workerUri` is the WebGPU build's script (dist/worker.js),
 * the other build's script sits beside it, the .wasm files under `wasmBase`. `attach` gets the worker as soon as it
 * exists (for its handlers). Resolves once it is sent 'init', which it answers with 'runtime' once onnxruntime runs.
 */
export async function startWorker(workerUri: string, wasmBase: string, build: OrtBuild, threads: number,
  progress: (p: RuntimeProgress) => void, attach: (w: Worker) => void): Promise<StartedWorker> {
  const files = ORT_FILES[build];
  const wasmUrl = `${wasmBase.replace(/\/?$/, '/')}${files.wasm}`;
  const wasm = fetchWasm(wasmUrl, progress);
  const source = await workerSource(new URL(files.worker, workerUri).toString());
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module' });
  attach(worker);
  const wasmBinary = await wasm;
  progress({ step: 'compile' });
  const init: PanelToWorker = { type: 'init', build, wasmUrl, ...(wasmBinary ? { wasmBinary } : {}), ...(threads ? { wasmThreads: threads } : {}) };
  worker.postMessage(init, wasmBinary ? [wasmBinary] : []);
  return { worker, url, build, threads };
}
