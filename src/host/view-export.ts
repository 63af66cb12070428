/**
 * Shared parts of the SVG and HTML view exports: how they ask the worker for a head's pooled matrix, the colour a
 * weight is drawn in (the panel's ramp, exactly), and a file written piece by piece that is removed when the
 * export fails or is cancelled. No `vscode`: unit- and browser-tested in Node.
 */
import fs from 'node:fs';
import type { AnswerOf } from './attention-asker';
import type { AttentionQuery } from '../shared/attention-query';
import { heatIntensity, mixColors, type Rgba } from '../shared/colors';
import type { ExportTheme } from '../shared/view-spec';

/** Asks the worker (through the panel) one 'matrix' query about the run being exported. */
export type MatrixAsk = (q: Extract<AttentionQuery, { kind: 'matrix' }>) => Promise<AnswerOf<'matrix'>>;

/** Progress callback (`done` of `total` heads) and a cancel check, polled between heads. */
export interface ExportControl {
  progress(done: number, total: number): void;
  cancelled(): boolean;
}

/** Thrown when the user cancels a view export; the partial file is removed. */
export class ViewExportCancelled extends Error {
  constructor() {
    super('The export was cancelled.');
  }
}

/**
 * The colour of one served cell, as the panel's canvas draws it (webview/common/canvas.ts): the masked colour for a
 * masked cell (NaN, or above the diagonal of a causal matrix at full size), else background → accent by √(w / scale).
 */
export function cellColor(w: number, scale: number, masked: boolean, theme: ExportTheme): Rgba {
  if (masked || Number.isNaN(w)) return theme.masked;
  return mixColors(theme.bg, theme.accent, heatIntensity(w, scale));
}

/** A file written in pieces; `abort` closes and removes it. */
export interface PieceWriter {
  write(s: string): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** Opens `file` for writing in pieces (text is buffered up to 1 MiB between writes). */
export async function openPieces(file: string): Promise<PieceWriter> {
  const fh = await fs.promises.open(file, 'w');
  let buffered: string[] = [];
  let size = 0;
  let bytes = 0;
  const flush = async () => {
    if (!buffered.length) return;
    const data = Buffer.from(buffered.join(''));
    buffered = [];
    size = 0;
    bytes += (await fh.write(data)).bytesWritten;
  };
  return {
    async write(s: string) {
      buffered.push(s);
      size += s.length;
      if (size > 2 ** 20) await flush();
    },
    get bytes() {
      return bytes + Buffer.byteLength(buffered.join(''));
    },
    async close() {
      await flush();
      await fh.close();
    },
    async abort() {
      await fh.close().catch(() => undefined);
      await fs.promises.rm(file, { force: true });
    },
  };
}

/** Runs `body` on a piece writer for `file`, removing the file when it throws; resolves with the bytes written. */
export async function writePieces(file: string, body: (out: PieceWriter) => Promise<void>): Promise<number> {
  const out = await openPieces(file);
  try {
    await body(out);
  } catch (e) {
    await out.abort();
    throw e;
  }
  await out.close();
  return out.bytes;
}
