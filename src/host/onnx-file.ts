/**
 * Scanning an ONNX file on disk without reading its weights: the ModelProto is walked with positional
 * reads, every initializer is cut down to its header (dims, data_type, name, external-data entries) and the
 * weights are skipped by length, giving a small "sparse" ModelProto that scanOnnx reads exactly as it
 * reads the whole file. A 2 GB model is scanned with a few kilobytes per initializer held in memory.
 * Node only (no `vscode`).
 */
import fs from 'node:fs/promises';
import { scanOnnx, TapError, type OnnxSummary } from '../shared/onnx-tap';

const BLOCK = 4096;
/** TensorProto fields kept in the sparse copy: dims, data_type, name, external_data. */
const TENSOR_HEADER_FIELDS = new Set([1, 2, 8, 13]);

/** Reads from a file through one cached block, counting the bytes read. */
class FileWindow {
  private block = new Uint8Array(0);
  private blockPos = 0;
  bytesRead = 0;
  constructor(private readonly fh: fs.FileHandle, readonly size: number) {}

  async bytes(pos: number, len: number): Promise<Uint8Array> {
    if (pos < 0 || pos + len > this.size) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
    if (pos >= this.blockPos && pos + len <= this.blockPos + this.block.length) {
      return this.block.subarray(pos - this.blockPos, pos - this.blockPos + len);
    }
    if (len > BLOCK) {
      const out = new Uint8Array(len);
      await this.fh.read(out, 0, len, pos);
      this.bytesRead += len;
      return out;
    }
    const n = Math.min(BLOCK, this.size - pos);
    const block = new Uint8Array(n);
    await this.fh.read(block, 0, n, pos);
    this.bytesRead += n;
    this.block = block;
    this.blockPos = pos;
    return block.subarray(0, len);
  }

  /** A varint at `pos`: its value and the position after it. */
  async varint(pos: number): Promise<[number, number]> {
    let result = 0;
    let shift = 0;
    for (let p = pos; ; p++) {
      if (p >= this.size) throw new TapError('Truncated varint: this is not a valid ONNX file.', 'not-onnx');
      const b = (await this.bytes(p, 1))[0];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [result, p + 1];
      shift += 7;
      if (shift > 63) throw new TapError('Malformed varint: this is not a valid ONNX file.', 'not-onnx');
    }
  }

  /** The field starting at `pos`: number, wire type, payload range and end. */
  async field(pos: number): Promise<{ num: number; wire: number; payload: number; len: number; end: number }> {
    const [tag, p] = await this.varint(pos);
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) { const [, e] = await this.varint(p); return { num, wire, payload: p, len: e - p, end: e }; }
    if (wire === 1) return { num, wire, payload: p, len: 8, end: p + 8 };
    if (wire === 5) return { num, wire, payload: p, len: 4, end: p + 4 };
    if (wire === 2) { const [len, q] = await this.varint(p); return { num, wire, payload: q, len, end: q + len }; }
    throw new TapError(`Unsupported protobuf wire type ${wire}: this is not a valid ONNX file.`, 'not-onnx');
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}

function lenField(num: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const len = parts.reduce((n, p) => n + p.length, 0);
  return [Uint8Array.from([...varint(num * 8 + 2), ...varint(len)]), ...parts];
}

async function copyOf(w: FileWindow, from: number, to: number): Promise<Uint8Array> {
  return (await w.bytes(from, to - from)).slice();
}

/** The sparse copy of a GraphProto's payload: initializers cut to their headers, everything else as is. */
async function sparseGraph(w: FileWindow, from: number, to: number): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (let p = from; p < to;) {
    const f = await w.field(p);
    if (f.end > to) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
    if (f.num === 5 && f.wire === 2) {
      const header: Uint8Array[] = [];
      for (let q = f.payload; q < f.end;) {
        const t = await w.field(q);
        if (TENSOR_HEADER_FIELDS.has(t.num)) header.push(await copyOf(w, q, t.end));
        q = t.end;
      }
      for (const x of lenField(5, header)) parts.push(x);
    } else {
      parts.push(await copyOf(w, p, f.end));
    }
    p = f.end;
  }
  return parts;
}

/** A ModelProto with the same graph structure as the file but no weights; with the bytes read to make it. */
export async function sparseOnnx(file: string): Promise<{ bytes: Uint8Array; bytesRead: number; fileSize: number }> {
  const fh = await fs.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const w = new FileWindow(fh, size);
    const parts: Uint8Array[] = [];
    for (let p = 0; p < size;) {
      const f = await w.field(p);
      if (f.end > size) throw new TapError('Truncated field: this is not a valid ONNX file.', 'not-onnx');
      // Pushed one by one: a graph's parts (a few per initializer) may be more than a spread call takes arguments.
      if (f.num === 7 && f.wire === 2) for (const x of lenField(7, await sparseGraph(w, f.payload, f.end))) parts.push(x);
      else parts.push(await copyOf(w, p, f.end));
      p = f.end;
    }
    const bytes = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of parts) { bytes.set(x, o); o += x.length; }
    return { bytes, bytesRead: w.bytesRead, fileSize: size };
  } finally {
    await fh.close();
  }
}

/** scanOnnx for a file on disk, reading only its graph structure and initializer headers. */
export async function scanOnnxFile(file: string): Promise<OnnxSummary> {
  return scanOnnx((await sparseOnnx(file)).bytes);
}
