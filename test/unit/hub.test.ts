import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { testModelsDir } from '../support/test-models';
import { installVscodeStub, type VscodeStub } from './host-vscode-stub';

// download-command.ts imports `vscode`: install the stub before requiring it.
const stub: VscodeStub = installVscodeStub();
stub.module.ProgressLocation = { Notification: 15 }; // before the require: the module's keys are read once
const hub = require('../../src/host/hub') as typeof import('../../src/host/hub');
const { downloadModelCommand } = require('../../src/host/download-command') as typeof import('../../src/host/download-command');
const { Notifier } = require('../../src/host/notify') as typeof import('../../src/host/notify');
const { inspectModelFolder } = require('../../src/host/model-inspect') as typeof import('../../src/host/model-inspect');

/** A local server in the hub's URL layout: /{owner}/{name}/resolve/main/{file} serves test/models/{name}/{file}. */
function hubServer(): Promise<{ url: string; requests: string[]; close(): Promise<void>; slow: Set<string> }> {
  const requests: string[] = [];
  const slow = new Set<string>();
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const m = /^\/[^/]+\/([^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    // "merged-gpt2" is tiny-gpt2 without onnx/model.onnx: only the merged decoder is there.
    const folder = m?.[1] === 'merged-gpt2' ? 'tiny-gpt2' : m?.[1];
    const hidden = m?.[1] === 'merged-gpt2' && m[2] === 'onnx/model.onnx';
    const file = m && !hidden && !m[2].includes('..') ? path.join(testModelsDir, folder!, m[2]) : '';
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404).end('Entry not found'); return; }
    const data = fs.readFileSync(file);
    res.writeHead(200, { 'content-length': data.length });
    if (!slow.has(m![2])) { res.end(data); return; }
    // Sends the first chunk, then waits for the client to go away (a cancelled download).
    res.write(data.subarray(0, 1000));
    req.on('close', () => res.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, slow,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

describe('model download from a hub-layout server (127.0.0.1, never the real hub)', () => {
  let server: Awaited<ReturnType<typeof hubServer>>;
  let storage: string;
  beforeEach(async () => {
    server = await hubServer();
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'al-hub-'));
  });
  afterEach(async () => {
    await server.close();
    fs.rmSync(storage, { recursive: true, force: true });
  });

  it('fetches config.json, tokenizer.json, onnx/model.onnx and the external data it names, with progress', async () => {
    const progress: { file: string; received: number; total?: number }[] = [];
    const dir = await hub.downloadModel({ id: 'test/tiny-distilbert', baseUrl: server.url, storageDir: storage, onProgress: (p) => progress.push(p) });
    assert.equal(dir, path.join(storage, 'models', 'test--tiny-distilbert'));
    for (const f of ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data']) {
      assert.deepEqual(fs.readFileSync(path.join(dir, f)), fs.readFileSync(path.join(testModelsDir, 'tiny-distilbert', f)), f);
    }
    assert.deepEqual(server.requests, ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data']
      .map((f) => `/test/tiny-distilbert/resolve/main/${f}`));
    const last = progress.filter((p) => p.file === 'onnx/model.onnx_data').at(-1)!;
    assert.equal(last.received, last.total, 'progress reaches the content-length');
    assert.ok(!fs.readdirSync(path.join(dir, 'onnx')).some((f) => f.endsWith('.part')));
    assert.equal((await inspectModelFolder(dir)).architecture, 'DistilBertModel');
  });

  it('names the missing file when the repository does not exist', async () => {
    await assert.rejects(hub.downloadModel({ id: 'test/nonexistent', baseUrl: server.url, storageDir: storage }),
      (e: unknown) => e instanceof hub.DownloadError && /HTTP 404/.test(e.message) && /has no model "test\/nonexistent".*check the id/.test(e.message));
  });

  it('fetches encoder_model.onnx and decoder_model.onnx for an encoder–decoder config', async () => {
    const dir = await hub.downloadModel({ id: 'test/tiny-t5', baseUrl: server.url, storageDir: storage });
    assert.deepEqual(server.requests.map((r) => r.replace('/test/tiny-t5/resolve/main/', '')),
      ['config.json', 'tokenizer.json', 'onnx/encoder_model.onnx', 'onnx/decoder_model.onnx']);
    assert.equal((await inspectModelFolder(dir)).attention, 'encoder-decoder');
  });

  it('falls back to onnx/decoder_model.onnx, then the merged decoder, when there is no onnx/model.onnx', async () => {
    const dir = await hub.downloadModel({ id: 'test/merged-gpt2', baseUrl: server.url, storageDir: storage });
    assert.deepEqual(server.requests.map((r) => r.replace('/test/merged-gpt2/resolve/main/', '')),
      ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/decoder_model.onnx', 'onnx/decoder_model_merged.onnx']);
    const report = await inspectModelFolder(dir);
    assert.equal(path.basename(report.files[0].path), 'decoder_model_merged.onnx');
  });

  it('stops on cancellation, leaves no partial file and fetches nothing more', async () => {
    server.slow.add('onnx/model.onnx');
    const abort = new AbortController();
    await assert.rejects(hub.downloadModel({ id: 'test/tiny-gpt2', baseUrl: server.url, storageDir: storage, signal: abort.signal,
      onProgress: (p) => { if (p.file === 'onnx/model.onnx') abort.abort(); } }),
    (e: unknown) => e instanceof hub.DownloadError && e.cancelled);
    assert.equal(server.requests.length, 3);
    assert.deepEqual(fs.readdirSync(path.join(storage, 'models', 'test--tiny-gpt2', 'onnx')), []);
  });

  it('checks ids and picks the base URL: setting, then environment, then the public hub', () => {
    assert.throws(() => hub.parseModelId('distilgpt2'), /owner\/name/);
    assert.throws(() => hub.parseModelId('a/../b'), /owner\/name/);
    assert.equal(hub.parseModelId(' Xenova/distilgpt2 '), 'Xenova/distilgpt2');
    assert.equal(hub.hubBaseUrl('http://127.0.0.1:9/', { ATTENTION_LENS_HUB_URL: 'http://x' }), 'http://127.0.0.1:9');
    assert.equal(hub.hubBaseUrl('', { ATTENTION_LENS_HUB_URL: 'http://mirror/' }), 'http://mirror');
    assert.equal(hub.hubBaseUrl(undefined, {}), 'https://huggingface.co');
  });

  describe('the Download Model… command (stubbed VS Code)', () => {
    let settings: Record<string, unknown>;
    const realFetch = globalThis.fetch;
    let fetchCalls: number;
    beforeEach(() => {
      fetchCalls = 0;
      globalThis.fetch = (...a: Parameters<typeof fetch>) => { fetchCalls++; return realFetch(...a); };
      settings = { models: [], hubUrl: server.url };
      (stub.module.workspace as Record<string, unknown>).getConfiguration = () => ({
        get: (k: string) => settings[k], update: async (k: string, v: unknown) => { settings[k] = v; }, inspect: () => ({}),
      });
      (stub.module.window as Record<string, unknown>).withProgress = (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) =>
        task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) });
    });
    afterEach(() => { globalThis.fetch = realFetch; });

    it('without attentionLens.allowDownloads touches no network and says how to turn it on', async () => {
      const notifier = new Notifier();
      assert.equal(await downloadModelCommand(notifier, storage, 'test/tiny-bert'), undefined);
      assert.equal(fetchCalls, 0, 'fetch was never called');
      assert.deepEqual(server.requests, [], 'the server saw no request');
      assert.match(notifier.messages().at(-1)!.text, /downloads nothing unless "attentionLens\.allowDownloads" is on/);
      assert.deepEqual(fs.readdirSync(storage), []);
    });

    it('with it on downloads from the configured hub URL, then checks and lists the model', async () => {
      settings.allowDownloads = true;
      const notifier = new Notifier();
      const dir = await downloadModelCommand(notifier, storage, 'test/tiny-bert');
      assert.equal(dir, path.join(storage, 'models', 'test--tiny-bert'), JSON.stringify(notifier.messages()));
      assert.ok(fetchCalls >= 3 && server.requests.length === 3);
      assert.deepEqual(settings.models, [dir]);
      assert.match(notifier.messages().at(-1)!.text, /Added: "test--tiny-bert"\. BertModel/);
    });
  });
});
