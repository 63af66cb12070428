/**
 * Measures what tapping a large model costs in memory and time (printed by `npm run bench`, never asserted):
 * a synthetic model (the bundled lens-gpt graph plus an unused initializer of N MiB, written in 1 MiB
 * chunks) goes through the host's tap cache (scan without weights, SHA-256, kernel copy + append) and the
 * worker's in-memory path (tapAll on an untapped file, and on the cached pre-tapped one). Each phase runs
 * in its own Node process so that its peak RSS (getrusage maxRSS) is its own.
 * Usage: node out/test/support/bench-tap.js [--mib 64,256]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scanOnnxFile, sparseOnnx } from '../../src/host/onnx-file';
import { cachedTappedModel } from '../../src/host/tap-cache';
import { tapAll } from '../../src/shared/full-tap';
import { bundledModelDir } from './model';

const MiB = 2 ** 20;
const fmt = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}
const header = (num: number, len: number) => [...varint(num * 8 + 2), ...varint(len)];

/**
 * Writes lens-gpt's model.onnx followed by `ModelProto{graph{initializer: bench.padding, float[mib·2¹⁸]}}`
 * (protobuf merges it into the graph as an unused weight), streamed so the writer never holds it.
 */
export function writeSyntheticModel(file: string, mib: number): number {
  const base = fs.readFileSync(path.join(bundledModelDir, 'onnx', 'model.onnx'));
  const raw = mib * MiB;
  const name = Array.from(Buffer.from('bench.padding'));
  const tensorHead = [8, ...varint(raw / 4), 16, 1, ...header(8, name.length), ...name, ...header(9, raw)]; // dims, FLOAT, name, raw_data
  const tensorLen = tensorHead.length + raw;
  const graphHead = [...header(5, tensorLen)];
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, base);
    fs.writeSync(fd, Uint8Array.from([...header(7, graphHead.length + tensorLen), ...graphHead, ...tensorHead]));
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeFloatLE(Math.sin(i), i);
    for (let i = 0; i < mib; i++) fs.writeSync(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
  return fs.statSync(file).size;
}

/** One phase's figures. */
interface Figures { phase: string; ms: number; peakRssDelta: number; heapDelta: number; buffersHeld: number; note: string }

/** Runs one phase in this process and prints its figures as one JSON line. */
async function measure(phase: string, file: string, storage: string): Promise<void> {
  const scanRead = phase.startsWith('host') ? (await sparseOnnx(file)).bytesRead : 0;
  (globalThis as { gc?: () => void }).gc?.();
  const m0 = process.memoryUsage();
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let note = '';
  let held: unknown;
  if (phase === 'host-cold' || phase === 'host-warm') {
    const entry = await cachedTappedModel(storage, file, await scanOnnxFile(file));
    note = `${entry.reused ? 'reused' : 'written'}; scan read ${(scanRead / 1024).toFixed(0)} KiB, ` +
      `SHA-256 ${entry.hashMs.toFixed(0)} ms${entry.reused ? '' : `, copy + append ${entry.writeMs.toFixed(0)} ms`}`;
  } else {
    const read = fs.readFileSync(file); // as the worker receives it: one (transferred) buffer, viewed, not copied
    const bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
    const t = tapAll(bytes);
    held = [bytes, t.tapped];
    note = t.tapped === bytes ? 'no copy: the very buffer received' : `one new buffer (+${t.added} bytes); the worker then drops the original`;
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  const figures: Figures = {
    phase, ms, note, heapDelta: m1.heapUsed - m0.heapUsed, buffersHeld: m1.arrayBuffers - m0.arrayBuffers,
    peakRssDelta: Math.max(0, process.resourceUsage().maxRSS * 1024 - Math.max(peak0, m0.rss)),
  };
  void held;
  console.log(JSON.stringify(figures));
}

const PHASES: [string, string][] = [
  ['host-cold', 'host: scan + hash + copy + append (first time)'],
  ['host-warm', 'host: scan + cache hit (index, no hashing)'],
  ['worker-raw', 'worker: read untapped file + tapAll'],
  ['worker-pretapped', 'worker: read cached file + tapAll'],
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--measure') return measure(args[1], args[2], args[3]);
  const i = args.indexOf('--mib');
  const sizes = (i >= 0 ? args[i + 1] : '64,256').split(',').map(Number);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-bench-tap-'));
  try {
    console.log('| model | phase | time | peak RSS Δ | JS buffers held | heap Δ | notes |');
    console.log('|---|---|---|---|---|---|---|');
    for (const mib of sizes) {
      const file = path.join(tmp, `synthetic-${mib}.onnx`);
      const size = writeSyntheticModel(file, mib);
      const storage = path.join(tmp, `storage-${mib}`);
      for (const [phase, label] of PHASES) {
        const target = phase === 'worker-pretapped'
          ? path.join(storage, 'tapped', fs.readdirSync(path.join(storage, 'tapped')).find((f) => f.endsWith('.onnx'))!) : file;
        const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--measure', phase, target, storage], { encoding: 'utf8' });
        const f = JSON.parse(out.trim().split('\n').pop()!) as Figures;
        const rate = phase === 'host-cold' ? ` (${(size / MiB / (f.ms / 1000)).toFixed(0)} MiB/s)` : '';
        console.log(`| ${fmt(size)} | ${label} | ${f.ms.toFixed(0)} ms${rate} | ${fmt(f.peakRssDelta)} | ${fmt(f.buffersHeld)} | ` +
          `${fmt(f.heapDelta)} | ${f.note} |`);
      }
      fs.rmSync(file, { force: true });
      fs.rmSync(storage, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
