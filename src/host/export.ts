/**
 * Exporting attention to files: one head (or an aggregate), one layer's heads, or a whole stack, written as a
 * NumPy .npy file with a JSON sidecar (shape, axes, tokens), or as one JSON file. The worker owns the
 * attention, so the host asks for one head at a time (AttentionAsker) and appends it to the file: a whole
 * 12 × 12 × 1 024² stack never sits in the extension host's memory. No `vscode`: unit-tested in Node.
 */
import fs from 'node:fs';
import type { StackShape } from '../shared/attention-query';
import type { HeadRef, TokenInfo } from '../shared/protocol';
import type { AttentionAsker } from './attention-asker';
import { float32LE, npyHeader } from './npy';

/** What to export: one head (or aggregate), every head of a layer, or every head of the stack. */
export type ExportScope = 'head' | 'layer' | 'stack';

/** One export: which run, stack and heads, and where. */
export interface ExportPlan {
  readonly runId: number;
  readonly shape: StackShape;
  readonly scope: ExportScope;
  /** The head shown (scope 'head' exports exactly it; 'layer' exports its layer). */
  readonly head: HeadRef;
  readonly format: 'npy' | 'json';
  /** The .npy or .json file to write; a .npy gets a sidecar of the same name ending in .json. */
  readonly file: string;
  /** What the sidecar records about the input. */
  readonly meta: { readonly model: string; readonly document: string; readonly text: string; readonly tokens: readonly TokenInfo[];
    readonly keyTokens?: readonly TokenInfo[]; };
}

/** The heads a plan exports, in order (layer-major), and the array shape they make. */
export function exportedHeads(plan: Pick<ExportPlan, 'shape' | 'scope' | 'head'>): { heads: HeadRef[]; shape: number[] } {
  const { shape: s, scope, head } = plan;
  const ref = (layer: number, h: number): HeadRef => ({ stack: head.stack, layer, head: h });
  if (scope === 'head') return { heads: [head], shape: [s.queries, s.keys] };
  if (scope === 'layer') return { heads: Array.from({ length: s.heads }, (_, h) => ref(head.layer, h)), shape: [s.heads, s.queries, s.keys] };
  const all = Array.from({ length: s.layers * s.heads }, (_, k) => ref(Math.floor(k / s.heads), k % s.heads));
  return { heads: all, shape: [s.layers, s.heads, s.queries, s.keys] };
}

/** The sidecar's path for a .npy file: the same name ending in .json. */
export const sidecarOf = (file: string): string => file.replace(/(\.npy)?$/i, '.json');

/** Thrown when the user cancels an export; the partial files are removed. */
export class ExportCancelled extends Error {
  constructor() {
    super('The export was cancelled.');
  }
}

/**
 * Writes a plan's heads, asking the worker for one full-size head at a time. `progress(done, total)` follows each
 * head; `cancelled()` stops between heads (the partial files are removed). Returns the files written and their bytes.
 */
export async function writeExport(asker: AttentionAsker, plan: ExportPlan, progress: (done: number, total: number) => void,
  cancelled: () => boolean): Promise<{ files: string[]; bytes: number }> {
  const { heads, shape } = exportedHeads(plan);
  const files = plan.format === 'npy' ? [plan.file, sidecarOf(plan.file)] : [plan.file];
  const describe = {
    attentionLens: 1, runId: plan.runId, stack: plan.shape.kind, causal: plan.shape.causal, scope: plan.scope,
    axes: shape.length === 4 ? ['layer', 'head', 'query', 'key'] : shape.length === 3 ? ['head', 'query', 'key'] : ['query', 'key'],
    shape, heads: heads.map((h) => ({ layer: h.layer, head: h.head })), ...plan.meta,
  };
  const fh = await fs.promises.open(plan.file, 'w');
  let bytes = 0;
  const write = async (b: Uint8Array | string) => {
    const data = typeof b === 'string' ? Buffer.from(b) : b;
    bytes += (await fh.write(data)).bytesWritten;
  };
  try {
    if (plan.format === 'npy') await write(npyHeader(shape));
    else await write(`${JSON.stringify(describe).slice(0, -1)},"data":[`);
    for (let k = 0; k < heads.length; k++) {
      if (cancelled()) throw new ExportCancelled();
      const a = await asker.ask(plan.runId, { kind: 'matrix', head: heads[k] });
      if (a.pooled || a.rows !== plan.shape.queries || a.cols !== plan.shape.keys) {
        throw new Error(`the worker sent ${a.rows}×${a.cols} for a ${plan.shape.queries}×${plan.shape.keys} head`);
      }
      const m = new Float32Array(a.data);
      if (plan.format === 'npy') {
        await write(float32LE(m));
      } else {
        const rows = Array.from({ length: a.rows }, (_, i) => Array.from(m.subarray(i * a.cols, (i + 1) * a.cols)));
        await write(`${k ? ',' : ''}${JSON.stringify(rows)}`);
      }
      progress(k + 1, heads.length);
    }
    if (plan.format === 'json') await write(']}');
  } catch (e) {
    await fh.close();
    for (const f of files) await fs.promises.rm(f, { force: true });
    throw e;
  }
  await fh.close();
  if (plan.format === 'npy') {
    const side = JSON.stringify(describe, null, 1);
    await fs.promises.writeFile(files[1], side);
    bytes += Buffer.byteLength(side);
  }
  return { files, bytes };
}
