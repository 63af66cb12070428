import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scanOnnxFile, sparseOnnx } from '../../src/host/onnx-file';
import { planTap, scanOnnx, tapAttention, TapError } from '../../src/shared/onnx-tap';
import { bundledModelDir } from '../support/model';
import { testModelsDir } from '../support/test-models';

// Scanning from disk must find exactly what scanning the whole file in memory finds, while reading
// little more than the graph structure.
const FILES = [
  path.join(bundledModelDir, 'onnx', 'model.onnx'),
  ...['tiny-bert', 'tiny-distilbert', 'tiny-gpt2', 'tiny-t5'].flatMap((m) =>
    fs.readdirSync(path.join(testModelsDir, m, 'onnx')).filter((f) => f.endsWith('.onnx')).map((f) => path.join(testModelsDir, m, 'onnx', f))),
];

describe('scanning ONNX files on disk without their weights', () => {
  for (const file of FILES) {
    it(`${path.relative(path.dirname(path.dirname(path.dirname(file))), file)}: same summary as scanOnnx on the whole file`, async () => {
      const whole = scanOnnx(new Uint8Array(fs.readFileSync(file)));
      assert.deepEqual(await scanOnnxFile(file), whole);
    });
  }

  it('reads far less than the file when weights dominate, and scans a tapped file too', async () => {
    const file = path.join(testModelsDir, 'tiny-gpt2', 'onnx', 'model.onnx');
    const sparse = await sparseOnnx(file);
    assert.ok(sparse.bytesRead < sparse.fileSize / 2, `read ${sparse.bytesRead} of ${sparse.fileSize} bytes`);
    assert.ok(sparse.bytes.length < sparse.fileSize / 10, `sparse copy ${sparse.bytes.length} bytes`);
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'al-scan-')), 'tapped.onnx');
    try {
      const bytes = new Uint8Array(fs.readFileSync(file));
      fs.writeFileSync(tmp, tapAttention(bytes, planTap(scanOnnx(bytes))));
      assert.deepEqual((await scanOnnxFile(tmp)).outputs.map((o) => o.name), scanOnnx(new Uint8Array(fs.readFileSync(tmp))).outputs.map((o) => o.name));
    } finally {
      fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    }
  });

  it('rejects files that are not ONNX', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-scan-'));
    try {
      for (const [name, data] of [['html', '<html>404 Not Found</html> and some more text here'], ['cut', fs.readFileSync(FILES[0]).subarray(0, 5000)]] as const) {
        fs.writeFileSync(path.join(dir, name), data);
        await assert.rejects(scanOnnxFile(path.join(dir, name)), (e: unknown) => e instanceof TapError && e.code === 'not-onnx');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
