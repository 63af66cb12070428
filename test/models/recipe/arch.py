"""Tiny PyTorch models that mirror Hugging Face architectures closely enough that their ONNX exports have
the same inputs, outputs and attention structure as optimum/transformers.js exports:

  Bert        input_ids, attention_mask (additive mask in the graph), token_type_ids -> last_hidden_state
  DistilBert  input_ids, attention_mask (masked_fill)                                -> last_hidden_state
  Gpt2        input_ids, attention_mask, position_ids, past_key_values.{i}.key/value -> logits, present.{i}.*
  T5Encoder   input_ids, attention_mask -> last_hidden_state   (relative position bias, RMSNorm)
  T5Decoder   input_ids, encoder_attention_mask, encoder_hidden_states -> logits (self + cross attention)

Every attention Softmax appends its probabilities [batch, heads, q, k] to `self.probs` for the reference.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = torch.finfo(torch.float32).min


class SelfAttention(nn.Module):
    def __init__(self, d, heads, bias=True, scale=True):
        super().__init__()
        self.h, self.dh, self.scale = heads, d // heads, scale
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=bias) for _ in range(4))

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.dh).transpose(1, 2)

    def forward(self, x, probs, add_mask=None, kv=None, fill_mask=None, past=None, bias=None):
        src = x if kv is None else kv
        q, k, v = self.split(self.q(x)), self.split(self.k(src)), self.split(self.v(src))
        present = None
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            present = (k, v)
        s = q @ k.transpose(-1, -2)
        if self.scale:
            s = s / math.sqrt(self.dh)
        if bias is not None:
            s = s + bias
        if add_mask is not None:
            s = s + add_mask
        if fill_mask is not None:
            s = s.masked_fill(fill_mask, NEG)
        p = F.softmax(s, dim=-1)
        probs.append(p)
        ctx = (p @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.o(ctx), present


class EncoderBlock(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.attn = SelfAttention(d, heads)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x, probs, **mask):
        a, _ = self.attn(x, probs, **mask)
        x = self.ln1(x + a)
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class Bert(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2, ff=64, max_pos=64, types=2):
        super().__init__()
        self.word, self.pos, self.types = nn.Embedding(vocab, d), nn.Embedding(max_pos, d), nn.Embedding(types, d)
        self.ln = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(EncoderBlock(d, heads, ff) for _ in range(layers))
        self.probs = []

    def forward(self, input_ids, attention_mask, token_type_ids):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.types(token_type_ids))
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * NEG  # HF's additive extended mask
        for b in self.blocks:
            x = b(x, self.probs, add_mask=ext)
        return x


class DistilBert(nn.Module):
    def __init__(self, vocab, d=32, heads=2, layers=2, ff=64, max_pos=64):
        super().__init__()
        self.word, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_pos, d)
        self.ln = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(EncoderBlock(d, heads, ff) for _ in range(layers))
        self.probs = []

    def forward(self, input_ids, attention_mask):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos))
        fill = (attention_mask == 0)[:, None, None, :]
        for b in self.blocks:
            x = b(x, self.probs, fill_mask=fill)
        return x


class Gpt2Block(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x, probs, past, causal, add_mask):
        a, present = self.attn(self.ln1(x), probs, past=past, fill_mask=causal, add_mask=add_mask)
        x = x + a
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x)))), present


class Gpt2(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2, ff=64, max_pos=64):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(max_pos, d)
        self.blocks = nn.ModuleList(Gpt2Block(d, heads, ff) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(max_pos, max_pos, dtype=torch.bool)), persistent=False)
        self.probs = []

    def forward(self, input_ids, attention_mask, position_ids, *past):
        t = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(position_ids)
        k_len = past[0].shape[2] + t
        causal = ~self.tril[k_len - t:k_len, :k_len][None, None]  # HF's bias[:, :, k-q:k, :k]
        add = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * NEG
        presents = []
        for i, b in enumerate(self.blocks):
            x, present = b(x, self.probs, (past[2 * i], past[2 * i + 1]), causal, add)
            presents.extend(present)
        return (self.lm_head(self.ln_f(x)), *presents)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d) + 0.1 * torch.randn(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def relative_position_bucket(rel, bidirectional, num_buckets=32, max_distance=128):
    """T5's bucketing of key-minus-query offsets (transformers' T5Attention._relative_position_bucket)."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(small, rel, large)


class T5Layer(nn.Module):
    def __init__(self, d, heads, ff, cross):
        super().__init__()
        self.n1, self.self_attn = RMSNorm(d), SelfAttention(d, heads, bias=False, scale=False)
        self.cross = cross
        if cross:
            self.n2, self.cross_attn = RMSNorm(d), SelfAttention(d, heads, bias=False, scale=False)
        self.n3, self.wi, self.wo = RMSNorm(d), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)

    def forward(self, x, probs, bias, self_mask, enc=None, enc_mask=None, cross_probs=None):
        a, _ = self.self_attn(self.n1(x), probs, bias=bias, add_mask=self_mask)
        x = x + a
        if self.cross:
            a, _ = self.self_attn_cross(x, enc, enc_mask, cross_probs)
            x = x + a
        return x + self.wo(F.relu(self.wi(self.n3(x))))

    def self_attn_cross(self, x, enc, enc_mask, cross_probs):
        return self.cross_attn(self.n2(x), cross_probs, kv=enc, add_mask=enc_mask)


class T5Stack(nn.Module):
    def __init__(self, vocab, d, heads, layers, ff, decoder):
        super().__init__()
        self.decoder = decoder
        self.embed = nn.Embedding(vocab, d)
        self.rel_bias = nn.Embedding(32, heads)
        self.layers = nn.ModuleList(T5Layer(d, heads, ff, decoder) for _ in range(layers))
        self.final = RMSNorm(d)
        self.probs, self.cross_probs = [], []

    def bias(self, q, k):
        rel = torch.arange(k)[None, :] - torch.arange(q)[:, None]
        b = self.rel_bias(relative_position_bucket(rel, bidirectional=not self.decoder))
        return b.permute(2, 0, 1).unsqueeze(0)


class T5Encoder(T5Stack):
    def __init__(self, vocab, d=32, heads=4, layers=2, ff=64):
        super().__init__(vocab, d, heads, layers, ff, decoder=False)

    def forward(self, input_ids, attention_mask):
        x = self.embed(input_ids)
        t = input_ids.shape[1]
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * NEG
        bias = self.bias(t, t)  # computed once (layer 0 owns it in HF) and shared by every layer
        for layer in self.layers:
            x = layer(x, self.probs, bias, mask)
        return self.final(x)


class T5Decoder(T5Stack):
    def __init__(self, vocab, d=32, heads=4, layers=2, ff=64):
        super().__init__(vocab, d, heads, layers, ff, decoder=True)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
        x = self.embed(input_ids)
        t = input_ids.shape[1]
        causal = torch.tril(torch.ones(t, t))[None, None]
        bias = self.bias(t, t) + (1.0 - causal) * NEG
        enc_mask = (1.0 - encoder_attention_mask[:, None, None, :].to(torch.float32)) * NEG
        for layer in self.layers:
            x = layer(x, self.probs, bias, None, encoder_hidden_states, enc_mask, self.cross_probs)
        return self.lm_head(self.final(x))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class MistralAttention(nn.Module):
    """transformers' MistralAttention (eager): rotary q and k, grouped keys (repeat_kv), additive mask, fp32 softmax."""
    def __init__(self, d, heads, kv_heads, window):
        super().__init__()
        self.h, self.hk, self.dh, self.window = heads, kv_heads, d // heads, window
        self.q, self.o = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.k, self.v = nn.Linear(d, kv_heads * self.dh, bias=False), nn.Linear(d, kv_heads * self.dh, bias=False)

    def forward(self, x, cos, sin, mask, probs):
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.h, self.dh).transpose(1, 2)
        k = self.k(x).view(b, t, self.hk, self.dh).transpose(1, 2)
        v = self.v(x).view(b, t, self.hk, self.dh).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.h // self.hk  # repeat_kv
        k = k[:, :, None].expand(b, self.hk, rep, t, self.dh).reshape(b, self.h, t, self.dh)
        v = v[:, :, None].expand(b, self.hk, rep, t, self.dh).reshape(b, self.h, t, self.dh)
        p = F.softmax(q @ k.transpose(2, 3) / math.sqrt(self.dh) + mask, dim=-1, dtype=torch.float32)
        probs.append(p)
        return self.o((p @ v).transpose(1, 2).reshape(b, t, -1))


class Mistral(nn.Module):
    """A Mistral-style decoder whose layers are sliding ("sliding_attention": query i sees keys i - window < j <= i, as
    transformers' sliding_window_overlay) or full causal, by `layer_types` (Gemma-style alternation)."""
    def __init__(self, vocab, layer_types, window, d=32, heads=4, kv_heads=2, ff=64, theta=10000.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.types = layer_types
        self.attn = nn.ModuleList(MistralAttention(d, heads, kv_heads, window) for _ in layer_types)
        self.n1 = nn.ModuleList(RMSNorm(d) for _ in layer_types)
        self.n2 = nn.ModuleList(RMSNorm(d) for _ in layer_types)
        self.gate = nn.ModuleList(nn.Linear(d, ff, bias=False) for _ in layer_types)
        self.up = nn.ModuleList(nn.Linear(d, ff, bias=False) for _ in layer_types)
        self.down = nn.ModuleList(nn.Linear(ff, d, bias=False) for _ in layer_types)
        self.norm, self.lm_head = RMSNorm(d), nn.Linear(d, vocab, bias=False)
        self.window, dh = window, d // heads
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, dh, 2).float() / dh), persistent=False)
        self.probs = []

    def forward(self, input_ids, attention_mask, position_ids):
        t = input_ids.shape[1]
        freqs = position_ids[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
        pad = attention_mask[:, None, None, :].bool()
        causal = (j <= i)[None, None] & pad
        sliding = causal & (j > i - self.window)[None, None]
        masks = {kind: torch.zeros(causal.shape).masked_fill(~m, NEG)
                 for kind, m in (("full_attention", causal), ("sliding_attention", sliding))}
        x = self.embed(input_ids)
        for l, kind in enumerate(self.types):
            x = x + self.attn[l](self.n1[l](x), cos, sin, masks[kind], self.probs)
            h = self.n2[l](x)
            x = x + self.down[l](F.silu(self.gate[l](h)) * self.up[l](h))
        return self.lm_head(self.norm(x))
