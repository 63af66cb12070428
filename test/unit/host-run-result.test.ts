import assert from 'node:assert/strict';
import { checkResult, checkShapes, expectationWarning } from '../../src/host/run-result';
import type { StackShape } from '../../src/shared/attention-query';
import type { RunSnapshot } from '../../src/host/runs';
import type { PanelToHost } from '../../src/shared/protocol';

const tokens = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1 }));
const run = (n: number, decoder?: number): RunSnapshot => ({
  runId: 1, documentUri: 'file:///a', documentOffset: 0, text: 'x'.repeat(n), tokens: tokens(n), notices: [], timings: { tokenizeMs: 3 },
  stale: false, ...(decoder ? { decoderTokens: tokens(decoder) } : {}),
});
const self = (L: number, H: number, T: number): StackShape => ({ kind: 'self', layers: L, heads: H, queries: T, keys: T, causal: true });
const result = (shapes: unknown, extra: Partial<Extract<PanelToHost, { type: 'result' }>> = {}): Extract<PanelToHost, { type: 'result' }> =>
  ({ type: 'result', runId: 1, backendUsed: 'wasm', shapes: shapes as StackShape[], timings: { inferenceMs: 5 }, ...extra });

describe('host: checking a run result', () => {
  it('keeps a result that fits the run (shapes only: the worker keeps the data), with the panel timings merged into the host ones', () => {
    const c = checkResult(run(3), result([self(2, 2, 3)]));
    assert.ok(!('error' in c));
    assert.deepEqual([c.main.layers, c.main.heads, c.main.queries, c.main.causal], [2, 2, 3, true]);
    assert.deepEqual(c.patch.timings, { tokenizeMs: 3, inferenceMs: 5 });
    assert.deepEqual(c.patch.shapes, [self(2, 2, 3)]);
  });

  it('refuses attention over another number of tokens, or a malformed shape, with a message saying what to do', () => {
    const wrongT = checkResult(run(4), result([self(2, 2, 3)]));
    assert.ok('error' in wrongT && /self stack is 3×3 but the run has 4 input/.test(wrongT.error) && /Show Attention" again/.test(wrongT.error), JSON.stringify(wrongT));
    for (const bad of [[], 'nope', [{ ...self(1, 1, 2), layers: 0 }], [{ ...self(1, 1, 2), heads: 1.5 }], [{ ...self(1, 1, 2), kind: 'other' }],
      [{ ...self(1, 1, 2), causal: 'yes' }], [null]]) {
      assert.ok('error' in checkResult(run(2), result(bad)), JSON.stringify(bad));
    }
  });

  it('checks encoder–decoder stacks against the input and decoder token counts, the encoder first', () => {
    const enc: StackShape = { ...self(1, 2, 3), kind: 'encoder', causal: false };
    const dec: StackShape = { ...self(1, 2, 2), kind: 'decoder' };
    const cross: StackShape = { kind: 'cross', layers: 1, heads: 2, queries: 2, keys: 3, causal: false };
    const ok = checkResult(run(3, 2), result([enc, dec, cross]));
    assert.ok(!('error' in ok) && ok.patch.shapes?.map((s) => s.kind).join() === 'encoder,decoder,cross');
    assert.match(checkShapes([enc, { ...cross, queries: 3, keys: 2 }], 3, 2) as string, /cross stack is 3×2 but the run has 3 input and 2 decoder tokens/);
    assert.match(checkShapes([dec, enc], 3, 2) as string, /first stack is not/);
    assert.equal(checkShapes('nope', 3, 2), 'no stacks');
  });

  it('warns when config.json and the computed attention disagree on causality, and only then', () => {
    assert.match(expectationWarning('causal', false) ?? '', /describes causal attention, but .* bidirectional/);
    assert.match(expectationWarning('bidirectional', true) ?? '', /describes bidirectional attention, but .* causal/);
    assert.equal(expectationWarning('causal', true), undefined);
    assert.equal(expectationWarning('encoder-decoder', true), undefined);
    assert.equal(expectationWarning(undefined, false), undefined);
  });
});
