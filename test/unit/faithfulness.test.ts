import assert from 'node:assert/strict';
import { isCausal, maxRowSumError } from '../../src/shared/onnx-tap';
import { loadReference, maxAbsDiff, readBundledOnnx } from '../support/model';
import { openTapped, runTapped, type OrtLike } from '../support/run-tapped';

// The bundled ONNX has no attention outputs; the tap adds them. What it yields must be what PyTorch
// computed for the same ids (models/lens-gpt/reference, written by models/recipe/export.py).
const TOLERANCE = 1e-5;

const runtimes: [string, () => Promise<{ ort: OrtLike; opts: object }>][] = [
  ['onnxruntime-node', async () => ({ ort: require('onnxruntime-node'), opts: { intraOpNumThreads: 1 } })],
  ['onnxruntime-web (WASM)', async () => {
    const ort = require('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    return { ort, opts: { executionProviders: ['wasm'] } };
  }],
];

for (const [label, load] of runtimes) {
  describe(`faithfulness: tapped ONNX in ${label} vs PyTorch reference`, function () {
    this.timeout(120000);
    const reference = loadReference();

    it('has reference entries to check', () => assert.ok(reference.length >= 3));

    for (const [k, entry] of reference.entries()) {
      it(`reproduces attention and logits for reference text ${k} (${entry.ids.length} tokens) to ${TOLERANCE}`, async () => {
        const { ort, opts } = await load();
        const s = await openTapped(ort, readBundledOnnx(), opts);
        const { attention, logits } = await runTapped(ort, s, entry.ids);
        const [L, H, T] = entry.attentionShape;
        assert.deepEqual([attention.layers, attention.heads, attention.queries], [L, H, T]);
        const attnErr = maxAbsDiff(attention.data, entry.attention);
        assert.ok(attnErr <= TOLERANCE, `max |attention - reference| = ${attnErr}`);
        const logitErr = maxAbsDiff(logits, entry.logits);
        assert.ok(logitErr <= 1e-3, `max |logits - reference| = ${logitErr}`);
        assert.ok(maxRowSumError(attention.data, L * H * T, T) <= TOLERANCE, 'every row sums to 1');
        assert.ok(attention.causal && isCausal(attention.data, L * H, T), 'entries above the diagonal are exactly 0');
      });
    }
  });
}
