"""Builds the fused-attention test models: for each fused operator, one graph with the operator and one
(`*_unfused.onnx`) with the same weights and attention written out (MatMul, scale, softcap, mask, Softmax),
so the probabilities recomputed from the fused operator's inputs can be checked against a Softmax tap.

2 layers, 4 heads of 16 dims (d = 64; onnxruntime's CPU GroupQueryAttention needs a multiple of 16), vocabulary 32, T ≤ 32; GQA variants have 2 kv heads. Inputs: input_ids and
attention_mask [1, T] (int64), plus empty past_key_values.* where the operator takes a past. Fixed seed;
written with onnx.helper (Debian's onnx 1.12 at /usr/bin/python3). Usage: build_fused.py OUT_DIR
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

D, H, DH, KVH, V, L, MAXPOS = 64, 4, 16, 2, 32, 2, 32
FLOAT, I64, I32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32


class Graph:
    """Nodes and initializers, with fresh names."""

    def __init__(self):
        self.nodes, self.inits, self.n, self.names = [], [], 0, set()

    def const(self, name, arr):
        if name not in self.names:  # shared small constants (shapes, axes) are written once
            self.names.add(name)
            self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, n_out=1, domain='', outs=None, **attrs):
        self.n += 1
        outs = outs or [f'{op_type.lower()}_{self.n}_{i}' for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=f'{op_type}_{self.n}', domain=domain or None, **attrs))
        return outs[0] if n_out == 1 else outs


def weights(seed, kv_heads):
    rng = np.random.default_rng(seed)
    w = lambda *s: (rng.standard_normal(s) * 0.15).astype(np.float32)  # noqa: E731 — large enough for peaked heads
    layers = [dict(q=w(D, H * DH), k=w(D, kv_heads * DH), v=w(D, kv_heads * DH), bq=w(H * DH), bk=w(kv_heads * DH),
                   bv=w(kv_heads * DH), o=w(H * DH, D)) for _ in range(L)]
    inv = 1.0 / (10000 ** (np.arange(0, DH, 2) / DH))
    ang = np.arange(MAXPOS)[:, None] * inv[None, :]
    return dict(wte=w(V, D) * 3, wpe=w(MAXPOS, D), lm=w(D, V), layers=layers,
                cos=np.cos(ang).astype(np.float32), sin=np.sin(ang).astype(np.float32))


def common(g, W, positions):
    """Embedding (+ learned positions unless rotary), mask tensors; returns hidden [1, T, D] and helpers."""
    x = g.op('Gather', [g.const('wte', W['wte']), 'input_ids'])
    if positions:
        pos = g.op('Range', [g.const('zero', np.array(0, np.int64)), g.op('Gather', [g.op('Shape', ['input_ids']), g.const('one_i', np.array(1, np.int64))]),
                             g.const('one', np.array(1, np.int64))])
        x = g.op('Add', [x, g.op('Gather', [g.const('wpe', W['wpe']), pos])])
    return x


def seq_len(g):
    return g.op('Gather', [g.op('Shape', ['input_ids']), g.const('idx1', np.array(1, np.int64))])


def heads(g, x, n, perm):
    """[1, T, n·DH] → Transpose(perm) of [1, T, n, DH]."""
    return g.op('Transpose', [g.op('Reshape', [x, g.const(f'shape_{n}', np.array([1, -1, n, DH], np.int64))])], perm=perm)


def rotary(g, x, cos, sin, interleaved):
    """Rotary on [1, n, T, DH] with cos/sin [T, DH/2] (positions 0…T−1), as GQA applies it."""
    half = DH // 2
    if interleaved:
        pairs = g.op('Reshape', [x, g.const('pairs', np.array([1, 0, -1, half, 2], np.int64))], allowzero=0)
        x1 = g.op('Squeeze', [g.op('Slice', [pairs, g.const('s0', np.array([0], np.int64)), g.const('s1', np.array([1], np.int64)),
                                              g.const('ax4', np.array([4], np.int64))]), g.const('ax4b', np.array([4], np.int64))])
        x2 = g.op('Squeeze', [g.op('Slice', [pairs, g.const('s1b', np.array([1], np.int64)), g.const('s2', np.array([2], np.int64)),
                                              g.const('ax4c', np.array([4], np.int64))]), g.const('ax4d', np.array([4], np.int64))])
    else:
        x1 = g.op('Slice', [x, g.const('z0', np.array([0], np.int64)), g.const('h', np.array([half], np.int64)), g.const('ax3', np.array([3], np.int64))])
        x2 = g.op('Slice', [x, g.const('h2', np.array([half], np.int64)), g.const('dh', np.array([DH], np.int64)), g.const('ax3b', np.array([3], np.int64))])
    o1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])])
    o2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])])
    if interleaved:
        u = g.const('ax_last', np.array([4], np.int64))
        both = g.op('Concat', [g.op('Unsqueeze', [o1, u]), g.op('Unsqueeze', [o2, u])], axis=4)
        return g.op('Reshape', [both, g.const('back', np.array([1, 0, -1, DH], np.int64))])
    return g.op('Concat', [o1, o2], axis=3)


def unfused_attention(g, q, k, v, spec, cos, sin, bias):
    """softmax(QKᵀ·scale [softcap] + bias) V written out; q, k, v are [1, T, n·DH]; returns [1, T, H·DH]."""
    kvh = spec['kv_heads']
    qh, kh, vh = heads(g, q, H, [0, 2, 1, 3]), heads(g, k, kvh, [0, 2, 1, 3]), heads(g, v, kvh, [0, 2, 1, 3])
    if spec.get('rotary'):
        qh, kh = rotary(g, qh, cos, sin, spec.get('interleaved')), rotary(g, kh, cos, sin, spec.get('interleaved'))
    if kvh != H:  # each kv head serves H/kvh consecutive query heads
        rep = lambda t: g.op('Reshape', [g.op('Expand', [g.op('Unsqueeze', [t, g.const('ax2', np.array([2], np.int64))]),  # noqa: E731
                                                         g.const('rep', np.array([1, 1, H // kvh, 1, 1], np.int64))]),
                                         g.const('merge', np.array([1, H, -1, DH], np.int64))])
        kh, vh = rep(kh), rep(vh)
    s = g.op('Mul', [g.op('MatMul', [qh, g.op('Transpose', [kh], perm=[0, 1, 3, 2])]), g.const('scale', np.array(spec['scale'], np.float32))])
    if spec.get('softcap'):
        c = g.const('softcap', np.array(spec['softcap'], np.float32))
        s = g.op('Mul', [g.op('Tanh', [g.op('Div', [s, c])]), c])
    p = g.op('Softmax', [g.op('Add', [s, bias])], axis=-1)
    y = g.op('MatMul', [p, vh])
    return g.op('Reshape', [g.op('Transpose', [y], perm=[0, 2, 1, 3]), g.const('flat', np.array([1, -1, H * DH], np.int64))])


def mask_bias(g, spec):
    """Additive [1, 1, T, T] bias: −1e9 where attention_mask is 0, above the diagonal (causal) and outside the local window."""
    T = seq_len(g)
    t_u = g.op('Unsqueeze', [T, g.const('ax0', np.array([0], np.int64))])
    i = np.arange(MAXPOS)[:, None]
    j = np.arange(MAXPOS)[None, :]
    allowed = (j <= i) if spec['causal'] else np.ones((MAXPOS, MAXPOS), bool)
    if spec.get('window'):
        allowed &= j > i - spec['window']  # onnxruntime 1.30: the window holds w keys, the query's own included
    table = np.where(allowed, 0, -1e9).astype(np.float32)
    z = g.const('zz', np.array([0, 0], np.int64))
    tri = g.op('Slice', [g.const('tri', table), z, g.op('Concat', [t_u, t_u], axis=0), g.const('ax01', np.array([0, 1], np.int64))])
    pad = g.op('Mul', [g.op('Sub', [g.const('onef', np.array(1, np.float32)), g.op('Cast', ['attention_mask'], to=FLOAT)]),
                       g.const('neg', np.array(-1e9, np.float32))])
    pad = g.op('Unsqueeze', [pad, g.const('ax12', np.array([1, 2], np.int64))])
    return g.op('Add', [tri, pad])


def fused_attention(g, x, lw, spec, layer, W):
    """The fused operator on `x` [1, T, D]; returns the attention output [1, T, H·DH]."""
    kind, kvh = spec['op'], spec['kv_heads']
    proj = lambda name: g.op('Add', [g.op('MatMul', [x, g.const(f'w{name}{layer}', lw[name])]), g.const(f'b{name}{layer}', lw['b' + name])])  # noqa: E731
    mask32 = g.op('Cast', ['attention_mask'], to=I32)
    if kind == 'Attention':  # com.microsoft: packed input projection inside the operator, 2-D mask_index, GPT-2's unidirectional
        wqkv = g.const(f'wqkv{layer}', np.concatenate([lw['q'], lw['k'], lw['v']], 1))
        bqkv = g.const(f'bqkv{layer}', np.concatenate([lw['bq'], lw['bk'], lw['bv']]))
        return g.op('Attention', [x, wqkv, bqkv, mask32], domain='com.microsoft', num_heads=H, unidirectional=1)
    if kind == 'MultiHeadAttention':  # separate Q, K, V with the bias given to the operator, key padding mask
        mm = lambda name: g.op('MatMul', [x, g.const(f'w{name}{layer}', lw[name])])  # noqa: E731
        bias = g.const(f'bqkv{layer}', np.concatenate([lw['bq'], lw['bk'], lw['bv']]))
        return g.op('MultiHeadAttention', [mm('q'), mm('k'), mm('v'), bias, mask32], domain='com.microsoft', num_heads=H,
                    unidirectional=1, scale=spec['scale'])
    if kind == 'GroupQueryAttention':
        q, k, v = proj('q'), proj('k'), proj('v')
        seqlens = g.op('Cast', [g.op('Sub', [g.op('ReduceSum', ['attention_mask', g.const('ax1', np.array([1], np.int64))], keepdims=0),
                                              g.const('one64', np.array(1, np.int64))])], to=I32)
        total = g.op('Cast', [seq_len(g)], to=I32)
        past = [f'past_key_values.{layer}.key', f'past_key_values.{layer}.value']
        present = [f'present.{layer}.key', f'present.{layer}.value']
        qkv = [g.op('Concat', [q, k, v], axis=2), '', ''] if spec.get('packed') else [q, k, v]
        extra = dict(softcap=spec['softcap']) if spec.get('softcap') else {}
        if spec.get('window'):
            extra['local_window_size'] = spec['window']
        outs = g.op('GroupQueryAttention', [*qkv, *past, seqlens, total, 'cos_cache', 'sin_cache'], n_out=3, domain='com.microsoft',
                    outs=[f'attn_{layer}', *present], num_heads=H, kv_num_heads=kvh, do_rotary=1,
                    rotary_interleaved=1 if spec.get('interleaved') else 0, scale=spec['scale'], **extra)
        return outs[0]
    # ONNX Attention (opset 23): 3-D inputs with q_num_heads/kv_num_heads, boolean padding mask, is_causal, softcap
    q, k, v = proj('q'), proj('k'), proj('v')
    keep = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], to=TensorProto.BOOL), g.const('ax12', np.array([1, 2], np.int64))])
    t_u = g.op('Unsqueeze', [seq_len(g), g.const('ax0', np.array([0], np.int64))])
    keep = g.op('Expand', [keep, g.op('Concat', [g.const('ones2', np.array([1, 1], np.int64)), t_u, t_u], axis=0)])  # ORT wants [.., S, T]
    extra = dict(softcap=spec['softcap']) if spec.get('softcap') else {}
    return g.op('Attention', [q, k, v, keep], q_num_heads=H, kv_num_heads=kvh, is_causal=1, scale=spec['scale'], **extra)


def build(spec, fused):
    W = weights(spec['seed'], spec['kv_heads'])
    g = Graph()
    rotary_on = bool(spec.get('rotary'))
    x = common(g, W, positions=not rotary_on)
    cos = sin = bias = None
    if rotary_on:
        g.const('cos_cache', W['cos'])
        g.const('sin_cache', W['sin'])
    if not fused:
        bias = mask_bias(g, spec)
        if rotary_on:
            T = g.op('Unsqueeze', [seq_len(g), g.const('ax0r', np.array([0], np.int64))])
            z, a0 = g.const('z0r', np.array([0], np.int64)), g.const('a0r', np.array([0], np.int64))
            cos, sin = g.op('Slice', ['cos_cache', z, T, a0]), g.op('Slice', ['sin_cache', z, T, a0])
    for layer, lw in enumerate(W['layers']):
        if fused:
            y = fused_attention(g, x, lw, spec, layer, W)
        else:
            proj = lambda name: g.op('Add', [g.op('MatMul', [x, g.const(f'w{name}{layer}', lw[name])]), g.const(f'b{name}{layer}', lw['b' + name])])  # noqa: E731,B023
            y = unfused_attention(g, proj('q'), proj('k'), proj('v'), spec, cos, sin, bias)
        x = g.op('Add', [x, g.op('MatMul', [y, g.const(f'wo{layer}', lw['o'])])])
    g.op('MatMul', [x, g.const('lm', W['lm'])], outs=['logits'])
    inputs = [helper.make_tensor_value_info('input_ids', I64, [1, 'sequence']),
              helper.make_tensor_value_info('attention_mask', I64, [1, 'sequence'])]
    outputs = [helper.make_tensor_value_info('logits', FLOAT, [1, 'sequence', V])]
    if fused and spec['op'] == 'GroupQueryAttention':
        for layer in range(L):
            for kv in ('key', 'value'):
                inputs.append(helper.make_tensor_value_info(f'past_key_values.{layer}.{kv}', FLOAT, [1, KVH, 'past', DH]))
                outputs.append(helper.make_tensor_value_info(f'present.{layer}.{kv}', FLOAT, [1, KVH, 'total', DH]))
    graph = helper.make_graph(g.nodes, 'tiny_fused', inputs, outputs, g.inits)
    opsets = [helper.make_opsetid('', 23 if spec['op'] == 'OnnxAttention' and fused else 17)]
    if fused and spec['op'] != 'OnnxAttention':
        opsets.append(helper.make_opsetid('com.microsoft', 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name='attention-lens test/models/recipe/build_fused.py')
    model.ir_version = 10 if spec['op'] == 'OnnxAttention' and fused else 8
    return model


SPECS = {
    'ms-attention': dict(op='Attention', seed=1, kv_heads=H, causal=True, scale=DH ** -0.5),
    'ms-mha': dict(op='MultiHeadAttention', seed=2, kv_heads=H, causal=True, scale=0.3),
    'ms-gqa': dict(op='GroupQueryAttention', seed=3, kv_heads=KVH, causal=True, scale=DH ** -0.5, rotary=True),
    'ms-gqa-packed': dict(op='GroupQueryAttention', seed=4, kv_heads=KVH, causal=True, scale=0.4, rotary=True, interleaved=True,
                          packed=True, softcap=2.5, window=5),
    'onnx-attention': dict(op='OnnxAttention', seed=5, kv_heads=KVH, causal=True, scale=0.3, softcap=3.0),
    'ms-gqa-window': dict(op='GroupQueryAttention', seed=6, kv_heads=KVH, causal=True, scale=DH ** -0.5, rotary=True, window=5),
}

if __name__ == '__main__':
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, spec in SPECS.items():
        save(build(spec, True), os.path.join(out, f'{name}.onnx'))
        save(build(spec, False), os.path.join(out, f'{name}_unfused.onnx'))
    print('wrote', sorted(os.listdir(out)))
