#!/usr/bin/env python3
"""PyTorch oracle for tiny-bloom's attention (issue 16, ALiBi recomputed from Q and K): rebuilds the model build_bloom.py
writes, from the same seeded weights, the way Hugging Face's BloomAttention computes it (build_alibi_tensor's slopes
× key position, torch.baddbmm(alibi, q, kᵀ, beta=1, alpha=1/√d), a causal mask filled with float32's lowest, Softmax),
runs the ids given on the command line, and prints JSON {"attention": [layers][heads][T][T]}.
Usage: /usr/bin/python3 bloom_oracle.py <id> <id> ...
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_fused import DH, H, weights  # noqa: E402

torch.set_num_threads(1)
IDS = [int(x) for x in sys.argv[1:]]


def alibi_slopes(heads):
    """BLOOM's slopes for a power-of-two head count: 2^(−8/heads) raised to 1, 2, …, heads."""
    base = 2 ** (-(2 ** -(math.log2(heads) - 3)))
    return torch.tensor([base ** (k + 1) for k in range(heads)], dtype=torch.float32)


W = weights(6, H)
t = lambda a: torch.from_numpy(a)  # noqa: E731
with torch.no_grad():
    T = len(IDS)
    x = t(W['wte'])[torch.tensor(IDS)]  # [T, D]
    mask = torch.ones(1, T)
    alibi = alibi_slopes(H)[:, None, None] * ((mask.cumsum(-1) - 1) * mask)[:, None, :]  # [H, 1, T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for lw in W['layers']:
        split = lambda y: y.view(T, H, DH).transpose(0, 1)  # noqa: E731 — [H, T, d]
        q, k, v = (split(x @ t(lw[n]) + t(lw['b' + n])) for n in 'qkv')
        s = torch.baddbmm(alibi, q, k.transpose(1, 2), beta=1.0, alpha=1.0 / math.sqrt(DH))
        s = s.masked_fill(~causal, torch.finfo(torch.float32).min)
        p = torch.softmax(s, dim=-1)
        out.append(p.tolist())
        x = x + (p @ v).transpose(0, 1).reshape(T, H * DH) @ t(lw['o'])
print(json.dumps({'attention': out}))
