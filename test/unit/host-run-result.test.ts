import assert from 'node:assert/strict';
import { packAttention, selfAttention, type Attention } from '../../src/shared/attention';
import { checkResult, checkStacks, expectationWarning } from '../../src/host/run-result';
import type { RunSnapshot } from '../../src/host/runs';
import type { PanelToHost } from '../../src/shared/protocol';

const tokens = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1 }));
const run = (n: number, decoder?: number): RunSnapshot => ({
  runId: 1, documentUri: 'file:///a', documentOffset: 0, text: 'x'.repeat(n), tokens: tokens(n), notices: [], timings: { tokenizeMs: 3 },
  stale: false, ...(decoder ? { decoderTokens: tokens(decoder) } : {}),
});
const uniform = (L: number, H: number, T: number) => selfAttention(L, H, T, new Float32Array(L * H * T * T).fill(1 / T));
const result = (a: Attention, extra: Partial<Extract<PanelToHost, { type: 'result' }>> = {}): Extract<PanelToHost, { type: 'result' }> =>
  ({ type: 'result', runId: 1, backendUsed: 'wasm', attention: packAttention(a), timings: { inferenceMs: 5 }, ...extra });

describe('host: checking a run result', () => {
  it('keeps a result that fits the run, with the panel timings merged into the host ones', () => {
    const c = checkResult(run(3), result(uniform(2, 2, 3)));
    assert.ok(!('error' in c));
    assert.deepEqual([c.attention.layers, c.attention.heads, c.attention.queries], [2, 2, 3]);
    assert.deepEqual(c.patch.timings, { tokenizeMs: 3, inferenceMs: 5 });
    assert.equal(c.patch.stacks, undefined);
  });

  it('refuses attention over another number of tokens, or a malformed buffer, with a message saying what to do', () => {
    const wrongT = checkResult(run(4), result(uniform(2, 2, 3)));
    assert.ok('error' in wrongT && /wrong shape for 4 tokens \(2×2×3×3\)/.test(wrongT.error) && /Show Attention" again/.test(wrongT.error));
    const msg = result(uniform(1, 1, 2));
    const truncated = checkResult(run(2), { ...msg, attention: { ...msg.attention, data: new ArrayBuffer(12) } });
    assert.ok('error' in truncated);
  });

  it('checks encoder–decoder stacks against the input and decoder token counts', () => {
    const enc = uniform(1, 2, 3);
    const dec: Attention = { ...uniform(1, 2, 2), kind: 'decoder' };
    const cross: Attention = { kind: 'cross', layers: 1, heads: 2, queries: 2, keys: 3, causal: false, data: new Float32Array(12).fill(1 / 3) };
    const ok = checkResult(run(3, 2), result({ ...enc, kind: 'encoder' }, { stacks: [packAttention({ ...enc, kind: 'encoder' }), packAttention(dec), packAttention(cross)] }));
    assert.ok(!('error' in ok) && ok.patch.stacks?.map((s) => s.kind).join() === 'encoder,decoder,cross');
    const swapped: Attention = { ...cross, queries: 3, keys: 2 };
    assert.match(checkStacks([packAttention(swapped)], 3, 2) as string, /cross stack is 3×2 but the run has 3 input and 2 decoder tokens/);
    assert.equal(checkStacks('nope', 3, 2), 'stacks is not a list');
  });

  it('warns when config.json and the computed attention disagree on causality, and only then', () => {
    assert.match(expectationWarning('causal', false) ?? '', /describes causal attention, but .* bidirectional/);
    assert.match(expectationWarning('bidirectional', true) ?? '', /describes bidirectional attention, but .* causal/);
    assert.equal(expectationWarning('causal', true), undefined);
    assert.equal(expectationWarning('encoder-decoder', true), undefined);
    assert.equal(expectationWarning(undefined, false), undefined);
  });
});
