import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelFolder, ModelError } from '../../src/host/model-folder';
import {
  externalDataNameProblem, isInside, jsonErrorReason, MAX_CONFIG_JSON_BYTES, MAX_TOKENIZER_JSON_BYTES,
} from '../../src/host/model-files';
import { inspectModelFolder } from '../../src/host/model-inspect';
import { formatBytes } from '../../src/host/model-layout';
import { bundledModelDir } from '../support/model';
import { buildModel, type NodeSpec } from '../support/onnx-builder';
import { bytesField, strField, varint } from '../support/onnx-builder';

// Issue 11: a model folder can make Attention Lens read only its own files (or the extension's storage),
// however its ONNX file names external data and wherever its symlinks point; JSON files have size caps and
// their parse errors quote nothing.

/**
 * `model` followed by ModelProto{graph{initializer{dims [1], FLOAT, name, external_data {location}, data_location EXTERNAL}}}:
 * protobuf merges it into the model, which then keeps one weight in the external file `location`.
 */
function withExternalData(model: Uint8Array, location: string, name = 'external_weight'): Uint8Array {
  const tensor = [...varint(1 * 8), 1, ...varint(2 * 8), 1, ...strField(8, name),
    ...bytesField(13, [...strField(1, 'location'), ...strField(2, location)]), ...varint(14 * 8), 1];
  return Uint8Array.from([...model, ...bytesField(7, bytesField(5, tensor))]);
}

/** A chain of two Softmax nodes reading input_ids: the tap accepts it without a notice. */
const CHAIN: NodeSpec[] = [
  { op: 'Softmax', inputs: ['input_ids'], outputs: ['a'] },
  { op: 'Softmax', inputs: ['a'], outputs: ['y'] },
];
const chainModel = (): Uint8Array => buildModel(CHAIN, ['input_ids'], ['y']);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('model files: external data names', () => {
  it('accepts plain relative names, with / between plain segments', () => {
    for (const ok of ['model.onnx_data', 'model.onnx.data', 'weights/part-1.bin', '..data', 'a.b/c_d-e']) {
      assert.equal(externalDataNameProblem(ok), undefined, ok);
    }
  });

  it('refuses empty, ".", "..", absolute, backslash, colon, device and trailing-dot names on every platform', () => {
    const refused: [string, RegExp][] = [
      ['', /empty/], ['.', /"\." segment/], ['..', /"\.\." segment/], ['../../../../etc/passwd', /"\.\." segment/],
      ['a/../../b', /"\.\." segment/], ['./model.onnx_data', /"\." segment/], ['a//b', /empty path segment/], ['dir/', /empty path segment/],
      ['/etc/passwd', /absolute/], ['..\\..\\..\\x', /backslash/], ['C:\\x', /backslash/], ['C:x', /colon/],
      ['\\\\server\\share\\x', /backslash/], ['\\x', /backslash/], ['model.onnx:stream', /colon/],
      ['NUL', /device/], ['con.txt', /device/], ['sub/COM1.bin', /device/], ['data.', /dot or a space/], ['data ', /dot or a space/],
      ['a\u0000b', /control/], ['*.bin', /wildcard/],
    ];
    for (const [name, why] of refused) {
      const problem = externalDataNameProblem(name);
      assert.ok(problem, `${JSON.stringify(name)} is refused`);
      assert.match(problem, why, JSON.stringify(name));
    }
  });

  it('the Windows names a POSIX-only check would let through resolve outside the folder with path.win32', () => {
    // On Linux each of these is one harmless file name inside onnx/; on Windows it leaves the model folder.
    const posixRoot = '/models/m';
    const winRoot = 'C:\\models\\m';
    for (const name of ['..\\..\\..\\x', 'C:\\x', '\\\\server\\share\\x', '\\x', 'sub\\..\\..\\..\\x']) {
      assert.ok(isInside(posixRoot, path.posix.resolve(posixRoot, 'onnx', name), path.posix), `${name}: inside on POSIX`);
      assert.ok(!isInside(winRoot, path.win32.resolve(winRoot, 'onnx', name), path.win32), `${name}: outside on Windows`);
      assert.ok(externalDataNameProblem(name), `${name} is refused before any path is built`);
    }
  });

  it('isInside compares paths as the platform does (path.win32: any case, other drives, UNC)', () => {
    const w = path.win32;
    assert.ok(isInside('C:\\models\\m', 'C:\\models\\m\\onnx\\model.onnx_data', w));
    assert.ok(isInside('C:\\models\\m', 'c:\\MODELS\\M\\onnx\\x', w), 'Windows paths ignore case');
    assert.ok(isInside('C:\\models\\m', 'C:\\models\\m\\..data', w), 'a name starting with two dots is a child');
    assert.ok(!isInside('C:\\models\\m', 'C:\\models\\m2\\x', w), 'a sibling with the same prefix');
    assert.ok(!isInside('C:\\models\\m', 'D:\\models\\m\\x', w), 'another drive');
    assert.ok(!isInside('C:\\models\\m', '\\\\server\\share\\m\\x', w), 'a UNC path');
    assert.ok(!isInside('C:\\models\\m', 'C:\\models', w));
    const p = path.posix;
    assert.ok(isInside('/m', '/m/onnx/x', p));
    assert.ok(!isInside('/m', '/m2/x', p));
    assert.ok(!isInside('/m', '/etc/passwd', p));
    assert.ok(!isInside('/m', '/M/x', p), 'POSIX paths keep case');
  });
});

describe('model files: loading and Add Model read only what the folder holds', () => {
  let tmp: string;
  let storage: string;
  beforeEach(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'al-files-')));
    storage = path.join(tmp, 'storage');
    fs.mkdirSync(storage);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A folder with the bundled config.json and tokenizer.json and the given files (strings, bytes, or `{ link }` for a symlink). */
  function folder(name: string, files: Record<string, Uint8Array | string | { link: string }> = {}): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) if (!(f in files)) fs.copyFileSync(path.join(bundledModelDir, f), path.join(dir, f));
    if (!('onnx/model.onnx' in files)) fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), chainModel());
    for (const [rel, data] of Object.entries(files)) {
      const file = path.join(dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.rmSync(file, { recursive: true, force: true });
      if (typeof data === 'object' && 'link' in data) fs.symlinkSync(data.link, file);
      else fs.writeFileSync(file, data);
    }
    return dir;
  }
  /** The ModelError both loading (with the storage folder) and Add Model's inspection give; asserts they refuse. */
  async function refusals(dir: string): Promise<{ loading: string; adding: string }> {
    const messageOf = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof ModelError, `a ModelError, not ${(e as Error)?.stack ?? String(e)}`);
        return e.message;
      }
      assert.fail(`expected ${dir} to be refused`);
    };
    return { loading: await messageOf(loadModelFolder(dir, { bundled: false, storageDir: storage })), adding: await messageOf(inspectModelFolder(dir)) };
  }
  /** A file outside every model folder, with contents a message must never quote. */
  const secret = (): string => {
    const file = path.join(tmp, 'outside', 'secret.txt');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'root:x:0:0:TOP-SECRET-CONTENTS:/root:/bin/bash\n');
    return file;
  };

  it('external data named "../../../../etc/passwd" is refused by name, before anything is read, hashed or copied', async () => {
    const dir = folder('dotdot', { 'onnx/model.onnx': withExternalData(chainModel(), '../../../../etc/passwd') });
    const { loading, adding } = await refusals(dir);
    assert.match(loading, new RegExp(`^onnx/model\\.onnx in ${escape(dir)} names its external data "\\.\\./\\.\\./\\.\\./\\.\\./etc/passwd", ` +
      'which Attention Lens will not read: it has a "\\.\\." segment\\. External data must be a plain file name next to the ONNX file'));
    assert.match(loading, /pick another model with "Attention Lens: Select Model"/);
    assert.match(adding, /names its external data "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", which Attention Lens will not read/);
    assert.deepEqual(fs.readdirSync(storage), [], 'nothing was hashed or copied into the tap cache');
  });

  it('external data named "", "." or a Windows path is a clear refusal, not EISDIR', async () => {
    for (const [name, why] of [['', /it is empty/], ['.', /it has a "\." segment/], ['..\\..\\..\\x', /backslash/], ['C:\\x', /backslash/]] as const) {
      const dir = folder(`bad-${Buffer.from(name).toString('hex') || 'empty'}`, { 'onnx/model.onnx': withExternalData(chainModel(), name) });
      const { loading, adding } = await refusals(dir);
      for (const m of [loading, adding]) {
        assert.match(m, why, name);
        assert.doesNotMatch(m, /EISDIR|ENOENT/, name);
      }
    }
  });

  it('external data in a sub-folder loads; a plain name that is a folder is refused', async () => {
    const dir = folder('sub', { 'onnx/model.onnx': withExternalData(chainModel(), 'weights/part-1.bin'), 'onnx/weights/part-1.bin': new Uint8Array(4) });
    const m = await loadModelFolder(dir, { bundled: false });
    assert.deepEqual(m.externalData, ['weights/part-1.bin']);
    assert.equal((await inspectModelFolder(dir)).files[0].externalBytes, 4);
    const folderNamed = folder('named-folder', { 'onnx/model.onnx': withExternalData(chainModel(), 'weights'), 'onnx/weights/x': 'x' });
    const { loading, adding } = await refusals(folderNamed);
    for (const msg of [loading, adding]) assert.match(msg, /weights, the external data of onnx\/model\.onnx.* is not a file/);
  });

  it('a symlink out of the folder is refused for every file: external data, the ONNX file, config.json, tokenizer.json, onnx/', async () => {
    const outside = secret();
    const cases: [string, Record<string, Uint8Array | string | { link: string }>, string][] = [
      ['data', { 'onnx/model.onnx': withExternalData(chainModel(), 'model.onnx_data'), 'onnx/model.onnx_data': { link: outside } },
        'model.onnx_data, the external data of onnx/model.onnx'],
      ['onnx-file', { 'onnx/model.onnx': { link: outside } }, 'onnx/model.onnx'],
      ['config', { 'config.json': { link: outside } }, 'config.json'],
      ['tokenizer', { 'tokenizer.json': { link: outside } }, 'tokenizer.json'],
      ['relative', { 'tokenizer.json': { link: '../outside/secret.txt' } }, 'tokenizer.json'],
    ];
    for (const [name, files, what] of cases) {
      const { loading, adding } = await refusals(folder(name, files));
      for (const m of [loading, adding]) {
        assert.match(m, new RegExp(`^${escape(what)}.* resolves to ${escape(outside)}, outside the model folder`), `${name}: ${m}`);
        assert.match(m, /copy the file into the folder instead of linking to it/, name);
        assert.doesNotMatch(m, /TOP-SECRET|root:x/, `${name}: the target's contents are not quoted`);
      }
    }
    // onnx/ itself linked elsewhere: the ONNX file inside it resolves outside.
    const elsewhere = path.join(tmp, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.writeFileSync(path.join(elsewhere, 'model.onnx'), chainModel());
    const dir = folder('onnx-dir');
    fs.rmSync(path.join(dir, 'onnx'), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(dir, 'onnx'));
    const { loading, adding } = await refusals(dir);
    for (const m of [loading, adding]) assert.match(m, new RegExp(`resolves to ${escape(path.join(elsewhere, 'model.onnx'))}, outside the model folder`));
    assert.deepEqual(fs.readdirSync(storage), [], 'nothing was hashed or copied into the tap cache');
  });

  it('symlinks inside the folder, a linked model folder, and links into the extension\'s storage (loading only) are fine', async () => {
    const dir = folder('inside', { 'files/tokenizer.json': fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json')),
      'tokenizer.json': { link: 'files/tokenizer.json' } });
    assert.equal((await loadModelFolder(dir, { bundled: false })).name, 'inside');
    await inspectModelFolder(dir);
    const link = path.join(tmp, 'link-to-inside');
    fs.symlinkSync(dir, link);
    assert.equal((await loadModelFolder(link, { bundled: false })).dir, link, 'the folder keeps the name it was given');
    await inspectModelFolder(link);

    fs.writeFileSync(path.join(storage, 'stored.bin'), new Uint8Array(4));
    const stored = folder('stored', { 'onnx/model.onnx': withExternalData(chainModel(), 'model.onnx_data'),
      'onnx/model.onnx_data': { link: path.join(storage, 'stored.bin') } });
    assert.deepEqual((await loadModelFolder(stored, { bundled: false, storageDir: storage })).externalData, ['model.onnx_data']);
    await assert.rejects(loadModelFolder(stored, { bundled: false }), /resolves to .*stored\.bin, outside the model folder/,
      'without a storage folder only the model folder counts');
  });

  it('a loaded model whose external data later links out of the folder is refused on the next load, not served from the cache', async () => {
    const dir = folder('later', { 'onnx/model.onnx': withExternalData(chainModel(), 'model.onnx_data'), 'onnx/model.onnx_data': new Uint8Array(4) });
    await loadModelFolder(dir, { bundled: false });
    const outside = secret();
    fs.rmSync(path.join(dir, 'onnx', 'model.onnx_data'));
    fs.symlinkSync(outside, path.join(dir, 'onnx', 'model.onnx_data'));
    await assert.rejects(loadModelFolder(dir, { bundled: false }), /model\.onnx_data, the external data of .* resolves to .*, outside the model folder/);
  });

  it('JSON that does not parse is reported without quoting the file', async () => {
    const text = 'root:x:0:0:TOP-SECRET-CONTENTS:/root:/bin/bash\n';
    for (const rel of ['tokenizer.json', 'config.json']) {
      const { loading, adding } = await refusals(folder(`bad-${rel}`, { [rel]: text }));
      assert.match(loading, new RegExp(`^${escape(rel)} in the model folder .* is not valid JSON \\(it does not parse as JSON\\)\\.`));
      assert.match(adding, new RegExp(`^${escape(rel)} in .* is not a JSON object \\(it does not parse as JSON\\)\\.`));
      for (const m of [loading, adding]) assert.doesNotMatch(m, /TOP-SECRET|root:x|"root/, `${rel}: ${m}`);
    }
    for (const bad of ['root:x:0:0:SECRET', '{"a": SECRET}', '{"SECRET": 1,', '{"SECRET": 1} SECRET', '"SECRET\u0001"', '{SECRET']) {
      let reason = '';
      try {
        JSON.parse(bad);
      } catch (e) {
        reason = jsonErrorReason(e);
        assert.match((e as Error).message, /SECRET|JSON/, 'fixture: the parser\'s own message');
      }
      assert.ok(reason && !/SECRET/.test(reason), `${JSON.stringify(bad)} → ${reason}`);
    }
  });

  it('tokenizer.json over 64 MB and config.json over 16 MB are refused by size, naming the cap, before they are read', async () => {
    assert.equal(formatBytes(MAX_TOKENIZER_JSON_BYTES), '64 MB');
    assert.equal(formatBytes(MAX_CONFIG_JSON_BYTES), '16 MB');
    for (const [rel, cap] of [['tokenizer.json', '64 MB'], ['config.json', '16 MB']] as const) {
      const dir = folder(`big-${rel}`);
      fs.truncateSync(path.join(dir, rel), (rel === 'tokenizer.json' ? MAX_TOKENIZER_JSON_BYTES : MAX_CONFIG_JSON_BYTES) + 1); // sparse
      const { loading, adding } = await refusals(dir);
      for (const m of [loading, adding]) {
        assert.match(m, new RegExp(`^${escape(rel)} in .* is (64|16) MB; Attention Lens reads at most ${cap} for ${escape(rel)}`), m);
        assert.doesNotMatch(m, /JSON \(/, 'refused by size, not parsed');
      }
    }
  });
});
