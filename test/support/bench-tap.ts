/**
 * Measures the two ways to add the attention outputs to a large ONNX file (never asserted in tests):
 * appending an encoded ModelProto fragment (in memory, or on disk as copy + append, as the tap cache does)
 * versus decoding and re-encoding the whole ModelProto with protobufjs.
 * Usage: node scripts/build.mjs && node out/test/support/bench-tap.js <model.onnx> [onnx.proto]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { planTap, scanOnnx, tapAttention } from '../../src/shared/onnx-tap';
import { cachedTappedModel } from '../../src/host/tap-cache';
import { sparseOnnx } from '../../src/host/onnx-file';

const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const rss = () => process.memoryUsage().rss;

async function main(): Promise<void> {
  const [file, proto = '/usr/lib/python3/dist-packages/onnx/onnx.proto'] = process.argv.slice(2);
  const timed = async <T>(label: string, f: () => T | Promise<T>): Promise<T> => {
    const before = rss();
    const t0 = performance.now();
    const v = await f();
    console.log(`${label.padEnd(44)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms   memory +${mb(Math.max(0, rss() - before))}`);
    return v;
  };
  console.log(`model ${file}: ${mb(fs.statSync(file).size)}`);
  const bytes = await timed('read file', () => new Uint8Array(fs.readFileSync(file)));
  const summary = await timed('scanOnnx (weights skipped)', () => scanOnnx(bytes));
  const sparse = await timed('scanOnnxFile (from disk, weights skipped)', () => sparseOnnx(file));
  console.log(`  read ${mb(sparse.bytesRead)} of ${mb(sparse.fileSize)}; sparse copy ${sparse.bytes.length} bytes`);
  const plan = planTap(summary);
  await timed('tapAttention in memory (copy + append)', () => tapAttention(bytes, plan).length);
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'al-bench-'));
  try {
    const first = await timed('tap cache, first time (hash + copy + append)', () => cachedTappedModel(storage, file, summary));
    console.log(`  of which SHA-256 ${first.hashMs.toFixed(0)} ms, copy + append ${first.writeMs.toFixed(0)} ms`);
    await timed('tap cache, reused (index hit)', () => cachedTappedModel(storage, file, summary));
  } finally {
    fs.rmSync(storage, { recursive: true, force: true });
  }
  if (fs.existsSync(proto)) {
    const protobuf = require('protobufjs');
    const root = protobuf.loadSync(proto);
    const ModelProto = root.lookupType('onnx.ModelProto');
    const ValueInfo = root.lookupType('onnx.ValueInfoProto');
    await timed('protobufjs decode + add outputs + encode', () => {
      const m = ModelProto.decode(bytes) as any;
      for (const name of plan.softmaxOutputs) m.graph.output.push(ValueInfo.create({ name }));
      return ModelProto.encode(m).finish().length;
    });
  }
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
