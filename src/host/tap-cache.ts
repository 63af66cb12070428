/**
 * The on-disk cache of tapped models, in the extension's global storage: `tapped/<sha256>.tap<N>.onnx` is
 * the model file with every output the worker fetches (full-tap.ts: the Softmax outputs and the score taps)
 * already graph outputs, keyed by the SHA-256 of the original file (streamed, never held in memory) and
 * the tap format N, so a file tapped the old way is not reused (and is deleted once replaced). It is written
 * by a kernel copy plus an append of the few hundred bytes the tap adds, or, for a merged decoder whose If
 * node must be rewritten, from the rewrite's parts (views of the file read once: no second copy), then
 * renamed into place, so a crash never leaves a half-written entry. External data files stay in the model
 * folder (their names are relative to it). Node only (no `vscode`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TapError, type OnnxSummary } from '../shared/onnx-tap';
import { planFullTap, TAP_FORMAT } from '../shared/full-tap';
import type { LayerOrderCheck } from '../shared/layer-order';
import { rewriteSubgraphParts } from '../shared/tap-subgraph';

/** SHA-256 of a file as hex, read as a stream (constant memory). */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
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
  /** The tap's layer-order check (layer-order.ts); for a merged decoder, its branches', kept beside the entry. */
  readonly layerOrder?: LayerOrderCheck;
}

/** A temporary name beside `file`, unique per writer, so two loads of the same model never share one. */
function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Where a rewritten entry keeps its branches' layer-order check (its graph no longer shows their edges). */
function orderFile(target: string): string {
  return target.replace(/\.onnx$/, '.order.json');
}

interface IndexEntry { size: number; mtimeMs: number; sha256: string }

/** The hash of `file`, reusing the index entry while its size and mtime are unchanged. */
async function hashWithIndex(cacheDir: string, file: string): Promise<string> {
  const indexFile = path.join(cacheDir, 'index.json');
  let index: Record<string, IndexEntry> = {};
  try {
    const parsed: unknown = JSON.parse(await fs.readFile(indexFile, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null) index = parsed as Record<string, IndexEntry>;
  } catch {
    index = {};
  }
  const st = await fs.stat(file);
  const hit = index[file];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = await sha256File(file);
  index[file] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
  const tmp = tempName(indexFile);
  await fs.writeFile(tmp, JSON.stringify(index));
  await fs.rename(tmp, indexFile);
  return sha256;
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

/** Writes `parts` to `file` in order, without joining them. */
async function writeParts(file: string, parts: readonly Uint8Array[]): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    const want = parts.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await fh.writev(parts as Uint8Array[]);
    if (bytesWritten !== want) throw new Error(`Wrote ${bytesWritten} of ${want} bytes to ${file}.`);
  } finally {
    await fh.close();
  }
}

/**
 * Returns the cached tapped copy of `onnxPath` (whose scan is `summary`), writing it first if needed: the
 * original plus the full tap's suffix, or a merged decoder rewritten (read whole only then, and not when
 * the entry exists). Throws planTap's TapError when the model cannot be tapped.
 */
export async function cachedTappedModel(storageDir: string, onnxPath: string, summary: OnnxSummary): Promise<TappedFile> {
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
  const cacheDir = path.join(storageDir, 'tapped');
  await fs.mkdir(cacheDir, { recursive: true });
  const t0 = performance.now();
  const sha256 = await hashWithIndex(cacheDir, onnxPath);
  const hashMs = performance.now() - t0;
  const target = path.join(cacheDir, cacheFileName(sha256));
  const kind = suffix ? 'appended' : 'rewritten';
  const original = await fs.stat(onnxPath);
  try {
    const st = await fs.stat(target);
    // Entries are renamed into place whole; the size check guards against an entry copied by other means.
    if (suffix && st.size === original.size + suffix.length) return { path: target, sha256, reused: true, kind, hashMs, writeMs: 0, layerOrder };
    if (!suffix) {
      const stored = await fs.readFile(orderFile(target), 'utf8').then((t) => JSON.parse(t) as LayerOrderCheck, () => undefined);
      return { path: target, sha256, reused: true, kind, hashMs, writeMs: 0, layerOrder: stored };
    }
  } catch {
    // not cached yet
  }
  const t1 = performance.now();
  const tmp = tempName(target);
  try {
    if (suffix) {
      await fs.copyFile(onnxPath, tmp);
      await fs.appendFile(tmp, suffix);
    } else {
      const rewritten = rewriteSubgraphParts(await fs.readFile(onnxPath)); // a Buffer is a Uint8Array: no copy
      if (!rewritten) throw refused!; // no suffix: planFullTap refused it
      await writeParts(tmp, rewritten.parts);
      layerOrder = rewritten.layerOrder;
      if (layerOrder) await fs.writeFile(orderFile(target), JSON.stringify(layerOrder));
    }
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await pruneOtherFormats(cacheDir);
  return { path: target, sha256, reused: false, kind, hashMs, writeMs: performance.now() - t1, layerOrder };
}
