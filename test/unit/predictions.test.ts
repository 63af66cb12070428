import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { topNextTokens, vocabStrings } from '../../src/shared/predictions';
import { bundledModelDir, loadReference, repoRoot } from '../support/model';

describe('next-token predictions', () => {
  it('takes the top-k of the softmax of one position’s logits', () => {
    const logits = new Float32Array([0, 0, 0, 0, /* row 1 */ 1, 3, 2, 0]);
    const top = topNextTokens(logits, 4, 1, 3);
    assert.deepEqual(top.map((t) => t.id), [1, 2, 0]);
    const z = Math.exp(1) + Math.exp(3) + Math.exp(2) + 1;
    assert.ok(Math.abs(top[0].p - Math.exp(3) / z) < 1e-7);
    assert.deepEqual(topNextTokens(logits, 4, 0, 2).map((t) => [t.id, t.p]), [[0, 0.25], [1, 0.25]]);
    assert.deepEqual(topNextTokens(logits, 4, 2), []);
  });

  it('reads id → token strings from tokenizer.json: byte-level, WordPiece and SentencePiece', () => {
    const gpt = vocabStrings(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')));
    assert.equal(gpt[0], '<|endoftext|>');
    assert.ok(gpt.includes(' the'), 'Ġthe is shown as " the"');
    const bert = vocabStrings(JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/models/tiny-bert/tokenizer.json'), 'utf8')));
    assert.ok(bert.includes('[CLS]'));
    const t5 = vocabStrings(JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/models/tiny-t5/tokenizer.json'), 'utf8')));
    assert.equal(t5[1], '</s>');
    assert.ok(t5.some((s) => s?.startsWith(' ')), '▁ shown as a space');
  });

  it('predicts the second copy of the repeated phrase on the shipped model (PyTorch reference logits)', () => {
    const vocab = vocabStrings(JSON.parse(fs.readFileSync(path.join(bundledModelDir, 'tokenizer.json'), 'utf8')));
    const ref = loadReference().reduce((a, b) => (b.ids.length > a.ids.length ? b : a));
    const V = ref.logitsShape[ref.logitsShape.length - 1];
    const T = ref.ids.length;
    // In the second copy, the model (with its induction heads) predicts the token that followed in the first.
    let hits = 0;
    for (let i = Math.floor(T / 2) + 1; i < T - 1; i++) if (topNextTokens(ref.logits, V, i, 1)[0].id === ref.ids[i + 1]) hits++;
    const top = topNextTokens(ref.logits, V, T - 2, 5);
    console.log(`      after “${vocab[ref.ids[T - 2]]}”: ${top.map((t) => `“${vocab[t.id]}” ${(t.p * 100).toFixed(1)}%`).join(', ')}; ` +
      `second-copy top-1 hits ${hits}/${T - 2 - Math.floor(T / 2)}`);
    assert.ok(hits >= (T - 2 - Math.floor(T / 2)) * 0.6);
  });
});
