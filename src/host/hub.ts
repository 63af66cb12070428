/**
 * Downloading a model from a Hugging Face-style hub (opt-in: attentionLens.allowDownloads): config.json,
 * tokenizer.json and onnx/model.onnx (else onnx/decoder_model.onnx or decoder_model_merged.onnx; for
 * encoder–decoder models onnx/encoder_model.onnx + decoder_model.onnx), plus the external data files the model names, from
 * `{base}/{id}/resolve/main/{file}`, with progress and cancellation. The base URL comes from attentionLens.hubUrl,
 * else $ATTENTION_LENS_HUB_URL, else https://huggingface.co, so tests point it at a local server. Node only (no `vscode`).
 *
 * What it refuses (issue 11): a hub that is not https (plain http only to loopback, for tests and local mirrors);
 * redirects that change the scheme or go to another host (the public hub's own CDN hosts excepted, below); a file
 * over its kind's size cap, by Content-Length and while streaming; a server that makes no progress for
 * `stallTimeoutMs`; model ids outside the hub's grammar; external data names that are not plain relative names.
 * Every file lands in a temporary folder beside the target, which is renamed into place only when all are complete:
 * a failed or cancelled download leaves the previous copy as it was and no temporary folder behind.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { externalDataNameProblem } from '../shared/external-data-name';
import { WASM_LIMITS, formatBytes } from './model-layout';
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

/**
 * The most bytes one file of each kind may have. config.json is a few KB and tokenizer.json a few MB (the
 * largest vocabularies about 35 MB); an ONNX file cannot exceed protobuf's 2 GiB (WASM_LIMITS.modelFileBytes),
 * and the WebAssembly backend holds at most 4 GiB in all, so no external data file can be larger.
 */
export const SIZE_CAPS = {
  config: 10 * 2 ** 20,
  tokenizer: 50 * 2 ** 20,
  onnx: WASM_LIMITS.modelFileBytes,
  externalData: WASM_LIMITS.totalBytes,
  /** All files of one model together: an encoder–decoder pair at the backend's 4 GiB each. */
  model: 2 * WASM_LIMITS.totalBytes,
} as const;
export type SizeCaps = { readonly [K in keyof typeof SIZE_CAPS]: number };

/** Give up on a file when fewer than `DEFAULT_STALL_BYTES` arrive in this long (also while waiting for headers). */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** The progress that resets the stall timer: a trickle of a byte every few seconds does not count as progress. */
export const DEFAULT_STALL_BYTES = 16 * 1024;
/** Redirects followed per file (the hub answers with at most two: a renamed repository, then its CDN). */
export const MAX_REDIRECTS = 5;

/**
 * Hosts the public hub's answers may redirect to besides itself: its file CDN (cdn-lfs.hf.co,
 * cas-bridge.xethub.hf.co and the like). Any other hub (a mirror, a test server) may only redirect to itself.
 */
const HUB_CDN_DOMAINS: Readonly<Record<string, readonly string[]>> = { 'huggingface.co': ['huggingface.co', 'hf.co'] };

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

/** True for a loopback host as the URL parser writes it: 127.0.0.0/8, [::1] or localhost. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Why a URL may not be fetched (not https, and not http to loopback), or undefined when it may. */
export function urlProblem(url: URL): string | undefined {
  if (url.username || url.password) return 'it carries a user name or password';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? undefined : 'plain http is only allowed to this machine (127.0.0.1, ::1, localhost)';
  return `${url.protocol.replace(/:$/, '')}: is not a download scheme`;
}

/** Parses and checks a hub base URL: https, or http to loopback; throws DownloadError otherwise. */
export function checkHubUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new DownloadError(`The hub URL "${base}" is not a URL. Fix "attentionLens.hubUrl" / $${HUB_URL_ENV}.`);
  }
  const why = urlProblem(url);
  if (why) throw new DownloadError(`The hub URL ${base} is refused: ${why}. Use an https:// URL in "attentionLens.hubUrl" / $${HUB_URL_ENV}.`);
  return url;
}

/** Why a redirect from `from` to `to` is refused, or undefined: same scheme, and the hub's host (or its CDN). */
export function redirectProblem(hub: URL, from: URL, to: URL): string | undefined {
  const bad = urlProblem(to);
  if (bad) return bad;
  if (to.protocol !== from.protocol) return `it changes the scheme from ${from.protocol} to ${to.protocol}`;
  if (to.host === hub.host) return undefined;
  const cdn = HUB_CDN_DOMAINS[hub.host] ?? [];
  if (to.protocol === 'https:' && cdn.some((d) => to.hostname === d || to.hostname.endsWith(`.${d}`))) return undefined;
  return `it leads to another host (${to.host})`;
}

/** One name part of a model id as the hub allows it: letters, digits, '_', '-', '.', starting and ending with a letter, digit or '_'. */
const ID_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
/** The hub's longest repository id. */
const MAX_ID_LENGTH = 96;

/**
 * Checks "owner/name" by the hub's own rules (huggingface_hub's validate_repo_id: [A-Za-z0-9_.-], no '--' or
 * '..', no '-' or '.' at either end, at most 96 characters) and returns it; throws DownloadError otherwise.
 */
export function parseModelId(id: string): string {
  const t = id.trim();
  const parts = t.split('/');
  if (parts.length !== 2 || !parts.every((p) => ID_PART.test(p)) || t.includes('--') || t.includes('..') || t.length > MAX_ID_LENGTH) {
    throw new DownloadError(`"${id}" is not a model id. Use the form owner/name (letters, digits, "_", "-" and "." only, ` +
      'no "--" or ".."), for example Xenova/distilgpt2.');
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
  /** Internal (tests): the no-progress timeout, DEFAULT_STALL_TIMEOUT_MS by default. */
  readonly stallTimeoutMs?: number;
  /** Internal (tests): the bytes that count as progress, DEFAULT_STALL_BYTES by default. */
  readonly stallBytes?: number;
  /** Internal (tests): the size caps, SIZE_CAPS by default. */
  readonly sizeCaps?: SizeCaps;
}

/**
 * The folder a model id downloads into: `<owner>--<name>`. This is injective on the ids parseModelId accepts:
 * neither part contains "--" or ends (owner) or starts (name) with "-", so the first "--" is the separator.
 * Ids that differ only in case name the same repository on the hub (it matches ids case-insensitively), so
 * sharing a folder on a case-insensitive file system is correct.
 */
export function modelDownloadDir(storageDir: string, id: string): string {
  return path.join(storageDir, 'models', parseModelId(id).replace('/', '--'));
}

/** The size cap of a file by its kind. */
export function sizeCapOf(rel: string, caps: SizeCaps = SIZE_CAPS): number {
  if (rel === HUB_FILES[0]) return caps.config;
  if (rel === HUB_FILES[1]) return caps.tokenizer;
  return rel.endsWith('.onnx') ? caps.onnx : caps.externalData;
}

/**
 * The no-progress watchdog of one file: calls `onStall` when fewer than `bytes` bytes arrive within `ms`
 * (from the request on, so a server that never answers is given up on too).
 */
class StallWatch {
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  fired = false;
  constructor(private readonly ms: number, private readonly bytes: number, private readonly onStall: () => void) {
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.since = 0;
    this.timer = setTimeout(() => { this.fired = true; this.onStall(); }, this.ms);
  }

  progress(n: number): void {
    this.since += n;
    if (this.since >= this.bytes) this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** The URL of a file: each path segment encoded, so a name with '#' or '?' stays a name. */
function fileUrl(base: URL, id: string, rel: string): URL {
  const root = base.href.replace(/\/+$/, '');
  return new URL(`${root}/${id}/resolve/main/${rel.split('/').map(encodeURIComponent).join('/')}`);
}

/** Fetches `url`, following at most MAX_REDIRECTS redirects that redirectProblem allows. */
async function fetchChecked(o: DownloadOptions, hub: URL, url: URL, signal: AbortSignal): Promise<{ res: Response; url: URL }> {
  const doFetch = o.fetch ?? fetch;
  let at = url;
  for (let hop = 0; ; hop++) {
    const res = await doFetch(at.href, { signal, redirect: 'manual' });
    if (![301, 302, 303, 307, 308].includes(res.status)) return { res, url: at };
    await res.body?.cancel().catch(() => undefined);
    const location = res.headers.get('location');
    if (!location) throw new DownloadError(`${at.href} answered HTTP ${res.status} without a Location.`);
    if (hop >= MAX_REDIRECTS) throw new DownloadError(`${url.href} redirected more than ${MAX_REDIRECTS} times.`);
    let next: URL;
    try {
      next = new URL(location, at);
    } catch {
      throw new DownloadError(`${at.href} redirected to "${location}", which is not a URL.`);
    }
    const why = redirectProblem(hub, at, next);
    if (why) throw new DownloadError(`${at.href} redirected to ${next.href}, which is refused: ${why}.`);
    at = next;
  }
}

function cancelled(): DownloadError {
  return new DownloadError('The download was cancelled.', true);
}

/** Fetches one file to `dest`; `budget` is what the model's total cap leaves. Returns the bytes received. */
async function fetchFile(o: DownloadOptions, hub: URL, id: string, rel: string, dest: string, index: number, count: () => number,
  budget: number): Promise<number> {
  const url = fileUrl(hub, id, rel);
  const kindCap = sizeCapOf(rel, o.sizeCaps);
  const cap = Math.min(kindCap, budget);
  const stallMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const watch = new StallWatch(stallMs, o.stallBytes ?? DEFAULT_STALL_BYTES, () => ctl.abort());
  const stalled = (received: number) => new DownloadError(`Downloading ${url.href} made no progress for ${stallMs / 1000} s ` +
    `(${received} bytes so far), so it was given up. The server may be overloaded: try again later.`);
  let received = 0;
  try {
    let res: Response;
    try {
      res = (await fetchChecked(o, hub, url, ctl.signal)).res;
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      if (o.signal?.aborted) throw cancelled();
      if (watch.fired) throw stalled(0);
      throw new DownloadError(`Could not reach ${url.href} (${(e as Error).message}). Check the connection, or the hub URL in ` +
        `"attentionLens.hubUrl" / $${HUB_URL_ENV}.`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      const hint = res.status === 404 && rel === 'config.json' ? ` The hub has no model "${id}" (or it has no config.json): check the id.`
        : res.status === 404 ? ` The model "${id}" has no ${rel}: Attention Lens needs an ONNX export laid out like ` +
        'transformers.js models (onnx/model.onnx); try the same model under Xenova/ or onnx-community/.'
        : res.status === 401 || res.status === 403 ? ' The model is gated or private; download it yourself and use "Attention Lens: Add Model…".' : '';
      throw new DownloadError(`Downloading ${url.href} failed: HTTP ${res.status}.${hint}`, false, res.status);
    }
    const tooLarge = (n: string) => new DownloadError(cap < kindCap
      ? `${rel} of "${id}" is ${n}, which takes the model over the ${formatBytes((o.sizeCaps ?? SIZE_CAPS).model)} Attention Lens ` +
        'accepts for all its files together; the download was stopped.'
      : `${rel} of "${id}" is ${n}, more than the ${formatBytes(cap)} Attention Lens ` +
        `accepts for ${rel.endsWith('.onnx') ? 'an ONNX file' : rel.endsWith('.json') ? rel : 'external data'}; the download was stopped.`);
    const totalHeader = Number(res.headers.get('content-length'));
    const total = Number.isFinite(totalHeader) && totalHeader > 0 ? totalHeader : undefined;
    if (total !== undefined && total > cap) {
      await res.body.cancel().catch(() => undefined);
      throw tooLarge(formatBytes(total));
    }
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const out = await fs.open(dest, 'w');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader(); // Node's types leave the chunk type open
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
        watch.progress(value.byteLength);
        if (received > cap) throw tooLarge(`over ${formatBytes(cap)}`);
        await out.write(value);
        o.onProgress?.({ file: rel, fileIndex: index, fileCount: count(), received, total });
      }
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      if (e instanceof DownloadError) throw e;
      if (o.signal?.aborted) throw cancelled();
      if (watch.fired) throw stalled(received);
      throw new DownloadError(`Downloading ${url.href} stopped after ${received} bytes (${(e as Error).message}).`);
    } finally {
      await out.close();
    }
    if (total !== undefined && received !== total) {
      throw new DownloadError(`Downloading ${url.href} stopped after ${received} of ${total} bytes. Try again.`);
    }
    return received;
  } finally {
    watch.stop();
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** The ONNX files to fetch, by config.json: an encoder–decoder pair, else onnx/model.onnx (with fallbacks). */
async function onnxPlan(dir: string): Promise<{ files: string[]; fallbacks: string[] }> {
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')); // at most SIZE_CAPS.config bytes
    // A config.json holding null or a list is no object to read fields from.
    config = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : {};
  } catch {
    config = {}; // Add Model's inspection reports a bad config.json
  }
  return config.is_encoder_decoder === true ? { files: [...SEQ2SEQ_HUB_FILES], fallbacks: [] }
    : { files: [HUB_FILES[2]], fallbacks: [...ONNX_FALLBACKS] };
}

/** Prefixes of this module's temporary folders beside the models: a download in progress, a copy being replaced. */
const TEMP_PREFIXES = ['.download-', '.replaced-'] as const;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporary folders left by a download whose process is gone (a crash or a closed window); best effort. */
async function removeAbandoned(modelsDir: string): Promise<void> {
  for (const name of await fs.readdir(modelsDir).catch(() => [] as string[])) {
    const prefix = TEMP_PREFIXES.find((p) => name.startsWith(p));
    const pid = prefix ? Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]) : NaN;
    if (Number.isInteger(pid) && !processAlive(pid)) await fs.rm(path.join(modelsDir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Puts the complete folder `tmp` at `dir`, replacing a previous copy; the previous copy stays if this fails. */
async function commitFolder(tmp: string, dir: string): Promise<void> {
  const aside = path.join(path.dirname(dir), `${TEMP_PREFIXES[1]}${process.pid}-${path.basename(tmp).slice(-6)}`);
  let hadOld = false;
  try {
    await fs.rename(dir, aside);
    hadOld = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DownloadError(`The previous copy in ${dir} could not be replaced (${(e as Error).message}); it was kept as it was.`);
    }
  }
  try {
    await fs.rename(tmp, dir);
  } catch (e) {
    if (hadOld) await fs.rename(aside, dir).catch(() => undefined);
    throw new DownloadError(`The downloaded files could not be moved to ${dir} (${(e as Error).message}).`);
  }
  if (hadOld) await fs.rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

/** The local path of `rel` under `dir`, refusing anything that would leave it (a second guard after the name check). */
function inside(dir: string, rel: string): string {
  const dest = path.resolve(dir, ...rel.split('/'));
  const back = path.relative(dir, dest);
  if (!back || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) throw new DownloadError(`The file name "${rel}" leads outside the model folder.`);
  return dest;
}

/**
 * Downloads a model's files into storage; returns the folder. Throws DownloadError (cancelled: true on abort);
 * then the folder is as it was before (absent, or the previous complete copy) and no temporary folder remains.
 */
export async function downloadModel(o: DownloadOptions): Promise<string> {
  const id = parseModelId(o.id);
  const hub = checkHubUrl(o.baseUrl);
  const dir = modelDownloadDir(o.storageDir, id);
  const modelsDir = path.dirname(dir);
  await fs.mkdir(modelsDir, { recursive: true });
  await removeAbandoned(modelsDir);
  const tmp = await fs.mkdtemp(path.join(modelsDir, `${TEMP_PREFIXES[0]}${process.pid}-`));
  try {
    await downloadInto(o, hub, id, tmp);
    await commitFolder(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  return dir;
}

async function downloadInto(o: DownloadOptions, hub: URL, id: string, dir: string): Promise<void> {
  const files: string[] = [HUB_FILES[0], HUB_FILES[1]];
  let fallbacks: string[] = [];
  let budget = (o.sizeCaps ?? SIZE_CAPS).model;
  for (let i = 0; i < files.length; i++) {
    if (o.signal?.aborted) throw cancelled();
    const rel = files[i];
    const dest = inside(dir, rel);
    try {
      budget -= await fetchFile(o, hub, id, rel, dest, i, () => files.length, budget);
    } catch (e) {
      await fs.rm(dest, { force: true }).catch(() => undefined);
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
        const why = externalDataNameProblem(f);
        if (why) {
          throw new DownloadError(`${rel} of "${id}" names external data "${f}", which is not a plain file name beside it (${why}); ` +
            'nothing was saved.');
        }
        const relData = path.posix.join(path.posix.dirname(rel), f);
        if (!files.includes(relData)) files.splice(i + 1, 0, relData);
      }
    }
  }
}
