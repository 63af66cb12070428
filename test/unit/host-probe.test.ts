import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROBE_STATE_KEY, ProbeStore, probeKey } from '../../src/host/probe-store';
import { checkProbeScores } from '../../src/shared/probe-scores';
import { TAP_FORMAT } from '../../src/shared/full-tap';
import { repoRoot } from '../support/model';
import { extensionContext, installVscodeStub, Uri, type VscodeStub } from './host-vscode-stub';

// Issue 5: the induction probe's scores persist across panels and reloads. The panel forwards the scores its
// worker computed; the host stores them in global state under the model file's SHA-256 and sends them with
// the next `show` of that model (and of no other), refusing anything malformed.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');

const bundled = path.join(repoRoot, 'models', 'lens-gpt');
const config = JSON.parse(fs.readFileSync(path.join(bundled, 'config.json'), 'utf8'));
const L: number = config.n_layer;
const H: number = config.n_head;
const PERIOD = Math.min(64, Math.floor(config.n_positions / 2));

type Posted = { type: string; [k: string]: any };
const lastShow = () => [...stub.state.posted as Posted[]].reverse().find((m) => m.type === 'show')!;
const run = () => stub.state.commands.get('attentionLens.showAttention')!() as Promise<number>;
const settle = () => new Promise((r) => setImmediate(r));
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Distinct scores per head (not what the model computes), so the test can tell them apart. */
const scores = (base: number) => Array.from({ length: L * H }, (_, i) => base + i / (10 * L * H));

/** A memento like context.globalState, over a Map. */
function memento(map = new Map<string, unknown>()) {
  return { map, get: (k: string) => map.get(k), update: async (k: string, v: unknown) => { map.set(k, v); } };
}

describe('host flow: induction-probe scores stored per model and sent with show', function () {
  this.timeout(30000);
  const subscriptions: { dispose(): unknown }[] = [];
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'al-probe-storage-'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-probe-model-'));
  const globalState = memento();
  const stored = () => (globalState.map.get(PROBE_STATE_KEY) ?? {}) as Record<string, { induction: number[] }>;
  let other: string;
  let api: import('../../src/api').AttentionLensApi;

  before(() => {
    // Another model: the bundled one with a doc_string field appended (valid protobuf, another file hash).
    other = path.join(tmp, 'lens-gpt-copy');
    fs.mkdirSync(path.join(other, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(bundled, f), path.join(other, f));
    const doc = Buffer.from('another model');
    fs.writeFileSync(path.join(other, 'onnx', 'model.onnx'),
      Buffer.concat([fs.readFileSync(path.join(bundled, 'onnx', 'model.onnx')), Buffer.from([0x32, doc.length]), doc]));
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot), { globalStorageUri: Uri.file(storage), globalState }));
    stub.openEditor('The cat sat on the mat.', [[0, 23]]);
  });
  after(() => {
    for (const d of subscriptions) d.dispose();
    delete stub.state.config.defaultModel;
    fs.rmSync(storage, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('stores the panel\'s probe under the model file\'s hash and sends it with the next show of that model only', async () => {
    const first = await run();
    stub.fromPanel({ type: 'ready' });
    let show = lastShow();
    assert.equal(show.runId, first);
    assert.equal(show.model.context, config.n_positions);
    assert.equal(show.model.probe, undefined, 'nothing stored yet');

    const induction = scores(0.5);
    stub.fromPanel({ type: 'probe', runId: first, period: PERIOD, layers: L, heads: H, induction });
    await settle();
    const key = probeKey(sha256(path.join(bundled, 'onnx', 'model.onnx')), config.n_positions);
    assert.deepEqual(Object.keys(stored()), [key]);
    assert.match(key, new RegExp(`^[0-9a-f]{64}:tap${TAP_FORMAT}:seed\\d+:period${PERIOD}$`));

    const second = await run();
    show = lastShow();
    assert.equal(show.runId, second);
    assert.deepEqual(show.model.probe, { period: PERIOD, layers: L, heads: H, induction });

    // Another model file: no probe of its own yet, and not the first model's.
    stub.state.config.defaultModel = other;
    const third = await run();
    stub.fromPanel({ type: 'ready' }); // a model folder the page could not read yet: the page was reloaded
    show = lastShow();
    assert.equal(show.runId, third);
    assert.match(show.model.onnxUri, /tapped\//);
    assert.equal(show.model.probe, undefined);
    const otherInduction = scores(0.1);
    stub.fromPanel({ type: 'probe', runId: third, period: PERIOD, layers: L, heads: H, induction: otherInduction });
    await settle();
    assert.equal(Object.keys(stored()).length, 2);
    await run();
    assert.deepEqual(lastShow().model.probe.induction, otherInduction);

    delete stub.state.config.defaultModel;
    await run();
    assert.deepEqual(lastShow().model.probe.induction, induction, 'each model keeps its own');
  });

  it('refuses malformed probe data, a wrong period or shape, and runs it does not know', async () => {
    stub.state.config.defaultModel = other;
    const runId = await run();
    const before = JSON.stringify(stored());
    const good = { type: 'probe', runId, period: PERIOD, layers: L, heads: H, induction: scores(0.2) };
    const bad: [string, Record<string, unknown>][] = [
      ['a score above 1', { ...good, induction: [1.5, ...scores(0.2).slice(1)] }],
      ['a negative score', { ...good, induction: [-0.1, ...scores(0.2).slice(1)] }],
      ['NaN', { ...good, induction: [Number.NaN, ...scores(0.2).slice(1)] }],
      ['a string score', { ...good, induction: ['0.5', ...scores(0.2).slice(1)] }],
      ['too few scores', { ...good, induction: scores(0.2).slice(1) }],
      ['layers × heads not the list', { ...good, layers: L + 1 }],
      ['no list', { ...good, induction: undefined }],
      ['a period of another probe', { ...good, period: PERIOD - 1 }],
      ['a fractional layer count', { ...good, layers: 1.5, heads: L * H / 1.5 }],
      ['an unknown run', { ...good, runId: runId + 1000 }],
    ];
    for (const [what, msg] of bad) {
      stub.fromPanel(msg);
      await settle();
      assert.equal(JSON.stringify(stored()), before, `${what} is not stored`);
    }
    // Once the run's result is in, a probe with other dimensions than its attention is refused too.
    const T = api.lastRun()!.tokens.length;
    stub.fromPanel({ type: 'result', runId, backendUsed: 'wasm', timings: {},
      shapes: [{ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true }] });
    stub.fromPanel({ ...good, layers: H, heads: L, induction: scores(0.2) });
    assert.ok((await api.waitForRun(runId)).shapes, 'the result is in');
    await settle();
    assert.equal(JSON.stringify(stored()), before, 'heads and layers swapped');
    assert.ok(!stub.state.messages.some((m) => m.kind === 'error'), 'a refused probe is no error for the user');
    await run();
    assert.deepEqual(lastShow().model.probe.induction, scores(0.1), 'the earlier good probe is still what is sent');
  });

  it('a new store over the same global state (a window reload) finds the probe; corrupt storage is ignored', async () => {
    const hash = 'a'.repeat(64);
    const one = new ProbeStore(globalState);
    assert.equal(one.forRun(1, hash, 128), undefined);
    assert.equal(await one.accept({ type: 'probe', runId: 1, period: 64, layers: 1, heads: 2, induction: [0.25, 1] }), undefined);
    const reloaded = new ProbeStore(globalState);
    assert.deepEqual(reloaded.forRun(2, hash, 128), { period: 64, layers: 1, heads: 2, induction: [0.25, 1] });
    assert.deepEqual(reloaded.forRun(3, hash, 1024), { period: 64, layers: 1, heads: 2, induction: [0.25, 1] },
      'a longer context uses the same fixed-length probe');
    assert.equal(reloaded.forRun(4, hash, 64), undefined, 'a shorter context is a different probe');
    assert.equal(new ProbeStore(undefined).forRun(5, hash, 128), undefined, 'no global state: nothing stored');
    assert.equal(reloaded.forRun(6, undefined, 128), undefined, 'no hash: nothing stored');

    const corrupt = memento(new Map([[PROBE_STATE_KEY, { [probeKey(hash, 128)]: { period: 64, layers: 1, heads: 2, induction: [0.5, 7] } }]]));
    assert.equal(new ProbeStore(corrupt).forRun(1, hash, 128), undefined);
    assert.equal(new ProbeStore(memento(new Map([[PROBE_STATE_KEY, 'junk']]))).forRun(1, hash, 128), undefined);
  });

  it('checkProbeScores copies the four fields and names what is wrong', () => {
    assert.deepEqual(checkProbeScores({ type: 'probe', runId: 3, period: 2, layers: 1, heads: 1, induction: [0], extra: 1 }),
      { period: 2, layers: 1, heads: 1, induction: [0] });
    assert.match(checkProbeScores({ period: 2, layers: 1, heads: 2, induction: [0, Infinity] }) as string, /score 1 .* not a number in \[0, 1\]/);
    assert.match(checkProbeScores({ period: 0, layers: 1, heads: 1, induction: [0] }) as string, /period is not a positive integer/);
    assert.match(checkProbeScores(null) as string, /not an object/);
  });
});
