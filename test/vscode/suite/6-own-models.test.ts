import assert from 'node:assert/strict';
import path from 'node:path';
import * as vscode from 'vscode';
import type { RunSnapshot } from '../../../src/api';
import { runEncoderDecoder } from '../../../src/shared/tapped-run';
import { loadTestReference, openTestModel, readTestOnnx, testModelsDir, type TestReference } from '../../support/test-models';
import { getApi, openFile, selectAll, showAttentionRun } from '../helpers';

const ortNode = require('onnxruntime-node');

/** Largest |a − b| over two equally long arrays. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same shape');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs Show Attention on the reference text with `name` as the model; the run must tokenize as PyTorch's reference did. */
async function runOn(name: string, entry: TestReference): Promise<RunSnapshot> {
  await vscode.workspace.getConfiguration('attentionLens').update('defaultModel', path.join(testModelsDir, name),
    vscode.ConfigurationTarget.Global);
  const editor = await openFile(entry.text, `${name}.txt`);
  selectAll(editor);
  const run = await showAttentionRun(await getApi());
  assert.deepEqual(run.tokens.map((t) => t.id), entry.ids, 'the host tokenizes as the reference did');
  return run;
}

// Bring your own model, inside a real VS Code: Hugging Face-shaped ONNX folders (built by test/models/recipe)
// are tapped through the global-storage cache, run in the panel and match PyTorch on the same weights.
describe('your own models (Hugging Face-shaped ONNX folders)', () => {
  after(async () => {
    await vscode.workspace.getConfiguration('attentionLens').update('defaultModel', undefined, vscode.ConfigurationTarget.Global);
  });

  for (const [name, causal] of [['tiny-bert', false], ['tiny-distilbert', false], ['tiny-gpt2', true]] as const) {
    it(`${name}: attention matches PyTorch to 1e-5${causal ? ', causal' : ', bidirectional'}`, async () => {
      const entry = loadTestReference(name)[0];
      const run = await runOn(name, entry);
      const a = await (await getApi()).attention(run.runId);
      assert.equal(a.causal, causal);
      const ref = entry.tensors.attention;
      assert.deepEqual([a.layers, a.heads, a.queries, a.keys], ref.shape);
      const d = maxDiff(a.data, ref.data);
      assert.ok(d <= 1e-5, `max |Δ| = ${d}`);
    });
  }

  it('tiny-t5 (encoder–decoder): the encoder matches PyTorch, the decoder and cross-attention onnxruntime-node, to 1e-5', async () => {
    const entry = loadTestReference('tiny-t5')[0];
    const run = await runOn('tiny-t5', entry);
    const decoderIds = run.decoderTokens?.map((t) => t.id);
    assert.deepEqual(decoderIds, [0, ...entry.ids.slice(0, -1)], 'decoder ids: start token, then the input shifted right');
    const api = await getApi();
    const stacks = await Promise.all(['encoder', 'decoder', 'cross'].map((k) => api.attention(run.runId, k as 'encoder')));
    const stack = (kind: string) => {
      const s = stacks.find((x) => x.kind === kind);
      assert.ok(s, `a ${kind} stack`);
      return s;
    };
    const encoder = stack('encoder');
    assert.deepEqual([encoder.layers, encoder.heads, encoder.queries, encoder.keys], entry.tensors.encoder_attention.shape);
    assert.equal(encoder.causal, false);
    const dEnc = maxDiff(encoder.data, entry.tensors.encoder_attention.data);
    assert.ok(dEnc <= 1e-5, `encoder vs PyTorch: max |Δ| = ${dEnc}`);

    // The reference decodes a shorter text, so the decoder and cross stacks on this input are checked against
    // the same graphs run in onnxruntime-node (itself checked against PyTorch in the unit suite).
    const handle = async (file: string) => {
      const m = readTestOnnx('tiny-t5', file);
      return { session: await openTestModel(ortNode, m), summary: m.summary, plan: m.plan };
    };
    const node = await runEncoderDecoder(ortNode, await handle('encoder_model.onnx'), await handle('decoder_model.onnx'), entry.ids,
      { decoderIds });
    for (const kind of ['decoder', 'cross'] as const) {
      const shown = stack(kind);
      const expected = node.stacks.find((x) => x.kind === kind)!;
      assert.deepEqual([shown.layers, shown.heads, shown.queries, shown.keys], [expected.layers, expected.heads, expected.queries, expected.keys]);
      assert.equal(shown.causal, kind === 'decoder', `${kind} causality`);
      const d = maxDiff(shown.data, new Float32Array(expected.data));
      assert.ok(d <= 1e-5, `${kind} vs onnxruntime-node: max |Δ| = ${d}`);
    }
  });
});
