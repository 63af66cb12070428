/**
 * The on-disk cache of tapped models, in the extension's global storage: `tapped/<sha256>.tap<N>.onnx` is
 * the model file with every output the worker fetches (full-tap.ts: the Softmax outputs and the score taps)
 * already graph outputs, keyed by the SHA-256 of the original file (streamed, never held in memory) and
 * the tap format N, so a file tapped the old way is not reused (and is deleted once replaced). It is written
 * by a kernel copy plus an append of the few hundred bytes the tap adds, or, for a merged decoder whose If
 * node must be rewritten, from the rewrite's parts (views of the file read once: no second copy), to a
 * temporary file renamed into place, so a crash never leaves a half-written entry. External data files stay in
 * the model folder (their names are relative to it). Node only (no `vscode`).
 *
 * `tapped/index.json` records what was verified (issue 11):
 * - per source file, its SHA-256 and the stat key it had when hashed (device, inode, size, mtime and ctime in
 *   nanoseconds). Rewriting a file changes its ctime, which no program can set back (utimes sets only atime and
 *   mtime, and itself moves ctime), so a same-size, same-mtime rewrite never matches the key. A key is trusted only
 *   when the file's ctime lies `racyMs` (2 s) before the hash began: a change within the file system's timestamp
 *   granularity of the hash cannot hide behind an equal ctime (git's "racily clean" rule).
 * - per entry, the source hash it was made from, its own stat key when written or last verified, for a rewritten
 *   entry its own SHA-256, its layer-order check and when it was last used.
 * An entry is reused without reading it while its stat key matches; otherwise it is verified (an appended entry:
 * its first bytes hash to the source's SHA-256 and the rest is the planned suffix; a rewritten one: its SHA-256 is
 * the recorded one) and rewritten when that fails. Hashing every entry on every reuse would cost as much as hashing
 * the source: measured 290–590 ms for 256 MB (SHA-256 with SHA-NI, page-cached, on a busy 2-core machine; reading
 * alone took 60 ms), so 2.5–5 s for a 2 GB model at every load. The stat key catches every write to the entry at
 * the cost of two stat calls; only silent media corruption would pass, which no cache here defends against.
 *
 * The index is updated under a lock file (`index.lock`: created exclusively, removed after; one older than 10 s is
 * a crashed writer's and is broken), re-read inside the lock, and written to a temporary file renamed into place,
 * so concurrent loads (two panels, two windows) keep every update. Entries beyond attentionLens.tapCacheMaxMB are
 * deleted least recently used first (never the entry being returned), and temporary files older than 10 minutes
 * (left by a crash) are deleted on the first use in each session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TapError, type OnnxSummary } from '../shared/onnx-tap';
import { planFullTap, TAP_FORMAT } from '../shared/full-tap';
import type { LayerOrderCheck } from '../shared/layer-order';
import { rewriteSubgraphParts } from '../shared/tap-subgraph';

/** attentionLens.tapCacheMaxMB's default: room for a few models of the size the WebAssembly backend can run. */
export const DEFAULT_TAP_CACHE_MAX_MB = 4096;
/** Temporary files older than this are a crashed writer's and are deleted on the first use in a session. */
export const TEMP_MAX_AGE_MS = 10 * 60_000;
/** A stat key is trusted only when the file changed at least this long before it was hashed. */
export const RACY_MS = 2000;
/** A lock file older than this belongs to a writer that crashed (an index update takes milliseconds). */
const LOCK_STALE_MS = 10_000;
/** How long a load waits for the lock before it says so. */
const LOCK_WAIT_MS = 60_000;
const INDEX_VERSION = 2;
const ENTRY_NAME = /^[0-9a-f]{64}\.tap(\d+)\.onnx$/;

/** The cache's limit in bytes from the attentionLens.tapCacheMaxMB setting (a number of MB ≥ 0, else the default). */
export function tapCacheMaxBytes(settingMB: unknown): number {
  const mb = typeof settingMB === 'number' && Number.isFinite(settingMB) && settingMB >= 0 ? settingMB : DEFAULT_TAP_CACHE_MAX_MB;
  return Math.floor(mb * 2 ** 20);
}

/** Options of cachedTappedModel. */
export interface TapCacheOptions {
  /** Most bytes the entries may take (tapCacheMaxBytes of the setting); the default setting's when absent. */
  readonly maxBytes?: number;
  /** Internal (tests): RACY_MS by default; 0 lets a test see the stat key decide at once. */
  readonly racyMs?: number;
}

/** SHA-256 as hex of a file, or of its first `length` bytes, read as a stream (constant memory). */
export function sha256File(file: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return Promise.resolve(hash.digest('hex'));
  return new Promise((resolve, reject) => {
    createReadStream(file, { highWaterMark: 1 << 20, ...(length !== undefined ? { start: 0, end: length - 1 } : {}) })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** A cache entry. */
export interface TappedFile {
  /** The tapped model file in the cache. */
  readonly path: string;
  /** SHA-256 of the original model file. */
  readonly sha256: string;
  /** True when the entry existed already. */
  readonly reused: boolean;
  /** How the entry is made: the original plus a suffix, or a merged decoder with its If node rewritten. */
  readonly kind: 'appended' | 'rewritten';
  /** Milliseconds spent hashing and (when not reused) writing. */
  readonly hashMs: number;
  readonly writeMs: number;
  /** The tap's layer-order check (layer-order.ts); for a merged decoder, its branches', kept in the index. */
  readonly layerOrder?: LayerOrderCheck;
}

interface SourceRecord { key: string; sha256: string; hashedAt: number }
interface EntryRecord {
  source: string;
  kind: TappedFile['kind'];
  key: string;
  /** A rewritten entry's own SHA-256 (an appended one is checked against `source` and the suffix). */
  sha256?: string;
  lastUsed: number;
  layerOrder?: LayerOrderCheck;
}
interface CacheIndex { version: typeof INDEX_VERSION; sources: Record<string, SourceRecord>; entries: Record<string, EntryRecord> }

/** What identifies one version of a file on disk: device, inode, size, mtime and ctime (ns). */
function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** A temporary name beside `file`, unique per writer, so two loads of the same model never share one. */
function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

async function readIndex(cacheDir: string): Promise<CacheIndex> {
  try {
    const ix = JSON.parse(await fs.readFile(path.join(cacheDir, 'index.json'), 'utf8')) as Partial<CacheIndex> | null;
    // An index holding null, or another version, starts again (entries are verified before reuse anyway).
    if (ix && ix.version === INDEX_VERSION && ix.sources && typeof ix.sources === 'object' && ix.entries && typeof ix.entries === 'object') {
      return ix as CacheIndex;
    }
  } catch {
    // missing or unreadable: start again (entries are verified before reuse)
  }
  return { version: INDEX_VERSION, sources: {}, entries: {} };
}

/** Writes `data` to `file` through a temporary file renamed into place. */
async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(file);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Runs `fn` holding `<cacheDir>/index.lock`, which other loads (in this or another process) wait for. */
async function withLock<T>(cacheDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir, 'index.lock');
  const start = Date.now();
  for (;;) {
    try {
      await fs.writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await fs.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await fs.rm(lock, { force: true }).catch(() => undefined);
        continue;
      }
      if (Date.now() - start > LOCK_WAIT_MS) {
        throw new Error(`The tap cache in ${cacheDir} stayed locked for ${LOCK_WAIT_MS / 1000} s. If no other VS Code window is ` +
          `loading a model, delete ${lock} and try again.`);
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true }).catch(() => undefined);
  }
}

/** Re-reads the index under the lock, lets `fn` change it, and writes it back atomically. */
function updateIndex<T>(cacheDir: string, fn: (ix: CacheIndex) => Promise<T>): Promise<T> {
  return withLock(cacheDir, async () => {
    const ix = await readIndex(cacheDir);
    const r = await fn(ix);
    await writeAtomic(path.join(cacheDir, 'index.json'), JSON.stringify(ix));
    return r;
  });
}

/** A use stamp later than every recorded one (equal clocks never tie). */
function nextUse(ix: CacheIndex): number {
  return Object.values(ix.entries).reduce((m, e) => Math.max(m, e.lastUsed + 1), Date.now());
}

/**
 * Deletes entries, least recently used first, until they fit `maxBytes`; never `keep`. Entry files the index
 * does not know (a crash between rename and index write) count as least recent. Drops records of files that
 * are gone and sources whose entry is gone. Best effort: a file another process holds open stays.
 */
async function evict(cacheDir: string, ix: CacheIndex, keep: string, maxBytes: number): Promise<void> {
  const names = (await fs.readdir(cacheDir)).filter((n) => ENTRY_NAME.test(n));
  const sized = (await Promise.all(names.map(async (n) => ({ n, bytes: (await fs.stat(path.join(cacheDir, n)).catch(() => undefined))?.size }))))
    .filter((x): x is { n: string; bytes: number } => x.bytes !== undefined);
  for (const n of Object.keys(ix.entries)) if (!sized.some((x) => x.n === n)) delete ix.entries[n];
  let total = sized.reduce((t, x) => t + x.bytes, 0);
  const lru = sized.filter((x) => x.n !== keep).sort((a, b) => (ix.entries[a.n]?.lastUsed ?? 0) - (ix.entries[b.n]?.lastUsed ?? 0));
  for (const x of lru) {
    if (total <= maxBytes) break;
    try {
      await fs.rm(path.join(cacheDir, x.n));
      total -= x.bytes;
      delete ix.entries[x.n];
    } catch {
      // in use elsewhere (Windows): keep it this time
    }
  }
  const live = new Set(Object.values(ix.entries).map((e) => e.source));
  for (const [file, s] of Object.entries(ix.sources)) if (!live.has(s.sha256)) delete ix.sources[file];
}

/** Directories whose crash leftovers this session has cleaned. */
const cleaned = new Set<string>();

/** Deletes temporary files older than TEMP_MAX_AGE_MS and the sidecars of the previous layout; once per session. */
async function cleanLeftovers(cacheDir: string): Promise<void> {
  if (cleaned.has(cacheDir)) return;
  cleaned.add(cacheDir);
  for (const name of await fs.readdir(cacheDir).catch(() => [] as string[])) {
    const file = path.join(cacheDir, name);
    if (name.endsWith('.tmp')) {
      const st = await fs.stat(file).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > TEMP_MAX_AGE_MS) await fs.rm(file, { force: true }).catch(() => undefined);
    } else if (/^[0-9a-f]{64}\.tap\d+\.order\.json$/.test(name)) {
      await fs.rm(file, { force: true }).catch(() => undefined); // layer order now lives in the index
    }
  }
}

/** The entry's file name: the hash of the original and the tap format. */
export function cacheFileName(sha256: string): string {
  return `${sha256}.tap${TAP_FORMAT}.onnx`;
}

/** Deletes entries of other tap formats (`<sha256>.onnx` from format 1, `<sha256>.tap<M>.onnx`); best effort. */
async function pruneOtherFormats(cacheDir: string): Promise<void> {
  for (const name of await fs.readdir(cacheDir).catch(() => [] as string[])) {
    const m = /^[0-9a-f]{64}(?:\.tap(\d+))?\.onnx$/.exec(name);
    if (m && Number(m[1] ?? 1) !== TAP_FORMAT) await fs.rm(path.join(cacheDir, name), { force: true }).catch(() => undefined);
  }
}

/** Writes `parts` to `file` in order, without joining them; returns their SHA-256. */
async function writeParts(file: string, parts: readonly Uint8Array[]): Promise<string> {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const fh = await fs.open(file, 'w');
  try {
    const want = parts.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await fh.writev(parts as Uint8Array[]);
    if (bytesWritten !== want) throw new Error(`Wrote ${bytesWritten} of ${want} bytes to ${file}.`);
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** True when an appended entry is the source (by its hash) followed by exactly `suffix`. */
async function appendedIntact(file: string, size: bigint, sourceSize: number, sha256: string, suffix: Uint8Array): Promise<boolean> {
  if (size !== BigInt(sourceSize + suffix.length)) return false;
  const fh = await fs.open(file, 'r');
  try {
    const tail = Buffer.alloc(suffix.length);
    const { bytesRead } = await fh.read(tail, 0, suffix.length, sourceSize);
    if (bytesRead !== suffix.length || !tail.equals(suffix)) return false;
  } finally {
    await fh.close();
  }
  return (await sha256File(file, sourceSize)) === sha256;
}

/**
 * The SHA-256 of `file`, from the index while its stat key is unchanged and was not racy when hashed; else
 * hashed now, with the record to store (none when the file changed while it was read).
 */
async function sourceHash(ix: CacheIndex, file: string, racyMs: number): Promise<{ sha256: string; record?: SourceRecord; size: number }> {
  const st = await fs.stat(file, { bigint: true });
  const key = statKey(st);
  const hit = ix.sources[file];
  if (hit && hit.key === key && Number(st.ctimeMs) + racyMs <= hit.hashedAt) return { sha256: hit.sha256, size: Number(st.size) };
  const hashedAt = Date.now();
  const sha256 = await sha256File(file);
  const after = statKey(await fs.stat(file, { bigint: true }));
  return { sha256, record: after === key ? { key, sha256, hashedAt } : undefined, size: Number(st.size) };
}

/**
 * Returns the cached tapped copy of `onnxPath` (whose scan is `summary`), writing it first if needed: the
 * original plus the full tap's suffix, or a merged decoder rewritten (read whole only then, and not when
 * the entry exists). Throws planTap's TapError when the model cannot be tapped.
 */
export async function cachedTappedModel(storageDir: string, onnxPath: string, summary: OnnxSummary,
  options: TapCacheOptions = {}): Promise<TappedFile> {
  let suffix: Uint8Array | undefined;
  let layerOrder: LayerOrderCheck | undefined;
  let refused: TapError | undefined;
  try {
    const full = planFullTap(summary); // before hashing: a model that cannot be tapped fails fast
    suffix = full.suffix;
    layerOrder = full.plan.layerOrder;
  } catch (e) {
    if (!(e instanceof TapError) || e.code !== 'softmax-in-subgraph') throw e;
    refused = e;
  }
  const maxBytes = options.maxBytes ?? tapCacheMaxBytes(undefined);
  const racyMs = options.racyMs ?? RACY_MS;
  const cacheDir = path.join(storageDir, 'tapped');
  await fs.mkdir(cacheDir, { recursive: true });
  await cleanLeftovers(cacheDir);
  const kind = suffix ? 'appended' : 'rewritten';

  const t0 = performance.now();
  const snapshot = await readIndex(cacheDir);
  const source = await sourceHash(snapshot, onnxPath, racyMs);
  const { sha256 } = source;
  const name = cacheFileName(sha256);
  const target = path.join(cacheDir, name);
  const rec = snapshot.entries[name];
  const st = await fs.stat(target, { bigint: true }).catch(() => undefined);
  let reuse: { key: string; layerOrder?: LayerOrderCheck } | undefined;
  if (st && rec && rec.source === sha256 && rec.kind === kind && rec.key === statKey(st)) {
    reuse = { key: rec.key, layerOrder: rec.layerOrder };
  } else if (st) {
    // Unknown to the index, or touched since: verify its bytes before reusing it.
    const intact = suffix ? await appendedIntact(target, st.size, source.size, sha256, suffix)
      : rec?.source === sha256 && rec.kind === kind && !!rec.sha256 && (await sha256File(target)) === rec.sha256;
    if (intact) reuse = { key: statKey(st), layerOrder: suffix ? layerOrder : rec?.layerOrder };
  }
  const hashMs = performance.now() - t0;

  if (reuse) {
    const { key, layerOrder: order } = reuse;
    const kept = await updateIndex(cacheDir, async (ix) => {
      const now = await fs.stat(target, { bigint: true }).catch(() => undefined);
      if (!now || statKey(now) !== key) return false; // evicted or replaced meanwhile: write it again below
      if (source.record) ix.sources[onnxPath] = source.record;
      ix.entries[name] = { ...(ix.entries[name] ?? rec ?? {}), source: sha256, kind, key, lastUsed: nextUse(ix),
        ...(order ? { layerOrder: order } : {}) };
      await evict(cacheDir, ix, name, maxBytes);
      return true;
    });
    if (kept) return { path: target, sha256, reused: true, kind, hashMs, writeMs: 0, layerOrder: order };
  }

  const t1 = performance.now();
  const tmp = tempName(target);
  let entrySha: string | undefined;
  try {
    if (suffix) {
      await fs.copyFile(onnxPath, tmp);
      await fs.appendFile(tmp, suffix);
    } else {
      const rewritten = rewriteSubgraphParts(await fs.readFile(onnxPath)); // a Buffer is a Uint8Array: no copy
      if (!rewritten) throw refused ?? new TapError('The model has no Softmax to tap and no subgraph to rewrite.', 'no-attention');
      entrySha = await writeParts(tmp, rewritten.parts);
      layerOrder = rewritten.layerOrder;
    }
    await updateIndex(cacheDir, async (ix) => {
      await fs.rename(tmp, target);
      const key = statKey(await fs.stat(target, { bigint: true }));
      if (source.record) ix.sources[onnxPath] = source.record;
      ix.entries[name] = { source: sha256, kind, key, ...(entrySha ? { sha256: entrySha } : {}), lastUsed: nextUse(ix),
        ...(layerOrder ? { layerOrder } : {}) };
      await evict(cacheDir, ix, name, maxBytes);
    });
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await pruneOtherFormats(cacheDir);
  return { path: target, sha256, reused: false, kind, hashMs, writeMs: performance.now() - t1, layerOrder };
}
