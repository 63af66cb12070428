import assert from 'node:assert/strict';
import { isValidHead, parseHeadRef, sameHead, weightBuckets } from '../../src/host/attention-math';
import { hoverMarkdown, markdownCode } from '../../src/host/hover-card';

describe('host attention maths', () => {
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
});

describe('host hover card', () => {
  it('makes code spans safe', () => {
    assert.equal(markdownCode('a`b'), '``a`b``');
    assert.equal(markdownCode('`x'), '`` `x ``');
  });

  it('lists the top attended tokens with weights', () => {
    const tokens = [
      { id: 1, text: 'The', start: 0, end: 3 }, { id: 2, text: ' cat', start: 3, end: 7 }, { id: 3, text: ' a|b', start: 7, end: 11 },
    ];
    const md = hoverMarkdown(tokens, 'The cat a|b', 2, [0.6, 0.1, 0.3], { stack: 'self', layer: 1, head: 2 }, true);
    assert.match(md, /L1 H2/);
    assert.match(md, /Token #2 of 3 \(numbered from #0\)/);
    const rows = md.split('\n').filter((l) => l.startsWith('| `'));
    assert.equal(rows.length, 3);
    assert.match(rows[0], /`The` \| #0 \| 0\.6000 \|/);
    assert.match(rows[1], /`␣a\\\|b` \| #2 \| 0\.3000/, 'pipes are escaped inside table cells');
    assert.match(md, /_␣ space_$/, 'the symbols used are explained under the table');
  });
});
