#!/usr/bin/env python3
"""Builds tiny-window: a Mistral-style decoder (rotary, 4 query heads over 2 key heads, RMSNorm, SwiGLU) whose
layers alternate sliding-window (8 tokens) and full causal attention, as config.json's layer_types says, written
as transformers writes it (arch.py Mistral: an additive mask built from the window). Random weights, fixed seed.

  tiny-window/ config.json, tokenizer.json (tiny-bert's WordPiece, 164 ids), onnx/model.onnx
               reference/reference.json + reference.bin: the ids and PyTorch's attention [layers, heads, T, T]
               at T = 64 (longer than the window and than the 32-token check run).
Usage: python3 build_window.py <test/models dir>   (Debian's torch 1.13 + onnx 1.12 at /usr/bin/python3)
"""
import json, os, shutil, sys
import numpy as np
import torch
from arch import Mistral

torch.set_num_threads(1)
OUT = os.path.join(sys.argv[1], "tiny-window")
TYPES = ["sliding_attention", "full_attention", "sliding_attention"]
WINDOW, D, H, HK, FF, CONTEXT = 8, 32, 4, 2, 64, 128


def ids_of(n, vocab):
    return [(i * 37 + 11 + (i * i) % 13) % vocab for i in range(n)]


def main():
    tok = os.path.join(sys.argv[1], "tiny-bert", "tokenizer.json")
    vocab = len(json.load(open(tok, encoding="utf-8"))["model"]["vocab"])
    torch.manual_seed(7)
    model = Mistral(vocab, TYPES, WINDOW, d=D, heads=H, kv_heads=HK, ff=FF).eval()
    with torch.no_grad():  # sharper than the default init, so rows are far from uniform and a wrong mask shows
        for a in model.attn:
            a.q.weight.mul_(3.0)
            a.k.weight.mul_(3.0)
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    shutil.copyfile(tok, os.path.join(OUT, "tokenizer.json"))
    args = tuple(torch.tensor([x]) for x in (ids_of(12, vocab), [1] * 12, list(range(12))))
    torch.onnx.export(model, args, os.path.join(OUT, "onnx", "model.onnx"),
                      input_names=["input_ids", "attention_mask", "position_ids"], output_names=["logits"],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "position_ids", "logits"]},
                      opset_version=14, do_constant_folding=True)
    blobs, offset, entries = [], 0, []
    for t in (64,):
        ids = ids_of(t, vocab)
        model.probs.clear()
        with torch.no_grad():
            model(torch.tensor([ids]), torch.ones(1, t, dtype=torch.long), torch.arange(t)[None])
        item = {"ids": ids}
        for k, arr in (("attention", torch.stack([p[0] for p in model.probs]).numpy()),):
            arr = arr.astype(np.float32)
            item[k] = {"offset": offset, "shape": list(arr.shape)}
            blobs.append(arr.tobytes()); offset += arr.nbytes
        entries.append(item)
    ref = os.path.join(OUT, "reference")
    os.makedirs(ref, exist_ok=True)
    open(os.path.join(ref, "reference.bin"), "wb").write(b"".join(blobs))
    json.dump({"model": "tiny-window", "dtype": "float32", "layout": "attention [layers, heads, query, key]", "entries": entries},
              open(os.path.join(ref, "reference.json"), "w"), indent=1)
    json.dump({"model_type": "mistral", "architectures": ["MistralForCausalLM"], "vocab_size": vocab, "hidden_size": D,
               "num_hidden_layers": len(TYPES), "num_attention_heads": H, "num_key_value_heads": HK, "intermediate_size": FF,
               "max_position_embeddings": CONTEXT, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "sliding_window": WINDOW,
               "layer_types": TYPES, "tie_word_embeddings": False},
              open(os.path.join(OUT, "config.json"), "w"), indent=2)


main()
