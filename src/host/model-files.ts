/**
 * Which files a model may make Attention Lens read, and how much of them: every file read for a model
 * (config.json, tokenizer.json, tokenizer_config.json, its ONNX files and their external data) must resolve,
 * after symlinks (fs.realpath), to a regular file inside the model's folder or the extension's storage, so a
 * folder cannot point the host, or the panel it hands URIs to, at other files. External data names in an
 * ONNX file must be plain relative names on every platform (externalDataNameProblem). JSON files have size
 * caps, and their parse errors are reported without quoting the file. Node only (no `vscode`); the
 * downloader (hub.ts) can use externalDataNameProblem for the names it fetches.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { formatBytes, ModelError, WASM_LIMITS, type SizeLimits } from './model-layout';
import { externalDataNameProblem } from '../shared/external-data-name';

/** The one check of external data names, shared with the downloader (src/shared/external-data-name.ts). */
export { externalDataNameProblem };

/** True when `target` is `root` or lies under it (lexically; both absolute). `p` is path.posix or path.win32 (default: this platform). */
export function isInside(root: string, target: string, p: path.PlatformPath = path): boolean {
  const rel = p.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${p.sep}`) && !p.isAbsolute(rel));
}

/** The folders a model's files may resolve into, as real paths: the model folder and, when given, the extension's storage. */
export async function modelRoots(dir: string, storageDir?: string): Promise<string[]> {
  const roots = [await fs.realpath(dir)];
  if (storageDir) roots.push(await fs.realpath(storageDir).catch(() => path.resolve(storageDir)));
  return roots;
}

/** A model file after its checks: its real path and its stat. */
export interface CheckedFile {
  readonly real: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Resolves `file` (fs.realpath) and checks that it is a regular file inside one of `roots` (real paths, from
 * modelRoots). A file that does not exist throws the fs error as it is (callers say "missing"); one that
 * resolves elsewhere, or is not a file, throws a ModelError that names `label` and the fix.
 */
export async function checkModelFile(file: string, roots: readonly string[], label: string): Promise<CheckedFile> {
  const real = await fs.realpath(file);
  if (!roots.some((r) => isInside(r, real))) {
    throw new ModelError(`${label} resolves to ${real}, outside the model folder${roots.length > 1 ? ' and the extension\'s storage' : ''}. ` +
      'Attention Lens reads a model\'s files only from inside its folder: copy the file into the folder instead of linking to it.',
    path.basename(file));
  }
  const st = await fs.stat(real);
  if (!st.isFile()) throw new ModelError(`${label} is not a file (it is a folder or a device). A model folder holds its files by these names.`, path.basename(file));
  return { real, size: st.size, mtimeMs: st.mtimeMs };
}

/** A name from a file, quoted for a message: JSON-escaped and at most 80 characters. */
function quoteName(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/**
 * Checks the external data files an ONNX file names: each a plain relative name (externalDataNameProblem),
 * present next to it, resolving inside `roots` (default: the ONNX file's own folder), and, with the file, within
 * the backend's total. Throws a ModelError naming the cause and the fix; returns the external bytes.
 */
export async function checkExternalData(file: string, label: string, fileBytes: number, externalFiles: readonly string[],
  limits: SizeLimits = WASM_LIMITS, roots?: readonly string[]): Promise<number> {
  const allowed = roots ?? [await fs.realpath(path.dirname(file))];
  let externalBytes = 0;
  for (const f of externalFiles) {
    const problem = externalDataNameProblem(f);
    if (problem) {
      throw new ModelError(`${label} names its external data ${quoteName(f)}, which Attention Lens will not read: ${problem}. ` +
        'External data must be a plain file name next to the ONNX file (such as model.onnx_data); export the model again.', path.basename(file));
    }
    let checked: CheckedFile;
    try {
      checked = await checkModelFile(path.join(path.dirname(file), f), allowed, `${f}, the external data of ${label},`);
    } catch (e) {
      if (e instanceof ModelError) throw e;
      throw new ModelError(`${label} keeps its weights in ${f}, which is missing next to it. Download ${f} into the same folder.`, f);
    }
    externalBytes += checked.size;
  }
  if (fileBytes + externalBytes > limits.totalBytes) {
    throw new ModelError(`${label} and its external data come to ${formatBytes(fileBytes + externalBytes)}, more than the ` +
      `${formatBytes(limits.totalBytes)} the WebAssembly backend can address. Use a quantized variant (onnx/model_quantized.onnx) ` +
      'or a smaller model.', path.basename(file));
  }
  return externalBytes;
}

/** Most bytes of tokenizer.json read (the largest common ones, Gemma's, are about 33 MB). */
export const MAX_TOKENIZER_JSON_BYTES = 64 * 2 ** 20;
/** Most bytes of any other JSON file of a model (config.json, tokenizer_config.json). */
export const MAX_CONFIG_JSON_BYTES = 16 * 2 ** 20;

/** The size cap of a model's JSON file `rel`. */
export function jsonSizeCap(rel: string): number {
  return path.basename(rel) === 'tokenizer.json' ? MAX_TOKENIZER_JSON_BYTES : MAX_CONFIG_JSON_BYTES;
}

/** Throws a ModelError naming the cap when a JSON file of `size` bytes is over it (checked before it is read). */
export function checkJsonSize(rel: string, label: string, size: number): void {
  const cap = jsonSizeCap(rel);
  if (size > cap) {
    throw new ModelError(`${label} is ${formatBytes(size)}; Attention Lens reads at most ${formatBytes(cap)} for ${path.basename(rel)}, ` +
      'a cap that keeps a wrong file from blocking VS Code. Check that this is the model\'s own file.', path.basename(rel));
  }
}

/**
 * Why JSON.parse failed, without quoting the text: V8's messages quote the first characters of the input
 * (`Unexpected token 'r', "root:x:0:0:"... is not valid JSON`), and a file may be something the user did not
 * mean to show. Keeps only the position, when the message has one.
 */
export function jsonErrorReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (/Unexpected end of JSON input/i.test(message)) return 'it ends before the JSON does';
  const at = /at position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(message);
  if (at) return at[2] ? `the error is at line ${at[2]}, column ${at[3]}` : `the error is at character ${at[1]}`;
  return 'it does not parse as JSON';
}
