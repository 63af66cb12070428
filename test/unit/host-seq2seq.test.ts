import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scanOnnx } from '../../src/shared/onnx-tap';
import { planFullTap } from '../../src/shared/full-tap';
import type { AttentionLensApi } from '../../src/api';
import { runEncoderDecoder } from '../../src/shared/tapped-run';
import { shapesOf } from '../../src/shared/attention-query';
import { repoRoot } from '../support/model';
import { openTestModel, readTestOnnx, testModelsDir } from '../support/test-models';
import { extensionContext, installVscodeStub, until, Uri, type VscodeStub } from './host-vscode-stub';

// An encoder–decoder model through the host: show carries the decoder tokens and the decoder's URI, and a
// result's encoder/decoder/cross stacks (computed here by the shared runner in onnxruntime-node, as the
// worker would) are checked against the run and kept in the run snapshot.
const stub: VscodeStub = installVscodeStub();
const extension = require('../../src/extension') as typeof import('../../src/extension');
const ort = require('onnxruntime-node');

type Posted = { type: string; [k: string]: any };

describe('host flow with an encoder–decoder model (tiny-t5)', function () {
  this.timeout(30000);
  let api: AttentionLensApi;
  const subscriptions: { dispose(): unknown }[] = [];
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'al-storage-'));
  after(() => fs.rmSync(storage, { recursive: true, force: true }));
  before(() => {
    stub.state.config.defaultModel = path.join(testModelsDir, 'tiny-t5');
    api = extension.activate(extensionContext(stub, subscriptions, Uri.file(repoRoot), { globalStorageUri: Uri.file(storage) }));
  });
  after(() => { for (const d of subscriptions) d.dispose(); });

  it('sends decoder tokens, keeps the three stacks of the result, and refuses stacks of the wrong size', async () => {
    const text = 'The cat sat on the mat.';
    stub.openEditor(text, [[0, text.length]]);
    const runId = await stub.state.commands.get('attentionLens.showAttention')!() as number;
    stub.fromPanel({ type: 'ready' });
    const show = [...stub.state.posted as Posted[]].reverse().find((m) => m.type === 'show')!;
    assert.equal(show.runId, runId);
    // Both files are served from the tap cache in global storage, already tapped.
    assert.equal(show.model.tapped, true);
    const cached = (uri: string) => {
      const m = /tapped\/([0-9a-f]{64}\.tap\d+\.onnx)$/.exec(uri);
      assert.ok(m, uri);
      return path.join(storage, 'tapped', m[1]);
    };
    for (const [uri, file] of [[show.model.onnxUri, 'encoder_model.onnx'], [show.model.decoderOnnxUri, 'decoder_model.onnx']]) {
      const original = fs.readFileSync(path.join(testModelsDir, 'tiny-t5', 'onnx', file));
      const tapped = fs.readFileSync(cached(uri));
      assert.deepEqual(tapped.subarray(0, original.length), original, `${file}: the original bytes, then the tap`);
      assert.deepEqual(planFullTap(scanOnnx(tapped)).toAppend, [], `${file} is already tapped, score taps included`);
    }
    assert.equal(show.model.expectedAttention, 'encoder-decoder');
    const ids: number[] = show.tokens.map((t: { id: number }) => t.id);
    assert.equal(show.tokens.at(-1).text, '</s>');
    assert.deepEqual(show.decoderTokens.map((t: { id: number }) => t.id), [0, ...ids.slice(0, -1)], 'start token, then the input shifted right');
    assert.deepEqual([show.decoderTokens[0].start, show.decoderTokens[1].start], [-1, show.tokens[0].start]);

    const handle = async (f: string) => {
      const m = readTestOnnx('tiny-t5', f);
      return { session: await openTestModel(ort, m), summary: m.summary, plan: m.plan };
    };
    const r = await runEncoderDecoder(ort, await handle('encoder_model.onnx'), await handle('decoder_model.onnx'), ids,
      { decoderIds: show.decoderTokens.map((t: { id: number }) => t.id) });
    // The panel's worker keeps the stacks (only decoder self-attention drawn causal) and the host gets their shapes.
    const stacks = r.stacks.map((s) => (s.kind === 'decoder' ? s : { ...s, causal: false }));
    stub.serveAttention(runId, stacks);
    const result = { type: 'result', runId, backendUsed: 'wasm', timings: {}, shapes: shapesOf(stacks) };
    stub.fromPanel(result);
    const snap = await api.waitForRun(runId);
    assert.equal(snap.error, undefined);
    assert.deepEqual(snap.shapes!.map((s) => [s.kind, s.queries, s.keys, s.causal]),
      [['encoder', ids.length, ids.length, false], ['decoder', ids.length, ids.length, true], ['cross', ids.length, ids.length, false]]);
    assert.deepEqual(snap.decoderTokens!.length, ids.length);
    assert.ok(!api.messages().some((m) => /describes .* attention/.test(m.text)), 'no causal/bidirectional warning for seq2seq');

    // Focusing a cross-attention head paints the input tokens a decoder token attends to.
    const q = 2;
    const cross = stacks.find((x) => x.kind === 'cross')!;
    const row = Array.from({ length: cross.keys }, (_, j) => {
      let sum = 0;
      for (let h = 0; h < cross.heads; h++) sum += cross.data[((1 * cross.heads + h) * cross.queries + q) * cross.keys + j];
      return sum / cross.heads;
    });
    const top = row.indexOf(Math.max(...row.filter((_, j) => show.tokens[j].start >= 0)));
    stub.fromPanel({ type: 'focus', runId, tokenIndex: q, head: { stack: 'cross', layer: 1, head: 'mean' } });
    await until(() => [...stub.state.decorations.values()].some((r) => r.length > 0), 'the cross row painted');
    const deco = [...stub.state.decorations.entries()] as [{ options: Record<string, any> }, { start: { character: number }; end: { character: number } }[]][];
    const strongest = deco.find(([t]) => t.options.backgroundColor?.id === 'attentionLens.weight5')![1];
    const focusRanges = deco.find(([t]) => t.options.border)![1];
    assert.deepEqual(focusRanges.map((r) => [r.start.character, r.end.character]), [[show.decoderTokens[q].start, show.decoderTokens[q].end]],
      'the focused decoder token is outlined where the input token it repeats is');
    assert.ok(strongest.some((r) => r.start.character === show.tokens[top].start), 'the most attended input token gets the strongest colour');

    // The compare view reads a pinned cross (or decoder) head from its own stack, not the encoder's.
    const { view, send, posted: viewPosts } = stub.compareView();
    stub.state.viewProvider!.resolveWebviewView(view);
    send({ type: 'ready' });
    await stub.state.commands.get('attentionLens.clearPinned')!();
    const pins = [{ stack: 'cross', layer: 1, head: 2 }, { stack: 'decoder', layer: 0, head: 1 }, { stack: 'self', layer: 1, head: 2 }] as const;
    for (const p of pins) await stub.state.commands.get('attentionLens.pinHead')!(p);
    type CompareMsg = { type: string; pinned?: { stack: string }[]; matrices: ArrayBuffer };
    const compared = await until(() => viewPosts.find((m) => (m as CompareMsg).pinned?.length === 3) as CompareMsg | undefined, 'the compare message');
    assert.equal(compared.type, 'compare');
    assert.deepEqual(compared.pinned!.map((p) => p.stack), ['cross', 'decoder', 'self']);
    const got = new Float32Array(compared.matrices);
    const size = ids.length * ids.length;
    const [encStack, decStack] = [stacks.find((x) => x.kind === 'encoder')!, stacks.find((x) => x.kind === 'decoder')!];
    // Each expected matrix is read straight out of the stack's data here, indexing [layer, head, query, key].
    const headOf = (s: typeof cross, l: number, h: number) => Array.from(s.data.subarray((l * s.heads + h) * size, (l * s.heads + h + 1) * size));
    assert.deepEqual(Array.from(got.subarray(0, size)), headOf(cross, 1, 2), 'the cross head is the cross stack\'s');
    assert.deepEqual(Array.from(got.subarray(size, 2 * size)), headOf(decStack, 0, 1), 'the decoder head is the decoder stack\'s');
    assert.deepEqual(Array.from(got.subarray(2 * size)), headOf(encStack, 1, 2), 'a self pin reads the encoder');
    assert.notDeepEqual(headOf(cross, 1, 2), headOf(encStack, 1, 2), 'the cross and encoder heads differ, so the check can fail');

    const run2 = await stub.state.commands.get('attentionLens.showAttention')!() as number;
    const shapes = shapesOf(stacks);
    stub.fromPanel({ ...result, runId: run2, shapes: [shapes[0], shapes[1], { ...shapes[2], keys: shapes[2].keys + 1 }] });
    const snap2 = await api.waitForRun(run2);
    assert.match(snap2.error!, /wrong shape \(the cross stack is/);
  });
});
