/** Test helpers: paths and loaders for the bundled model and its PyTorch reference file. Node only. */
import fs from 'node:fs';
import path from 'node:path';

/** Repository root: the nearest folder above this bundle (out/test/**) whose package.json is this extension's. */
export const repoRoot = ((): string => {
  for (let dir = __dirname, i = 0; i < 8; i++, dir = path.dirname(dir)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'attention-lens') return dir;
    } catch { /* not here */ }
  }
  return path.resolve(__dirname, '..', '..', '..');
})();

/** Folder of the bundled default model. */
export const bundledModelDir = path.join(repoRoot, 'models', 'lens-gpt');

/** One reference entry: token ids with PyTorch attention [L,H,T,T] and logits [T,V]. */
export interface ReferenceEntry {
  readonly text: string;
  readonly ids: number[];
  readonly attention: Float32Array;
  readonly attentionShape: number[];
  readonly logits: Float32Array;
  readonly logitsShape: number[];
}

/** Loads models/<name>/reference/reference.{json,bin}. */
export function loadReference(modelDir = bundledModelDir): ReferenceEntry[] {
  const index = JSON.parse(fs.readFileSync(path.join(modelDir, 'reference', 'reference.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(modelDir, 'reference', 'reference.bin'));
  const view = (o: { offset: number; shape: number[] }) => {
    const n = o.shape.reduce((a, b) => a * b, 1);
    return new Float32Array(bin.buffer.slice(bin.byteOffset + o.offset, bin.byteOffset + o.offset + 4 * n));
  };
  return index.entries.map((e: any) => ({
    text: e.text, ids: e.ids, attention: view(e.attention), attentionShape: e.attention.shape,
    logits: view(e.logits), logitsShape: e.logits.shape,
  }));
}

/** Reads the bundled model's ONNX bytes. */
export function readBundledOnnx(): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(bundledModelDir, 'onnx', 'model.onnx')));
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
