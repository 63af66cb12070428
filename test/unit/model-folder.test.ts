import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelFolder, ModelError } from '../../src/host/model-folder';
import { inspectModelFolder } from '../../src/host/model-inspect';
import { formatBytes } from '../../src/host/model-layout';
import { buildModel, type NodeSpec } from '../support/onnx-builder';
import { bundledModelDir } from '../support/model';
import { testModelsDir } from '../support/test-models';

// Loading a folder listed by hand in attentionLens.models must refuse what Add Model refuses, with the same
// words, before anything is hashed, copied into the tap cache or fetched by the panel.
describe('loading a model folder checks what Add Model checks', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-folder-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A folder with `from`'s config.json and tokenizer.json and the given files under it. */
  function folder(name: string, files: Record<string, Uint8Array | string>, from = bundledModelDir): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(from, f), path.join(dir, f));
    for (const [rel, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, rel), data);
    return dir;
  }
  const messageOf = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof ModelError, `a ModelError, not ${String(e)}`);
      return e.message;
    }
    assert.fail('expected a refusal');
  };

  it('formats sizes in the units the messages use', () => {
    assert.deepEqual([300, 50_000, 2 ** 31 - 1, 2 ** 32, 4.5 * 2 ** 30].map(formatBytes), ['300 bytes', '48.8 KB', '2 GB', '4 GB', '4.5 GB']);
  });

  it('a model file over 2 GB is refused by its size alone, naming size, limit and fix', async () => {
    const dir = folder('big', { 'onnx/model.onnx': fs.readFileSync(path.join(bundledModelDir, 'onnx', 'model.onnx')) });
    fs.truncateSync(path.join(dir, 'onnx', 'model.onnx'), 3 * 2 ** 30); // sparse: nothing is written
    const storage = path.join(tmp, 'storage');
    fs.mkdirSync(storage);
    const loading = await messageOf(loadModelFolder(dir, { bundled: false, storageDir: storage }));
    assert.match(loading, new RegExp(`^onnx/model\\.onnx in ${dir.replace(/[.\\]/g, '\\$&')} is 3 GB, too large for the WebAssembly ` +
      'backend \\(a model file must stay under 2 GB\\)\\. Use an export that keeps its weights in external data'));
    assert.match(loading, /pick another model with "Attention Lens: Select Model"/);
    assert.deepEqual(fs.readdirSync(storage), [], 'nothing was hashed or copied into the tap cache');
    // The same sentence Add Model gives for the same folder.
    const adding = await messageOf(inspectModelFolder(dir));
    assert.ok(loading.includes(adding.replace(/^onnx\/model\.onnx /, '')), `${loading}\nvs\n${adding}`);
  });

  it('external data over the 4 GB the backend can address is refused, and so is missing external data', async () => {
    const src = path.join(testModelsDir, 'tiny-distilbert');
    const dir = folder('distil', { 'onnx/model.onnx': fs.readFileSync(path.join(src, 'onnx', 'model.onnx')) }, src);
    assert.match(await messageOf(loadModelFolder(dir, { bundled: false })),
      /^onnx\/model\.onnx in .* keeps its weights in model\.onnx_data, which is missing next to it\. Download model\.onnx_data/);
    fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx_data'), '');
    fs.truncateSync(path.join(dir, 'onnx', 'model.onnx_data'), 4.5 * 2 ** 30);
    assert.match(await messageOf(loadModelFolder(dir, { bundled: false })),
      /^onnx\/model\.onnx in .* and its external data come to 4\.5 GB, more than the 4 GB the WebAssembly backend can address\. Use a quantized variant.*Select Model/);
    fs.copyFileSync(path.join(src, 'onnx', 'model.onnx_data'), path.join(dir, 'onnx', 'model.onnx_data'));
    const m = await loadModelFolder(dir, { bundled: false });
    assert.deepEqual(m.externalData, ['model.onnx_data'], 'within the limits it loads');
  });

  it('a graph with no attention Softmax says why it cannot be tapped, without calling the file corrupt', async () => {
    const graph = (nodes: NodeSpec[]) => ({ 'onnx/model.onnx': buildModel(nodes, ['input_ids'], ['y']) });
    const plain = await messageOf(loadModelFolder(folder('plain', graph([{ op: 'Relu', inputs: ['input_ids'], outputs: ['y'] }])), { bundled: false }));
    assert.match(plain, /^onnx\/model\.onnx in .*plain cannot be tapped: This graph has no Softmax node, so there are no attention probabilities to tap\./);
    assert.doesNotMatch(plain, /corrupt/);
    const fused = await messageOf(loadModelFolder(folder('fused', graph([{ op: 'PackedMultiHeadAttention', domain: 'com.microsoft',
      inputs: ['input_ids'], outputs: ['y'] }])), { bundled: false }));
    assert.match(fused, /cannot be tapped: Attention in this graph is fused into a com\.microsoft PackedMultiHeadAttention node, which has no Softmax to tap, .*Export the model without attention fusion/);
  });

  it('a graph that fixes no layer order loads, with a notice naming the independent tensors', async () => {
    const nodes: NodeSpec[] = [
      { op: 'Softmax', inputs: ['input_ids'], outputs: ['left'] },
      { op: 'Softmax', inputs: ['input_ids'], outputs: ['right'] },
      { op: 'Add', inputs: ['left', 'right'], outputs: ['y'] },
    ];
    const m = await loadModelFolder(folder('parallel', { 'onnx/model.onnx': buildModel(nodes, ['input_ids'], ['y']) }), { bundled: false });
    assert.equal(m.notices?.length, 1);
    assert.match(m.notices[0], /^onnx\/model\.onnx in .*parallel: the attention Softmax outputs "left" and "right" do not depend on each other/);
    assert.equal((await loadModelFolder(bundledModelDir, { bundled: true })).notices, undefined, 'the bundled model is a chain');
  });

  it('carries the sliding windows config.json declares per layer (tiny-window), and none where it declares none', async () => {
    assert.deepEqual((await loadModelFolder(path.join(testModelsDir, 'tiny-window'), { bundled: false })).slidingWindows, [8, null, 8]);
    assert.equal((await loadModelFolder(bundledModelDir, { bundled: true })).slidingWindows, undefined);
  });
});
