#!/usr/bin/env python3
"""PyTorch oracle for the Residual view (issue 13) on tiny-gpt2: rebuilds the model exactly as build.py does (same
seed, same int8-rounded Linear weights), runs the ids given on the command line, and prints JSON with, per layer,
‖(P_h V_h)_i · W_O[:, h·d:(h+1)·d]ᵀ‖ for every head h and token i, and ‖x_i‖ of the residual stream the attention
block's output is added to. Usage: python3 residual_oracle.py <test/models dir> <id> <id> ...
"""
import json, os, sys
import torch
import torch.nn.functional as F
from arch import Gpt2

torch.set_num_threads(1)
OUT, IDS = sys.argv[1], [int(x) for x in sys.argv[2:]]
L, H, D, FF = 2, 4, 32, 64  # as build.py


def fake_quantize_linears(model):
    """As build.py: every Linear weight rounded to int8 × per-tensor scale before the export."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                s = mod.weight.abs().max() / 127
                mod.weight.copy_(torch.round(mod.weight / s).clamp(-127, 127) * s)


torch.manual_seed(3)
V = len(json.load(open(os.path.join(OUT, "tiny-gpt2", "tokenizer.json"), encoding="utf-8"))["model"]["vocab"])
model = Gpt2(V, d=D, heads=H, layers=L, ff=FF).eval()
fake_quantize_linears(model)
layers = []
with torch.no_grad():
    ids = torch.tensor([IDS])
    t = ids.shape[1]
    x = model.wte(ids) + model.wpe(torch.arange(t)[None])
    causal = ~model.tril[:t, :t][None, None]
    for b in model.blocks:
        a = b.attn
        h = b.ln1(x)
        q, k, v = a.split(a.q(h)), a.split(a.k(h)), a.split(a.v(h))
        s = (q @ k.transpose(-1, -2)) / (a.dh ** 0.5)
        p = F.softmax(s.masked_fill(causal, torch.finfo(torch.float32).min), dim=-1)
        ctx = p @ v  # [1, H, T, d]
        w = a.o.weight  # [D_out, H·d]
        heads = [(ctx[0, j] @ w[:, j * a.dh:(j + 1) * a.dh].T).norm(dim=-1).tolist() for j in range(a.h)]
        layers.append({"heads": heads, "residual": x[0].norm(dim=-1).tolist()})
        out, _ = a(h, [], fill_mask=causal)
        x = x + out
        x = x + b.ff2(F.gelu(b.ff1(b.ln2(x))))
print(json.dumps({"layers": layers}))
