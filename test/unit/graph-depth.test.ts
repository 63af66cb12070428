import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModelFolder, ModelError } from '../../src/host/model-folder';
import { inspectModelFolder } from '../../src/host/model-inspect';
import { MAX_GRAPH_DEPTH, scanOnnx, TapError } from '../../src/shared/onnx-tap';
import { bundledModelDir } from '../support/model';
import { buildModel } from '../support/onnx-builder';

// Issue 11: subgraphs nested inside each other (If/Loop/Scan bodies) are read to MAX_GRAPH_DEPTH levels; a
// small file nesting thousands is refused with a message naming the cap instead of exhausting the stack.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return out;
}

describe('subgraph nesting is capped', () => {
  /**
   * A model whose one node is an If nesting `depth` levels of then_branch subgraphs, the innermost holding a
   * Softmax: the few bytes of each level written around the level inside it (Buffers, so 2,000 levels take no time).
   */
  function nested(depth: number): Uint8Array {
    const len = (num: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([...varint(num * 8 + 2), ...varint(payload.length)]), payload]);
    const str = (num: number, s: string) => len(num, Buffer.from(s));
    let node = Buffer.concat([str(1, 'input_ids'), str(2, 'y'), str(4, 'Softmax')]);
    for (let i = 0; i < depth; i++) {
      const attribute = Buffer.concat([str(1, 'then_branch'), len(6, len(1, node)), Buffer.from([...varint(20 * 8), 5])]);
      node = Buffer.concat([str(1, 'cond'), str(2, 'y'), str(4, 'If'), len(5, attribute)]);
    }
    // The declared inputs and outputs, then ModelProto{graph{node}} merged into them.
    return Uint8Array.from(Buffer.concat([buildModel([], ['input_ids', 'cond'], ['y']), len(7, len(1, node))]));
  }

  it(`reads ${MAX_GRAPH_DEPTH} levels, and refuses ${MAX_GRAPH_DEPTH + 1} and 2,000 with a TapError naming the cap, not a RangeError`, () => {
    assert.equal(scanOnnx(nested(MAX_GRAPH_DEPTH)).nodes[0].subgraphSoftmax, 1);
    for (const depth of [MAX_GRAPH_DEPTH + 1, 2000]) {
      assert.throws(() => scanOnnx(nested(depth)), (e: unknown) => e instanceof TapError && e.code === 'too-deep'
        && new RegExp(`more than ${MAX_GRAPH_DEPTH} levels deep`).test(e.message), `depth ${depth}`);
    }
  });

  it('a 2,000-deep file is a model error naming the cap when loaded or added', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'al-deep-'));
    try {
      fs.mkdirSync(path.join(tmp, 'onnx'));
      for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(bundledModelDir, f), path.join(tmp, f));
      const bytes = nested(2000);
      assert.ok(bytes.length < 128 * 1024, `a small file (${bytes.length} bytes)`);
      fs.writeFileSync(path.join(tmp, 'onnx', 'model.onnx'), bytes);
      for (const load of [() => loadModelFolder(tmp, { bundled: false }), () => inspectModelFolder(tmp)]) {
        await assert.rejects(load(), (e: unknown) => e instanceof ModelError
          && new RegExp(`nests subgraphs \\(If, Loop or Scan bodies\\) more than ${MAX_GRAPH_DEPTH} levels deep`).test(e.message));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
