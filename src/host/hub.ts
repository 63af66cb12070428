/**
 * Downloading a model from a Hugging Face-style hub (opt-in: attentionLens.allowDownloads): config.json,
 * tokenizer.json and onnx/model.onnx (else onnx/decoder_model.onnx or decoder_model_merged.onnx; for
 * encoder–decoder models onnx/encoder_model.onnx + decoder_model.onnx), plus the external data files the model names, from
 * `{base}/{id}/resolve/main/{file}`, streamed to `.part` files and renamed when complete, with progress and
 * cancellation. The base URL comes from attentionLens.hubUrl, else $ATTENTION_LENS_HUB_URL, else
 * https://huggingface.co, so tests point it at a local server. Node only (no `vscode`).
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { scanOnnxFile } from './onnx-file';

/** The public hub, used when neither the setting nor the environment names another. */
export const DEFAULT_HUB_URL = 'https://huggingface.co';
/** Environment variable that overrides the hub's base URL (below the setting). */
export const HUB_URL_ENV = 'ATTENTION_LENS_HUB_URL';
/** The files every download fetches, in order (the ONNX file may be replaced by a fallback, below). */
export const HUB_FILES = ['config.json', 'tokenizer.json', 'onnx/model.onnx'] as const;
/** ONNX files tried after a 404 on onnx/model.onnx for decoder-only/encoder-only models, in order. */
export const ONNX_FALLBACKS = ['onnx/decoder_model.onnx', 'onnx/decoder_model_merged.onnx'] as const;
/** What an encoder–decoder model (config.json is_encoder_decoder) downloads instead of onnx/model.onnx. */
export const SEQ2SEQ_HUB_FILES = ['onnx/encoder_model.onnx', 'onnx/decoder_model.onnx'] as const;

/** A download problem, phrased for the user. */
export class DownloadError extends Error {
  constructor(message: string, readonly cancelled = false, readonly status?: number) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** The hub base URL: the setting, else the environment variable, else the public hub; no trailing slash. */
export function hubBaseUrl(setting: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const s = typeof setting === 'string' && setting.trim() ? setting.trim() : env[HUB_URL_ENV]?.trim() || DEFAULT_HUB_URL;
  return s.replace(/\/+$/, '');
}

/** Checks "owner/name" and returns it; throws DownloadError with the expected form otherwise. */
export function parseModelId(id: string): string {
  const t = id.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(t) || t.includes('..')) {
    throw new DownloadError(`"${id}" is not a model id. Use the form owner/name, for example Xenova/distilgpt2.`);
  }
  return t;
}

/** Progress of one download: bytes so far of the file being fetched, and its size when the server said. */
export interface DownloadProgress {
  readonly file: string;
  readonly fileIndex: number;
  readonly fileCount: number;
  readonly received: number;
  readonly total?: number;
}

/** What `downloadModel` needs. */
export interface DownloadOptions {
  readonly id: string;
  readonly baseUrl: string;
  /** Models land in `<storageDir>/models/<owner>--<name>`. */
  readonly storageDir: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** The fetch to use (tests may count calls); the global fetch by default. */
  readonly fetch?: typeof fetch;
}

/** The folder a model id downloads into. */
export function modelDownloadDir(storageDir: string, id: string): string {
  return path.join(storageDir, 'models', parseModelId(id).replace('/', '--'));
}

async function fetchFile(o: DownloadOptions, id: string, rel: string, dest: string, index: number, count: () => number): Promise<void> {
  const url = `${o.baseUrl}/${id}/resolve/main/${rel}`;
  const doFetch = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { signal: o.signal, redirect: 'follow' });
  } catch (e) {
    if (o.signal?.aborted) throw new DownloadError('The download was cancelled.', true);
    throw new DownloadError(`Could not reach ${url} (${(e as Error).message}). Check the connection, or the hub URL in ` +
      `"attentionLens.hubUrl" / $${HUB_URL_ENV}.`);
  }
  if (!res.ok || !res.body) {
    const hint = res.status === 404 && rel === 'config.json' ? ` The hub has no model "${id}" (or it has no config.json): check the id.`
      : res.status === 404 ? ` The model "${id}" has no ${rel}: Attention Lens needs an ONNX export laid out like ` +
      'transformers.js models (onnx/model.onnx); try the same model under Xenova/ or onnx-community/.'
      : res.status === 401 || res.status === 403 ? ' The model is gated or private; download it yourself and use "Attention Lens: Add Model…".' : '';
    throw new DownloadError(`Downloading ${url} failed: HTTP ${res.status}.${hint}`, false, res.status);
  }
  const totalHeader = Number(res.headers.get('content-length'));
  const total = Number.isFinite(totalHeader) && totalHeader > 0 ? totalHeader : undefined;
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const out = createWriteStream(part);
  let received = 0;
  try {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader(); // Node's types leave the chunk type open
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
      o.onProgress?.({ file: rel, fileIndex: index, fileCount: count(), received, total });
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  } catch (e) {
    out.destroy();
    await fs.rm(part, { force: true });
    if (o.signal?.aborted) throw new DownloadError('The download was cancelled.', true);
    throw new DownloadError(`Downloading ${url} stopped after ${received} bytes (${(e as Error).message}).`);
  }
  if (total !== undefined && received !== total) {
    await fs.rm(part, { force: true });
    throw new DownloadError(`Downloading ${url} stopped after ${received} of ${total} bytes. Try again.`);
  }
  await fs.rename(part, dest);
}

/** The ONNX files to fetch, by config.json: an encoder–decoder pair, else onnx/model.onnx (with fallbacks). */
async function onnxPlan(dir: string): Promise<{ files: string[]; fallbacks: string[] }> {
  let config: { is_encoder_decoder?: unknown } | null | undefined;
  try {
    // Anything JSON (null, a number) parses; only an object's is_encoder_decoder counts.
    config = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as typeof config;
  } catch {
    config = undefined; // Add Model's inspection reports a bad config.json
  }
  return config?.is_encoder_decoder === true ? { files: [...SEQ2SEQ_HUB_FILES], fallbacks: [] }
    : { files: [HUB_FILES[2]], fallbacks: [...ONNX_FALLBACKS] };
}

/** Downloads a model's files into storage; returns the folder. Throws DownloadError (cancelled: true on abort). */
export async function downloadModel(o: DownloadOptions): Promise<string> {
  const id = parseModelId(o.id);
  const dir = modelDownloadDir(o.storageDir, id);
  const files: string[] = [HUB_FILES[0], HUB_FILES[1]];
  let fallbacks: string[] = [];
  for (let i = 0; i < files.length; i++) {
    if (o.signal?.aborted) throw new DownloadError('The download was cancelled.', true);
    const rel = files[i];
    const dest = path.join(dir, ...rel.split('/'));
    try {
      await fetchFile(o, id, rel, dest, i, () => files.length);
    } catch (e) {
      const next = rel.endsWith('.onnx') ? fallbacks.shift() : undefined;
      if (!(e instanceof DownloadError) || e.status !== 404 || !next) throw e;
      files[i--] = next; // a 404 on onnx/model.onnx: try the next file name
      continue;
    }
    if (rel === HUB_FILES[1]) {
      const plan = await onnxPlan(dir);
      files.push(...plan.files);
      fallbacks = plan.fallbacks;
    }
    if (rel.endsWith('.onnx')) {
      fallbacks = [];
      // Weights kept outside the graph (model.onnx_data) are named inside it; fetch them next.
      let external: readonly string[] = [];
      try {
        external = (await scanOnnxFile(dest)).externalDataFiles ?? [];
      } catch {
        external = []; // not ONNX: Add Model's inspection reports it
      }
      for (const f of external) {
        const relData = path.posix.join(path.posix.dirname(rel), f);
        if (!files.includes(relData) && !relData.startsWith('..')) files.splice(i + 1, 0, relData);
      }
    }
  }
  return dir;
}
