/**
 * The on-disk cache of tapped models, in the extension's global storage: `tapped/<sha256>.onnx` is the
 * model file with its Softmax outputs appended as graph outputs, keyed by the SHA-256 of the original file
 * (streamed, never held in memory twice). The tapped file is written by a kernel copy plus an append of the
 * few hundred bytes the tap adds, then renamed into place, so a crash never leaves a half-written entry.
 * External data files stay in the model folder (their names are relative to it). Node only (no `vscode`).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { tapSuffix, type TapPlan } from '../shared/onnx-tap';

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
  /** Milliseconds spent hashing and (when not reused) writing. */
  readonly hashMs: number;
  readonly writeMs: number;
}

interface IndexEntry { size: number; mtimeMs: number; sha256: string }

/** The hash of `file`, reusing the index entry while its size and mtime are unchanged. */
async function hashWithIndex(cacheDir: string, file: string): Promise<string> {
  const indexFile = path.join(cacheDir, 'index.json');
  let index: Record<string, IndexEntry> = {};
  try {
    index = JSON.parse(await fs.readFile(indexFile, 'utf8'));
  } catch {
    index = {};
  }
  const st = await fs.stat(file);
  const hit = index[file];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = await sha256File(file);
  index[file] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
  const tmp = `${indexFile}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(index));
  await fs.rename(tmp, indexFile);
  return sha256;
}

/**
 * Returns the cached tapped copy of `onnxPath`, writing it first if needed: the original plus the tap's
 * suffix, or `rewritten` (a merged decoder whose If node tapSubgraphs rewrote) when given.
 */
export async function cachedTappedModel(storageDir: string, onnxPath: string, plan: TapPlan, rewritten?: Uint8Array): Promise<TappedFile> {
  const cacheDir = path.join(storageDir, 'tapped');
  await fs.mkdir(cacheDir, { recursive: true });
  const t0 = performance.now();
  const sha256 = await hashWithIndex(cacheDir, onnxPath);
  const hashMs = performance.now() - t0;
  const target = path.join(cacheDir, `${sha256}.onnx`);
  const suffix = tapSuffix(plan);
  const original = await fs.stat(onnxPath);
  const size = rewritten ? rewritten.length : original.size + suffix.length;
  try {
    const st = await fs.stat(target);
    if (st.size === size) return { path: target, sha256, reused: true, hashMs, writeMs: 0 };
  } catch {
    // not cached yet
  }
  const t1 = performance.now();
  const tmp = `${target}.${process.pid}.tmp`;
  if (rewritten) {
    await fs.writeFile(tmp, rewritten);
  } else {
    await fs.copyFile(onnxPath, tmp);
    await fs.appendFile(tmp, suffix);
  }
  await fs.rename(tmp, target);
  return { path: target, sha256, reused: false, hashMs, writeMs: performance.now() - t1 };
}
