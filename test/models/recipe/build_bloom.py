"""Builds test/models/tiny-bloom/onnx/model.onnx: attention written out the way BLOOM's and GPT-NeoX's exports of
torch.baddbmm look, so explain-one-weight and ‖v‖ are tested on it: Q and K reshaped to [heads, T, d] before the
score MatMul, × 1/√d (baddbmm's alpha), + ALiBi computed from the mask (baddbmm's input), Reshape to [1, heads, T, T],
Where(causal) and Add(padding) masks, Softmax, Cast, Reshape back to [heads, T, T] and MatMul with V [heads, T, d].
2 layers, 4 heads of 16, vocabulary 32; fixed seed; Debian's onnx at /usr/bin/python3. Usage: build_bloom.py OUT_DIR
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_fused import DH, D, H, L, MAXPOS, V, Graph, seq_len, weights  # noqa: E402

I64, FLOAT = TensorProto.INT64, TensorProto.FLOAT


def build():
    W = weights(6, H)
    g = Graph()
    x = g.op('Gather', [g.const('wte', W['wte']), 'input_ids'])
    T = g.op('Unsqueeze', [seq_len(g), g.const('ax0', np.array([0], np.int64))])
    # ALiBi as BLOOM builds it: slope_h × (cumsum(mask) − 1) per key, [heads, 1, T]
    pos = g.op('Sub', [g.op('CumSum', [g.op('Cast', ['attention_mask'], to=FLOAT), g.const('ax1s', np.array(1, np.int64))]),
                       g.const('onef', np.array(1, np.float32))])
    slopes = g.const('slopes', (2.0 ** (-8.0 * np.arange(1, H + 1) / H)).reshape(H, 1, 1).astype(np.float32))
    alibi = g.op('Mul', [slopes, pos])  # [H, 1, T] (mask [1, T] broadcasts)
    i = np.arange(MAXPOS)[:, None]
    j = np.arange(MAXPOS)[None, :]
    z = g.const('zz', np.array([0, 0], np.int64))
    causal = g.op('Slice', [g.const('tri', j <= i), z, g.op('Concat', [T, T], axis=0), g.const('ax01', np.array([0, 1], np.int64))])
    pad = g.op('Mul', [g.op('Sub', [g.const('onef', np.array(1, np.float32)), g.op('Cast', ['attention_mask'], to=FLOAT)]),
                       g.const('neg', np.array(-1e9, np.float32))])
    pad = g.op('Unsqueeze', [pad, g.const('ax12', np.array([1, 2], np.int64))])
    hT_d = g.op('Concat', [g.const('h', np.array([H], np.int64)), T, g.const('dh', np.array([DH], np.int64))], axis=0)
    hTT = g.op('Concat', [g.const('one_h', np.array([1, H], np.int64)), T, T], axis=0)
    hTT3 = g.op('Concat', [g.const('h3', np.array([H], np.int64)), T, T], axis=0)
    for layer, lw in enumerate(W['layers']):
        proj = lambda n: g.op('Add', [g.op('MatMul', [x, g.const(f'w{n}{layer}', lw[n])]), g.const(f'b{n}{layer}', lw['b' + n])])  # noqa: E731,B023
        heads = lambda t: g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [t, g.const('s4', np.array([1, -1, H, DH], np.int64))])],  # noqa: E731
                                                             perm=[0, 2, 1, 3]), hT_d])  # [H, T, d] as baddbmm's batch
        q, k, v = heads(proj('q')), heads(proj('k')), heads(proj('v'))
        s = g.op('MatMul', [q, g.op('Transpose', [k], perm=[0, 2, 1])])
        s = g.op('Add', [alibi, g.op('Mul', [s, g.const('alpha', np.array(DH ** -0.5, np.float32))])])  # baddbmm(alibi, q, kᵀ, alpha)
        s = g.op('Reshape', [s, hTT])
        s = g.op('Add', [g.op('Where', [causal, s, g.const('fill', np.array(np.finfo(np.float32).min, np.float32))]), pad])
        p = g.op('Reshape', [g.op('Cast', [g.op('Softmax', [s], axis=-1)], to=FLOAT), hTT3])
        y = g.op('MatMul', [p, v])  # [H, T, d]
        y = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [y, g.const('s4b', np.array([1, H, -1, DH], np.int64))])], perm=[0, 2, 1, 3]),
                             g.const('flat', np.array([1, -1, D], np.int64))])
        x = g.op('Add', [x, g.op('MatMul', [y, g.const(f'wo{layer}', lw['o'])])])
    g.op('MatMul', [x, g.const('lm', W['lm'])], outs=['logits'])
    graph = helper.make_graph(g.nodes, 'tiny_bloom', [helper.make_tensor_value_info('input_ids', I64, [1, 'sequence']),
                                                      helper.make_tensor_value_info('attention_mask', I64, [1, 'sequence'])],
                              [helper.make_tensor_value_info('logits', FLOAT, [1, 'sequence', V])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='attention-lens test/models/recipe/build_bloom.py')
    model.ir_version = 8
    return model


if __name__ == '__main__':
    os.makedirs(sys.argv[1], exist_ok=True)
    save(build(), os.path.join(sys.argv[1], 'model.onnx'))
    print('wrote', os.path.join(sys.argv[1], 'model.onnx'))
