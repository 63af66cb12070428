import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import * as path from 'node:path';
import { qkHead, type LayerQK } from '../../src/shared/qk-attention';
import { lastQueryRows } from '../../src/shared/kv-forward';
import { readTestOnnx, testModelsDir } from '../support/test-models';
import { idsOf, softmaxModelLayers } from '../support/qk-layers';

// BLOOM's ALiBi recomputed from tapped Q, Kᵀ and the per-head, per-key bias (issue 16), against PyTorch: the recipe's
// model rebuilt the way Hugging Face's BloomAttention computes it (test/models/recipe/bloom_oracle.py: baddbmm with
// build_alibi_tensor's slopes), not against anything this code computed.

/** Attention [layers][heads][T][T] of tiny-bloom on `ids` from the PyTorch oracle, run now; undefined without python3-torch. */
function torchAttention(ids: readonly number[]): number[][][][] | undefined {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return undefined; // the oracle needs Debian's python3-torch (test/models/README.md)
  }
  const script = path.join(testModelsDir, 'recipe', 'bloom_oracle.py');
  return (JSON.parse(execFileSync('/usr/bin/python3', [script, ...ids.map(String)], { encoding: 'utf8' })) as { attention: number[][][][] }).attention;
}

/** The oracle's output stored with the model (tiny-bloom/reference), so machines without python3-torch check against it too. */
function storedTorchAttention(ids: readonly number[]): number[][][][] {
  const stored = JSON.parse(fs.readFileSync(path.join(testModelsDir, 'tiny-bloom', 'reference', 'torch-attention-32.json'), 'utf8')) as
    { ids: number[]; attention: number[][][][] };
  assert.deepEqual(stored.ids, ids, 'the stored PyTorch attention is for these ids');
  return stored.attention;
}

describe('tiny-bloom: ALiBi layers recomputed from Q, Kᵀ and the tapped bias equal PyTorch (onnxruntime-node)', function () {
  this.timeout(120000);
  const ids = idsOf(32); // the recipe's longest context; identified on the first 6
  let layers: LayerQK[];
  let torch: number[][][][];

  before(async () => {
    layers = await softmaxModelLayers(readTestOnnx('tiny-bloom').bytes, ids, 6);
    torch = storedTorchAttention(ids);
  });

  it('the stored PyTorch attention is what the oracle computes now (where python3-torch is installed)', function () {
    const fresh = torchAttention(ids);
    if (!fresh) return this.skip();
    const worst = Math.max(...fresh.flat(3).map((v, k) => Math.abs(v - torch.flat(3)[k])));
    assert.ok(worst <= 1e-8, `stored vs fresh PyTorch: ${worst}`);
  });

  it('every layer is recomputed, with a per-head, per-key bias that grows along the keys at a different slope per head', () => {
    assert.equal(layers.length, 2);
    for (const x of layers) {
      assert.equal(x.form.bias, true);
      assert.ok(x.bias && x.bias.length === x.heads * x.tokens, 'a bias per head and key');
      const slopes = Array.from({ length: x.heads }, (_, h) => x.bias![h * x.tokens + 1] - x.bias![h * x.tokens]);
      assert.equal(new Set(slopes.map((s) => s.toPrecision(4))).size, x.heads, `one slope per head: ${slopes.join(', ')}`);
    }
  });

  it('every row of every head at 32 tokens equals PyTorch\'s within 1e-5', () => {
    const T = ids.length;
    let worst = 0;
    layers.forEach((x, l) => {
      for (let h = 0; h < x.heads; h++) {
        const got = qkHead(x, h);
        for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) worst = Math.max(worst, Math.abs(got[i * T + j] - torch[l][h][i][j]));
      }
    });
    console.log(`      max |recomputed − PyTorch| = ${worst.toExponential(2)} over ${layers.length} layers × ${layers[0].heads} heads × ${T}²`);
    assert.ok(worst <= 1e-5, `max |recomputed − PyTorch| = ${worst}`);
  });

  it('a cached step\'s newest row (kv-forward.ts) adds the bias too, and equals PyTorch\'s last row', () => {
    const T = ids.length;
    layers.forEach((x, l) => {
      const q = { dims: [1, x.heads, T, x.d], data: x.q };
      const kT = { dims: [1, x.kvHeads, x.d, T], data: x.kT };
      const { rows } = lastQueryRows(q, kT, x.form, [{ name: 'alibi', dims: [x.heads, 1, T], data: x.bias! }]);
      for (let h = 0; h < x.heads; h++) {
        for (let j = 0; j < T; j++) assert.ok(Math.abs(rows[h * T + j] - torch[l][h][T - 1][j]) <= 1e-5, `layer ${l} head ${h} key ${j}`);
      }
      assert.throws(() => lastQueryRows(q, kT, x.form), /did not fetch it/, 'a biased layer\'s step without its bias is refused');
    });
  });
});
