import assert from 'node:assert/strict';
import { planTap, scanOnnx } from '../../src/shared/onnx-tap';
import { planFullTap, tapAll } from '../../src/shared/full-tap';
import { attentionProbabilities } from '../../src/shared/fused-attention';
import { checkedRows, CHECKED_ROWS } from '../../src/shared/fused-layouts';
import { buildModel } from '../support/onnx-builder';
import { readTestOnnx } from '../support/test-models';

describe('fused attention: planning the tap', () => {
  it('reads the operator attributes the recomputation needs: ints, floats, and negative ints', () => {
    const m = buildModel([{ op: 'GroupQueryAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['o'],
      attrs: { num_heads: 4, kv_num_heads: 2, local_window_size: -1, softcap: 2.5, scale: 0.125 } }], ['q', 'k', 'v'], ['o']);
    const plan = planTap(scanOnnx(m));
    assert.deepEqual(plan.fused?.[0].attributes, { num_heads: 4, kv_num_heads: 2, local_window_size: -1, softcap: 2.5, scale: 0.125 });
    assert.equal(plan.fused?.[0].op, 'GroupQueryAttention');
  });

  it('tells ONNX Attention from com.microsoft Attention by the domain', () => {
    const onnx = buildModel([{ op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['o'], attrs: { is_causal: 1 } }], ['q', 'k', 'v'], ['o']);
    const ms = buildModel([{ op: 'Attention', domain: 'com.microsoft', inputs: ['x', 'w'], outputs: ['o'], attrs: { num_heads: 2 } }], ['x', 'w'], ['o']);
    assert.equal(planTap(scanOnnx(onnx)).fused?.[0].op, 'Attention');
    assert.equal(planTap(scanOnnx(ms)).fused?.[0].op, 'com.microsoft.Attention');
  });

  it('taps every input of each fused node (graph inputs and initializers included) and its output, once', () => {
    const m = readTestOnnx('tiny-fused', 'ms-gqa.onnx');
    const full = planFullTap(m.summary);
    assert.deepEqual(m.plan.layerOrder, { status: 'chain' }, 'layer 1 depends on layer 0');
    assert.ok(full.toAppend.includes('cos_cache') && full.toAppend.includes('past_key_values.1.key'), 'initializer and graph input');
    for (const n of m.plan.fused ?? []) for (const name of [...n.inputs.filter(Boolean), n.output]) assert.ok(full.toAppend.includes(name), name);
    assert.equal(new Set(full.toAppend).size, full.toAppend.length, 'no duplicates');
    const tapped = tapAll(m.bytes);
    assert.equal(tapAll(tapped.tapped).added, 0, 'a tapped file needs nothing more');
  });
});

describe('fused attention: the arithmetic', () => {
  const heads = (rows: number[][]) => ({ heads: 1, rows: rows.length, size: rows[0].length, data: Float32Array.from(rows.flat()) });

  it('gives softmax(q·k·scale) per row, worked out by hand', () => {
    const p = attentionProbabilities({ q: heads([[1, 0]]), k: heads([[2, 0], [0, 2]]), scale: 0.5, past: 0, causal: false });
    // scores 1 and 0: e/(e+1) and 1/(e+1)
    assert.ok(Math.abs(p[0] - Math.E / (Math.E + 1)) < 1e-7 && Math.abs(p[1] - 1 / (Math.E + 1)) < 1e-7, String(p));
  });

  it('leaves exact zeros outside the causal rule, the local window and the valid keys', () => {
    const q = heads([[0, 0], [0, 0], [0, 0], [0, 0]]);
    const p = attentionProbabilities({ q, k: q, scale: 1, past: 0, causal: true, window: 2, validKeys: 4 });
    // all scores equal: row i spreads evenly over the w = 2 keys i − 1 and i (row 0 over key 0)
    assert.deepEqual(Array.from(p), [1, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0.5, 0.5]);
    const padded = attentionProbabilities({ q, k: q, scale: 1, past: 0, causal: false, validKeys: 2 });
    assert.deepEqual(Array.from(padded.subarray(0, 4)), [0.5, 0.5, 0, 0]);
  });

  it('checks P·V on every query row up to CHECKED_ROWS, and on that many spread from the first to the last beyond', () => {
    assert.deepEqual(checkedRows(3), [0, 1, 2]);
    const rows = checkedRows(1000);
    assert.equal(rows.length, CHECKED_ROWS);
    assert.deepEqual([rows[0], rows[rows.length - 1]], [0, 999]);
    assert.ok(rows.every((r, k) => k === 0 || r > rows[k - 1]), 'distinct, increasing');
  });
});
