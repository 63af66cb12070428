import assert from 'node:assert/strict';
import {
  attentionRow, compareMatrices, formatWeight, headMatrix, isValidHead, parseHeadRef, sameHead, toFloat32, topK, weightBuckets,
} from '../../src/host/attention-math';
import { hoverMarkdown, markdownCode, visibleToken } from '../../src/host/hover-card';

/** A [2 layers, 2 heads, 3, 3] causal tensor with recognisable rows. */
function tensor() {
  const L = 2, H = 2, T = 3;
  const data = new Float32Array(L * H * T * T);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const base = (l * H + h) * T * T;
      data.set([1, 0, 0, 0.25 + 0.5 * h, 0.75 - 0.5 * h, 0, 0.1 * (l + 1), 0.2, 0.7 - 0.1 * (l + 1)], base);
    }
  }
  return { layers: L, heads: H, tokens: T, data };
}

describe('host attention maths', () => {
  it('reads one head and the mean over heads', () => {
    const att = tensor();
    assert.deepEqual([...attentionRow(att, { stack: 'self', layer: 0, head: 1 }, 1)], [0.75, 0.25, 0]);
    const mean = attentionRow(att, { stack: 'self', layer: 0, head: 'mean' }, 1);
    assert.deepEqual([...mean], [0.5, 0.5, 0]);
    const m = headMatrix(att, { stack: 'self', layer: 1, head: 'mean' });
    assert.equal(m.length, 9);
    assert.ok(Math.abs(m[6] - 0.2) < 1e-6);
  });

  it('stacks pinned matrices [pinned, T, T]', () => {
    const att = tensor();
    const pins = [{ stack: 'self', layer: 1, head: 0 }, { stack: 'self', layer: 0, head: 'mean' }] as const;
    const out = compareMatrices(att, pins);
    assert.equal(out.length, 2 * 9);
    assert.deepEqual([...out.subarray(0, 9)], [...headMatrix(att, pins[0])]);
    assert.deepEqual([...out.subarray(9)], [...headMatrix(att, pins[1])]);
  });

  it('ranks the top-k weights, skipping zeros, ties by position', () => {
    assert.deepEqual(topK([0.1, 0.5, 0, 0.5, 0.2], 3), [1, 3, 4]);
    assert.deepEqual(topK([0, 0], 5), []);
    assert.deepEqual(topK([0.3, 0.7], 5), [1, 0]);
  });

  it('buckets weights relative to the row maximum into 5 levels', () => {
    assert.deepEqual(weightBuckets([0.5, 0.25, 0.1, 0.04, 0, 0.45]), [5, 3, 1, 0, 0, 5]);
    assert.deepEqual(weightBuckets([0, 0, 0]), [0, 0, 0]);
    assert.deepEqual(weightBuckets([1]), [5]);
  });

  it('validates and parses head references', () => {
    assert.ok(isValidHead({ stack: 'self', layer: 1, head: 'mean' }, 2, 4));
    assert.ok(!isValidHead({ stack: 'self', layer: 2, head: 0 }, 2, 4));
    assert.ok(!isValidHead({ stack: 'self', layer: 0, head: 4 }, 2, 4));
    assert.deepEqual(parseHeadRef({ layer: 1, head: 2 }), { stack: 'self', layer: 1, head: 2 });
    assert.deepEqual(parseHeadRef({ stack: 'cross', layer: 0, head: 'mean' }), { stack: 'cross', layer: 0, head: 'mean' });
    for (const bad of [null, 3, {}, { layer: -1, head: 0 }, { layer: 0, head: 1.5 }, { layer: 0, head: 'median' }, { stack: 'x', layer: 0, head: 0 }]) {
      assert.equal(parseHeadRef(bad), undefined, JSON.stringify(bad));
    }
    assert.ok(sameHead({ stack: 'self', layer: 0, head: 1 }, { stack: 'self', layer: 0, head: 1 }));
    assert.ok(!sameHead({ stack: 'self', layer: 0, head: 1 }, { stack: 'self', layer: 0, head: 'mean' }));
  });

  it('accepts attention data as ArrayBuffer, Float32Array or number array of the right length', () => {
    const f = new Float32Array([0.5, 0.5, 1, 0]);
    assert.deepEqual([...toFloat32(f.buffer, 4)!], [0.5, 0.5, 1, 0]);
    assert.deepEqual([...toFloat32(f, 4)!], [0.5, 0.5, 1, 0]);
    assert.deepEqual([...toFloat32([0.5, 0.5, 1, 0], 4)!], [0.5, 0.5, 1, 0]);
    assert.equal(toFloat32(f.buffer, 5), undefined);
    assert.equal(toFloat32('nope', 4), undefined);
    assert.deepEqual([...toFloat32(new Uint8Array(f.buffer), 4)!], [0.5, 0.5, 1, 0], 'raw bytes in another view');
    assert.equal(toFloat32(new Uint8Array(15), 4), undefined);
  });

  it('formats weights for hover cards', () => {
    assert.equal(formatWeight(0.4251), '0.43');
    assert.equal(formatWeight(0.001), '<0.01');
    assert.equal(formatWeight(0), '0.00');
  });
});

describe('host hover card', () => {
  it('makes whitespace visible and code spans safe', () => {
    assert.equal(visibleToken(' the\n'), '·the↵');
    assert.equal(visibleToken(''), '∅');
    assert.equal(markdownCode('a`b'), '``a`b``');
    assert.equal(markdownCode('`x'), '`` `x ``');
  });

  it('lists the top attended tokens with weights', () => {
    const tokens = [
      { id: 1, text: 'The', start: 0, end: 3 }, { id: 2, text: ' cat', start: 3, end: 7 }, { id: 3, text: ' a|b', start: 7, end: 11 },
    ];
    const md = hoverMarkdown(tokens, 2, [0.6, 0.1, 0.3], { stack: 'self', layer: 1, head: 2 }, true);
    assert.match(md, /L1 H2/);
    assert.match(md, /Token 3 of 3/);
    const rows = md.split('\n').filter((l) => l.startsWith('| `'));
    assert.equal(rows.length, 3);
    assert.match(rows[0], /`The` \| #1 \| 0\.60/);
    assert.match(rows[1], /·a\\\|b/, 'pipes are escaped inside table cells');
  });
});
