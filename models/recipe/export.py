#!/usr/bin/env python3
"""Export work/ckpt.pt to a Hugging Face-style folder and write the PyTorch reference file.

  models/<name>/config.json, tokenizer.json, onnx/model.onnx   (input_ids -> logits, no attention outputs)
  models/<name>/reference/reference.json + reference.bin        (ids, attention and logits from PyTorch)

The ONNX graph has no extra outputs: Attention Lens taps the Softmax nodes itself. The tied unembedding is
a runtime Transpose (constant folding off), so the weights are stored once.
Usage: python3 export.py [--name lens-gpt]
"""
import argparse, json, os, shutil
import numpy as np
import torch
from gpt import GPT

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
MODELS = os.path.dirname(HERE)

# Fixed texts for the reference file: prose, code, and a repeated phrase (induction).
REFERENCE_TEXTS = [
    "The cat sat on the mat because it was tired.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "Attention Lens shows attention. Attention Lens shows attention.",
    "for i in range(10):\r\n\tx = i * 2  # CRLF and tab",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="lens-gpt")
    args = ap.parse_args()
    out = os.path.join(MODELS, args.name)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    ck = torch.load(os.path.join(WORK, "ckpt.pt"), map_location="cpu")
    cfg = ck["config"]
    model = GPT(**cfg).eval()
    model.load_state_dict(ck["model"])

    dummy = torch.zeros(1, 7, dtype=torch.long)
    path = os.path.join(out, "onnx", "model.onnx")
    torch.onnx.export(model, (dummy,), path, input_names=["input_ids"], output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}},
                      opset_version=14, do_constant_folding=False)
    shutil.copy(os.path.join(WORK, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    config = {
        "model_type": "lens-gpt", "architectures": ["LensGPTForCausalLM"], "is_decoder": True,
        "vocab_size": cfg["vocab_size"], "n_positions": cfg["n_ctx"], "n_ctx": cfg["n_ctx"], "n_embd": cfg["d"],
        "n_layer": cfg["n_layer"], "n_head": cfg["n_head"], "n_inner": cfg["d_mlp"], "activation_function": "gelu",
        "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0,
        "training_steps": ck["step"], "training_tokens": ck["tokens"],
    }
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)

    # Reference: token ids come from the shipped tokenizer (encoded by tools/encode_texts.mjs).
    ids_path = os.path.join(WORK, "reference_ids.json")
    encoded = json.load(open(ids_path))
    entries, blobs, offset = [], [], 0
    with torch.no_grad():
        for item in encoded:
            ids = torch.tensor([item["ids"]], dtype=torch.long)
            attn = []
            logits = model(ids, attn)
            a = torch.stack(attn, 0)[:, 0].numpy().astype(np.float32)  # [L, H, T, T]
            lg = logits[0].numpy().astype(np.float32)                 # [T, V]
            entry = {"text": item["text"], "ids": item["ids"]}
            for key, arr in (("attention", a), ("logits", lg)):
                entry[key] = {"offset": offset, "shape": list(arr.shape)}
                blobs.append(arr.tobytes()); offset += arr.nbytes
            entries.append(entry)
    # A held-out sample (validation split, never trained on) for the head-property test.
    val_text = open(os.path.join(WORK, "corpus", "val.txt"), encoding="utf-8").read()
    open(os.path.join(out, "reference", "heldout.txt"), "w", encoding="utf-8").write(val_text[:40000])
    open(os.path.join(out, "reference", "reference.bin"), "wb").write(b"".join(blobs))
    json.dump({"model": args.name, "dtype": "float32", "layout": "attention [layers, heads, query, key]; logits [T, vocab]",
               "entries": entries}, open(os.path.join(out, "reference", "reference.json"), "w"), indent=1)
    print(f"exported {path} ({os.path.getsize(path)/1e6:.2f} MB), reference for {len(entries)} texts")


if __name__ == "__main__":
    main()
