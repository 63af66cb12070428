"""A small GPT-style decoder. Attention is written out (no fused kernels), so the exported ONNX graph
keeps one Softmax per layer: the node Attention Lens taps."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Pre-LayerNorm transformer block: causal multi-head self-attention, then a GELU MLP."""

    def __init__(self, d, n_head, d_mlp, n_ctx):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d_mlp)
        self.out = nn.Linear(d_mlp, d)
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)), persistent=False)

    def forward(self, x, attn_out=None):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(d, dim=2)
        q = q.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)
        k = k.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.n_head)
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = F.softmax(scores, dim=-1)
        if attn_out is not None:
            attn_out.append(att)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return x


class GPT(nn.Module):
    """Token + learned position embeddings, n_layer blocks, final LayerNorm, tied unembedding."""

    def __init__(self, vocab_size, n_ctx, d, n_head, n_layer, d_mlp):
        super().__init__()
        self.n_ctx = n_ctx
        self.wte = nn.Embedding(vocab_size, d)
        self.wpe = nn.Embedding(n_ctx, d)
        self.blocks = nn.ModuleList([Block(d, n_head, d_mlp, n_ctx) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids, attn_out=None):
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x, attn_out)
        x = self.ln_f(x)
        # Tied unembedding as a runtime transpose, so the export stores the matrix once.
        return torch.matmul(x, self.wte.weight.transpose(0, 1))
