import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AttentionLensApi } from '../../src/api';
import { mulberry32 } from '../../src/shared/head-labels';
import { repoRoot } from '../support/model';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');
// Required after the stub is installed (a static import would bind save-image.ts to another test file's VS Code stub).
const { safeImageName } = require('../../src/host/save-image') as typeof import('../../src/host/save-image');

/** Reads a .npy file the way numpy.load does for '<f4' C-order arrays, written here apart from the exporter: shape and values. */
function readNpy(file: string): { shape: number[]; values: Float32Array } {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 'magic and version 1.0');
  const len = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + len).toString('latin1');
  assert.equal((10 + len) % 64, 0, 'the data starts on a 64-byte boundary');
  assert.match(header, /'descr': '<f4', 'fortran_order': False/);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  const data = b.subarray(10 + len);
  const values = new Float32Array(data.length / 4);
  for (let k = 0; k < values.length; k++) values[k] = data.readFloatLE(k * 4);
  return { shape, values };
}

describe('exporting attention to .npy and JSON (stubbed VS Code)', () => {
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'al-export-'));
  const [L, H] = [3, 4];
  let T = 0;
  let data: Float32Array;
  let runId = 0;
  const exportCmd = (arg: unknown) => stub.state.commands.get('attentionLens.exportAttention')!(arg) as Promise<string[]>;

  before(async () => {
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot)));
    stub.openEditor('The cat sat on the mat.', [[0, 23]]);
    runId = (await stub.state.commands.get('attentionLens.showAttention')!()) as number;
    stub.fromPanel({ type: 'ready' });
    T = api.lastRun()!.tokens.length;
    const rnd = mulberry32(3);
    data = Float32Array.from({ length: L * H * T * T }, () => rnd());
    stub.serveAttention(runId, [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: false, data }]);
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: {}, shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: false }] });
    await api.waitForRun(runId);
    stub.fromPanel({ type: 'focus', runId, tokenIndex: null, head: { stack: 'self', layer: 1, head: 2 } });
  });
  after(() => {
    for (const d of subscriptions) d.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the whole stack as [layers, heads, T, T] float32 with a sidecar naming the axes and tokens', async () => {
    const file = path.join(dir, 'stack.npy');
    const files = await exportCmd({ scope: 'stack', format: 'npy', file });
    assert.deepEqual(files, [file, path.join(dir, 'stack.json')]);
    const { shape, values } = readNpy(file);
    assert.deepEqual(shape, [L, H, T, T]);
    assert.deepEqual(values, data, 'read back, the .npy equals the stack the worker holds');
    const side = JSON.parse(fs.readFileSync(files[1], 'utf8'));
    assert.deepEqual([side.axes, side.shape, side.stack, side.runId], [['layer', 'head', 'query', 'key'], [L, H, T, T], 'self', runId]);
    assert.deepEqual(side.tokens.map((t: { text: string }) => t.text), api.lastRun()!.tokens.map((t) => t.text));
    assert.match(api.messages().at(-1)!.text, /Exported 12 heads to stack\.npy and stack\.json/);
  });

  it('writes the head on show, and its layer, from the panel\'s focus; JSON holds the same numbers', async () => {
    const head = readNpy((await exportCmd({ scope: 'head', format: 'npy', file: path.join(dir, 'head.npy') }))[0]);
    const at = (l: number, h: number) => data.subarray((l * H + h) * T * T, (l * H + h + 1) * T * T);
    assert.deepEqual([head.shape, head.values], [[T, T], at(1, 2)]);
    const layer = readNpy((await exportCmd({ scope: 'layer', format: 'npy', file: path.join(dir, 'layer.npy') }))[0]);
    assert.deepEqual([layer.shape, layer.values], [[H, T, T], data.subarray(1 * H * T * T, 2 * H * T * T)]);
    const json = JSON.parse(fs.readFileSync((await exportCmd({ scope: 'layer', format: 'json', file: path.join(dir, 'layer.json') }))[0], 'utf8'));
    assert.deepEqual([json.axes, json.shape], [['head', 'query', 'key'], [H, T, T]]);
    assert.deepEqual(Float32Array.from(json.data.flat(2) as number[]), layer.values);
  });

  it('saves the panel\'s PNG where the user chooses, and refuses bytes that are not a PNG', async () => {
    const window = stub.module.window as Record<string, unknown>;
    const file = path.join(dir, 'heatmap.png');
    let offered: { defaultUri?: { path: string } } | undefined;
    window.showSaveDialog = async (o: { defaultUri?: { path: string } }) => { offered = o; return Uri.file(file); };
    // A 3 × 2 PNG's first 24 bytes (signature and IHDR), as a canvas would start it.
    const png = Buffer.from('89504e470d0a1a0a0000000d494844520000000300000002080600000000', 'hex');
    const bytes = png.buffer.slice(png.byteOffset, png.byteOffset + png.length);
    stub.fromPanel({ type: 'saveImage', view: 'heatmap', name: '../../etc/attention L1 H2', png: bytes });
    const saved = await until(() => fs.existsSync(file) && api.messages().find((m) => /Saved the heatmap/.test(m.text)), 'the saved image');
    assert.match(saved.text, /\(3 × 2 px\)/);
    assert.deepEqual(fs.readFileSync(file), png, 'written byte for byte');
    assert.equal(safeImageName('../../etc/attention L1 H2'), 'etc-attention-L1-H2.png', 'a suggested name cannot climb out of the folder');
    assert.equal(offered?.defaultUri, undefined, 'no workspace folder: the dialog picks the place');
    stub.fromPanel({ type: 'saveImage', view: 'grid', name: 'x', png: new TextEncoder().encode('<svg/>').buffer });
    await until(() => api.messages().some((m) => m.kind === 'error' && /could not save the image: the image is not a PNG/.test(m.text)), 'the refusal');
    delete window.showSaveDialog;
  });

  it('stops when cancelled and leaves no partial file; refuses with a message when there is no run', async () => {
    const window = stub.module.window as Record<string, unknown>;
    const original = window.withProgress;
    window.withProgress = (_o: unknown, task: (p: unknown, t: { isCancellationRequested: boolean }) => Promise<unknown>) =>
      task({ report: () => undefined }, { isCancellationRequested: true });
    try {
      const file = path.join(dir, 'cancelled.npy');
      assert.deepEqual(await exportCmd({ scope: 'stack', format: 'npy', file }), []);
      assert.ok(!fs.existsSync(file) && !fs.existsSync(path.join(dir, 'cancelled.json')), 'nothing half-written is left');
    } finally {
      window.withProgress = original;
    }
    stub.openEditor('Another text.', [[0, 13]]);
    await stub.state.commands.get('attentionLens.showAttention')!(); // a new run, not answered yet
    assert.deepEqual(await exportCmd({ scope: 'head', format: 'npy', file: path.join(dir, 'none.npy') }), []);
    assert.match(api.messages().at(-1)!.text, /no attention to export/);
  });
});
