import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { externalDataNameProblem } from '../../src/shared/external-data-name';
import { testModelsDir } from '../support/test-models';
import { installVscodeStub, type VscodeStub } from './host-vscode-stub';

// download-command.ts imports `vscode`: install the stub before requiring it.
const stub: VscodeStub = installVscodeStub();
stub.module.ProgressLocation = { Notification: 15 }; // before the require: the module's keys are read once
const hub = require('../../src/host/hub') as typeof import('../../src/host/hub');
const { downloadModelCommand } = require('../../src/host/download-command') as typeof import('../../src/host/download-command');
const { Notifier } = require('../../src/host/notify') as typeof import('../../src/host/notify');
const { inspectModelFolder } = require('../../src/host/model-inspect') as typeof import('../../src/host/model-inspect');

type Route = (req: http.IncomingMessage, res: http.ServerResponse, port: number) => void;

/**
 * A local server in the hub's URL layout: /{owner}/{name}/resolve/main/{file} serves test/models/{name}/{file}.
 * `routes` (by request path) answer first; `intervals` are cleared on close.
 */
function hubServer(): Promise<{ url: string; port: number; requests: string[]; close(): Promise<void>; slow: Set<string>;
  routes: Map<string, Route>; intervals: Set<NodeJS.Timeout>; }> {
  const requests: string[] = [];
  const slow = new Set<string>();
  const routes = new Map<string, Route>();
  const intervals = new Set<NodeJS.Timeout>();
  let port = 0;
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const route = routes.get(req.url ?? '');
    if (route) { route(req, res, port); return; }
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
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    port = (server.address() as AddressInfo).port;
    resolve({
      url: `http://127.0.0.1:${port}`, port, requests, slow, routes, intervals,
      close: () => new Promise<void>((r) => {
        for (const t of intervals) clearInterval(t);
        server.closeAllConnections();
        server.close(() => r());
      }),
    });
  }));
}

/** Every file under `dir` (relative, '/'-separated) with its bytes, for before/after comparisons. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const abs = path.join(dir, f);
    if (fs.statSync(abs).isFile()) out[f.split(path.sep).join('/')] = fs.readFileSync(abs).toString('base64');
  }
  return out;
}

/** A fetch for an https hub that never touches the network: `answer` maps each URL to a Response. */
function fakeFetch(answer: (url: URL) => Response, seen: string[] = []): typeof fetch {
  return async (input: string | URL | Request, init?: RequestInit) => {
    assert.equal(init?.redirect, 'manual', 'redirects are followed by the downloader, not by fetch');
    const url = new URL(input instanceof Request ? input.url : input);
    seen.push(url.href);
    return answer(url);
  };
}

/** A fake-fetch answer serving test/models/{name}/{file} for any host whose path is /{owner}/{name}/resolve/main/{file}. */
function serveTestModel(url: URL): Response {
  const m = /^\/[^/]+\/([^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
  const file = m ? path.join(testModelsDir, m[1], decodeURIComponent(m[2])) : '';
  if (!file || !fs.existsSync(file)) return new Response('Entry not found', { status: 404 });
  const data = fs.readFileSync(file);
  return new Response(data, { status: 200, headers: { 'content-length': String(data.length) } });
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
    assert.deepEqual(fs.readdirSync(path.join(storage, 'models')), [], 'no model folder and no temporary folder');
  });

  it('checks ids and picks the base URL: setting, then environment, then the public hub', () => {
    assert.throws(() => hub.parseModelId('distilgpt2'), /owner\/name/);
    assert.throws(() => hub.parseModelId('a/../b'), /owner\/name/);
    assert.equal(hub.parseModelId(' Xenova/distilgpt2 '), 'Xenova/distilgpt2');
    assert.equal(hub.hubBaseUrl('http://127.0.0.1:9/', { ATTENTION_LENS_HUB_URL: 'http://x' }), 'http://127.0.0.1:9');
    assert.equal(hub.hubBaseUrl('', { ATTENTION_LENS_HUB_URL: 'https://mirror/' }), 'https://mirror');
    assert.equal(hub.hubBaseUrl(undefined, {}), 'https://huggingface.co');
  });

  describe('hardening (issue 11)', () => {
    const models = () => path.join(storage, 'models');

    it('accepts only https hubs, and plain http only to loopback; a refused hub is never contacted', async () => {
      for (const ok of ['https://huggingface.co', 'https://mirror.example/hf', 'http://127.0.0.1:9', 'http://127.5.6.7',
        'http://localhost:8080', 'http://[::1]:9']) {
        assert.doesNotThrow(() => hub.checkHubUrl(ok), ok);
      }
      for (const [bad, why] of [['http://huggingface.co', /only allowed to this machine/], ['http://127.0.0.1.nip.io', /only allowed/],
        ['http://10.0.0.1', /only allowed/], [`file://${testModelsDir}`, /file: is not a download scheme/],
        ['ftp://127.0.0.1', /ftp: is not/], ['https://user:pw@huggingface.co', /user name or password/], ['not a url', /not a URL/]] as const) {
        assert.throws(() => hub.checkHubUrl(bad), (e: unknown) => e instanceof hub.DownloadError && why.test(e.message), bad);
      }
      for (const base of ['http://example.invalid', `file://${testModelsDir}`]) {
        const seen: string[] = [];
        await assert.rejects(hub.downloadModel({ id: 'test/tiny-bert', baseUrl: base, storageDir: storage, fetch: fakeFetch(serveTestModel, seen) }),
          /is refused/);
        assert.deepEqual(seen, [], `${base}: nothing fetched`);
      }
      assert.ok(!fs.existsSync(models()) || fs.readdirSync(models()).length === 0, 'nothing written');
    });

    it('follows redirects on the same host, refuses one to another host, and leaves nothing behind', async () => {
      const prefix = '/test/moved-bert/resolve/main/';
      for (const f of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
        server.routes.set(prefix + f, (_q, res) => res.writeHead(307, { location: `/test/tiny-bert/resolve/main/${f}` }).end());
      }
      const dir = await hub.downloadModel({ id: 'test/moved-bert', baseUrl: server.url, storageDir: storage });
      assert.deepEqual(fs.readFileSync(path.join(dir, 'onnx', 'model.onnx')), fs.readFileSync(path.join(testModelsDir, 'tiny-bert', 'onnx', 'model.onnx')));
      // localhost is this very server, but another host name: refused all the same.
      server.routes.set('/test/elsewhere/resolve/main/config.json', (_q, res, port) =>
        res.writeHead(302, { location: `http://localhost:${port}/test/tiny-bert/resolve/main/config.json` }).end());
      await assert.rejects(hub.downloadModel({ id: 'test/elsewhere', baseUrl: server.url, storageDir: storage }),
        (e: unknown) => e instanceof hub.DownloadError && /refused: it leads to another host \(localhost:\d+\)/.test(e.message));
      assert.ok(!server.requests.some((r) => r.startsWith('/test/tiny-bert/') && server.requests.indexOf(r) > server.requests.indexOf('/test/elsewhere/resolve/main/config.json')),
        'the other host was not asked');
      assert.deepEqual(fs.readdirSync(models()), ['test--moved-bert']);
    });

    it('on an https hub refuses a redirect to http or to a foreign host, and allows the public hub\'s CDN', async () => {
      const hf = 'https://huggingface.co';
      const via = (to: (u: URL) => string) => fakeFetch((u) => (u.hostname === 'huggingface.co' && u.pathname.endsWith('/onnx/model.onnx')
        ? new Response(null, { status: 302, headers: { location: to(u) } }) : serveTestModel(u)));
      await assert.rejects(hub.downloadModel({ id: 'test/tiny-bert', baseUrl: hf, storageDir: storage, fetch: via((u) => `http://huggingface.co${u.pathname}`) }),
        (e: unknown) => e instanceof hub.DownloadError && /is refused: plain http/.test(e.message));
      await assert.rejects(hub.downloadModel({ id: 'test/tiny-bert', baseUrl: hf, storageDir: storage, fetch: via((u) => `https://evil.example${u.pathname}`) }),
        (e: unknown) => e instanceof hub.DownloadError && /another host \(evil\.example\)/.test(e.message));
      await assert.rejects(hub.downloadModel({ id: 'test/tiny-bert', baseUrl: 'https://mirror.example', storageDir: storage,
        fetch: fakeFetch((u) => (u.hostname === 'mirror.example' ? new Response(null, { status: 302, headers: { location: `https://cdn-lfs.hf.co${u.pathname}` } })
        : serveTestModel(u))) }), /another host \(cdn-lfs\.hf\.co\)/, 'the CDN exception is the public hub\'s only');
      assert.deepEqual(fs.readdirSync(models()), [], 'no model and no temporary folder');
      // No scheme change even where host and loopback would allow it.
      const local = new URL('https://127.0.0.1:1/');
      assert.match(hub.redirectProblem(local, new URL('https://127.0.0.1:1/a'), new URL('http://127.0.0.1:1/b')) ?? '', /changes the scheme/);
      assert.equal(hub.redirectProblem(local, new URL('https://127.0.0.1:1/a'), new URL('https://127.0.0.1:1/b')), undefined);
      const seen: string[] = [];
      const cdn = fakeFetch((u) => (u.hostname === 'huggingface.co' && u.pathname.endsWith('.onnx')
        ? new Response(null, { status: 302, headers: { location: `https://cas-bridge.xethub.hf.co${u.pathname}` } }) : serveTestModel(u)), seen);
      const dir = await hub.downloadModel({ id: 'test/tiny-bert', baseUrl: hf, storageDir: storage, fetch: cdn });
      assert.ok(seen.includes('https://cas-bridge.xethub.hf.co/test/tiny-bert/resolve/main/onnx/model.onnx'), seen.join(' '));
      assert.equal((await inspectModelFolder(dir)).architecture, 'BertModel');
    });

    it('caps each file by its kind: by Content-Length before reading, and while streaming', async () => {
      assert.deepEqual(hub.SIZE_CAPS, { config: 10 * 2 ** 20, tokenizer: 50 * 2 ** 20, onnx: 2 ** 31 - 1, externalData: 2 ** 32, model: 2 ** 33 });
      assert.deepEqual(['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data'].map((f) => hub.sizeCapOf(f)),
        [hub.SIZE_CAPS.config, hub.SIZE_CAPS.tokenizer, hub.SIZE_CAPS.onnx, hub.SIZE_CAPS.externalData]);
      // A server that announces 3e9 bytes (or a 300 MB config.json) and then sends a trickle: refused at once by the header.
      const huge = (n: number): Route => (req, res) => { res.writeHead(200, { 'content-length': n }); res.write(Buffer.alloc(1000)); req.on('close', () => res.destroy()); };
      server.routes.set('/test/big-onnx/resolve/main/config.json', (_q, res) => res.end('{}'));
      server.routes.set('/test/big-onnx/resolve/main/tokenizer.json', (_q, res) => res.end('{}'));
      server.routes.set('/test/big-onnx/resolve/main/onnx/model.onnx', huge(3e9));
      await assert.rejects(hub.downloadModel({ id: 'test/big-onnx', baseUrl: server.url, storageDir: storage }),
        (e: unknown) => e instanceof hub.DownloadError && /onnx\/model\.onnx of "test\/big-onnx" is 2\.8 GB, more than the 2 GB .* an ONNX file/.test(e.message));
      server.routes.set('/test/big-config/resolve/main/config.json', huge(300 * 2 ** 20));
      await assert.rejects(hub.downloadModel({ id: 'test/big-config', baseUrl: server.url, storageDir: storage }),
        /config\.json of "test\/big-config" is 300 MB, more than the 10 MB .* for config\.json/);
      // Without Content-Length (chunked), the count while streaming stops it (a small cap keeps the test small).
      server.routes.set('/test/chunked/resolve/main/config.json', (_q, res) => res.end('{}'));
      server.routes.set('/test/chunked/resolve/main/tokenizer.json', (_q, res) => {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 32));
        res.end();
      });
      await assert.rejects(hub.downloadModel({ id: 'test/chunked', baseUrl: server.url, storageDir: storage,
        sizeCaps: { ...hub.SIZE_CAPS, tokenizer: 4096 } }), /tokenizer\.json of "test\/chunked" is over 4 KB, more than the 4 KB/);
      // And all files of a model together: tiny-distilbert's external data takes it over a 100 KB total.
      await assert.rejects(hub.downloadModel({ id: 'test/tiny-distilbert', baseUrl: server.url, storageDir: storage,
        sizeCaps: { ...hub.SIZE_CAPS, model: 100 * 1024 } }), /onnx\/model\.onnx_data of "test\/tiny-distilbert" is [\d.]+ KB, which takes the model over the 100 KB/);
      assert.deepEqual(fs.readdirSync(models()), [], 'no model and no temporary folder');
    });

    it('gives up on a server that makes no progress (a byte every 2 s) with the timeout message', async () => {
      const trickle = (everyMs: number): Route => (req, res) => {
        res.writeHead(200, { 'content-length': 1000 });
        const t = setInterval(() => res.write('{'), everyMs);
        server.intervals.add(t);
        req.on('close', () => clearInterval(t));
      };
      server.routes.set('/test/stalled/resolve/main/config.json', trickle(2000));
      await assert.rejects(hub.downloadModel({ id: 'test/stalled', baseUrl: server.url, storageDir: storage, stallTimeoutMs: 1000 }),
        (e: unknown) => e instanceof hub.DownloadError && !e.cancelled && /made no progress for 1 s/.test(e.message));
      // A byte every 100 ms is not progress either: fewer than stallBytes arrive within the timeout.
      server.routes.set('/test/trickle/resolve/main/config.json', trickle(100));
      await assert.rejects(hub.downloadModel({ id: 'test/trickle', baseUrl: server.url, storageDir: storage, stallTimeoutMs: 1000, stallBytes: 1024 }),
        /made no progress for 1 s \(\d+ bytes so far\)/);
      // A server that never answers at all.
      server.routes.set('/test/silent/resolve/main/config.json', () => undefined);
      await assert.rejects(hub.downloadModel({ id: 'test/silent', baseUrl: server.url, storageDir: storage, stallTimeoutMs: 1000 }),
        /made no progress for 1 s \(0 bytes so far\)/);
      assert.deepEqual(fs.readdirSync(models()), [], 'no model and no temporary folder');
    });

    it('replaces a model folder whole: a re-download failing midway leaves the old copy exactly as it was', async () => {
      const dir = await hub.downloadModel({ id: 'test/tiny-gpt2', baseUrl: server.url, storageDir: storage });
      const before = snapshot(dir);
      const newConfig = JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-gpt2', 'config.json'), 'utf8')), n_layer: 7 });
      server.routes.set('/test/tiny-gpt2/resolve/main/config.json', (_q, res) => res.end(newConfig));
      server.routes.set('/test/tiny-gpt2/resolve/main/onnx/model.onnx', (_q, res) => {
        res.writeHead(200, { 'content-length': 50_000 });
        res.write(Buffer.alloc(1000));
        setImmediate(() => res.destroy()); // the connection drops midway
      });
      await assert.rejects(hub.downloadModel({ id: 'test/tiny-gpt2', baseUrl: server.url, storageDir: storage }), hub.DownloadError);
      assert.deepEqual(snapshot(dir), before, 'the old config.json, tokenizer.json and ONNX, unchanged');
      assert.deepEqual(fs.readdirSync(models()), ['test--tiny-gpt2'], 'and no temporary folder');
      server.routes.delete('/test/tiny-gpt2/resolve/main/onnx/model.onnx');
      await hub.downloadModel({ id: 'test/tiny-gpt2', baseUrl: server.url, storageDir: storage });
      assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), newConfig, 'a complete download replaces it');
      assert.deepEqual(fs.readdirSync(models()), ['test--tiny-gpt2']);
      // Temporary folders of a process that is gone (a crash) are removed; a live process's are not touched.
      const dead = path.join(models(), '.download-2147483646-abcdef');
      const live = path.join(models(), `.download-${process.pid}-abcdef`);
      for (const d of [dead, live]) fs.mkdirSync(path.join(d, 'onnx'), { recursive: true });
      await hub.downloadModel({ id: 'test/tiny-bert', baseUrl: server.url, storageDir: storage });
      assert.deepEqual([fs.existsSync(dead), fs.existsSync(live)], [false, true]);
    });

    it('checks ids by the hub\'s rules, and distinct ids never share a folder', () => {
      for (const bad of ['a--b/c', 'a/b--c', '-a/b', 'a/b-', 'a./b', 'a/.b', 'a/b/c', 'a', '/b', 'a/', 'a b/c', 'a/b?c', 'ä/b',
        `a/${'x'.repeat(95)}`]) {
        assert.throws(() => hub.parseModelId(bad), /not a model id/, bad);
      }
      for (const ok of ['Xenova/distilgpt2', 'onnx-community/Qwen2.5-0.5B-Instruct', 'a-b/c', 'a/b-c', '_a/b_', 'a.b/c.d']) {
        assert.equal(hub.parseModelId(ok), ok);
      }
      // Every valid id over a small alphabet (parts of up to 4 characters of a, -, . and _): the folders are all different.
      const parts: string[] = [];
      const grow = (p: string) => { if (p) parts.push(p); if (p.length < 4) for (const c of ['a', '-', '.', '_']) grow(p + c); };
      grow('');
      const folders = new Map<string, string>();
      let ids = 0;
      for (const owner of parts) {
        for (const name of parts) {
          let id: string;
          try { id = hub.parseModelId(`${owner}/${name}`); } catch { continue; }
          ids++;
          const folder = path.basename(hub.modelDownloadDir(storage, id));
          assert.equal(folders.get(folder) ?? id, id, `${id} and ${folders.get(folder)} share ${folder}`);
          folders.set(folder, id);
        }
      }
      assert.ok(ids > 5000, `${ids} ids`);
    });

    it('takes external data names only as plain relative names, on every platform (Windows by path.win32)', async () => {
      const bad = ['..\\..\\..\\..\\x', '../x', 'a/../../x', './x', 'a/./b', '/etc/passwd', 'C:\\x', 'C:x', 'c:/x', '\\\\server\\share\\x',
        'x:stream', 'a//b', 'a/', '', 'nul', 'CON.bin', 'x.', 'x ', '.. ', 'a\u0000b', 'a\nb', 'x?y', 'x*'];
      for (const name of bad) assert.ok(externalDataNameProblem(name), JSON.stringify(name));
      const good = ['model.onnx_data', 'model.onnx.data', 'weights/part-1.bin', '.hidden', '..data', 'a b.bin', 'connect.bin'];
      for (const name of good) {
        assert.equal(externalDataNameProblem(name), undefined, name);
        // Joined the way a loader joins them, on Windows and elsewhere, they stay inside the model's onnx folder.
        for (const [p, dir] of [[path.win32, 'C:\\m\\onnx'], [path.posix, '/m/onnx']] as const) {
          const rel = p.relative(dir, p.join(dir, ...name.split('/')));
          assert.ok(rel && rel !== '..' && !rel.startsWith(`..${p.sep}`) && !p.isAbsolute(rel), `${name} stays inside on ${p === path.win32 ? 'win32' : 'posix'}`);
        }
      }
      // What the old check let through: joined with posix rules it looked inside, but Windows resolves it 4 folders up.
      const evil = '..\\..\\..\\..\\x';
      assert.ok(!path.posix.join('onnx', evil).startsWith('..'), 'the old startsWith("..") check passed it');
      assert.ok(path.win32.relative('C:\\s\\models\\m', path.win32.join('C:\\s\\models\\m', 'onnx', evil)).startsWith('..\\'), 'and on Windows it escapes');
      // A model naming it: refused before anything is fetched for it, and nothing is kept.
      const name = '..\\..\\..\\..\\xyz'; // as long as "model.onnx_data", so the protobuf stays valid
      const onnx = Buffer.from(fs.readFileSync(path.join(testModelsDir, 'tiny-distilbert', 'onnx', 'model.onnx')).toString('latin1')
        .split('model.onnx_data').join(name), 'latin1');
      server.routes.set('/test/evil/resolve/main/config.json', (_q, res) => res.end(fs.readFileSync(path.join(testModelsDir, 'tiny-distilbert', 'config.json'))));
      server.routes.set('/test/evil/resolve/main/tokenizer.json', (_q, res) => res.end(fs.readFileSync(path.join(testModelsDir, 'tiny-distilbert', 'tokenizer.json'))));
      server.routes.set('/test/evil/resolve/main/onnx/model.onnx', (_q, res) => res.end(onnx));
      await assert.rejects(hub.downloadModel({ id: 'test/evil', baseUrl: server.url, storageDir: storage }),
        (e: unknown) => e instanceof hub.DownloadError && e.message.includes(`names external data "${name}", which is not a plain file name`));
      assert.equal(server.requests.at(-1), '/test/evil/resolve/main/onnx/model.onnx', 'the data file was not requested');
      assert.deepEqual(fs.readdirSync(storage), ['models']);
      assert.deepEqual(fs.readdirSync(models()), []);
    });
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
