#!/usr/bin/env python3
"""Builds a GPT-2-shaped test model of real attention shape for `npm run bench -- --scale`: L layers x H heads,
context 1024, random weights (fixed seed), exported like tiny-gpt2 (input_ids, attention_mask, position_ids,
an empty past). Its width is small (d = 8 per head) so a 1 024-token run is cheap: what the bench measures is
the panel, whose work scales with layers x heads x T^2, not with the width. Cached, never committed.
Usage: python3 build_scale.py <out dir> [layers=12] [heads=12] [context=1024]
"""
import json, os, shutil, sys
import torch
from arch import Gpt2

torch.set_num_threads(2)
OUT = sys.argv[1]
L, H, CTX = (int(a) for a in (sys.argv[2:5] + ["12", "12", "1024"][len(sys.argv[2:5]):]))
D, FF, V = 8 * H, 16 * H, 2048
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    torch.manual_seed(11)
    model = Gpt2(V, d=D, heads=H, layers=L, ff=FF, max_pos=CTX).eval()
    dh = D // H
    past = [torch.zeros(1, H, 0, dh) for _ in range(2 * L)]
    args = (torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long), torch.tensor([[0, 1, 2]]), *past)
    past_names = [f"past_key_values.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
    axes.update({n: {0: "batch_size", 2: "past_sequence_length"} for n in past_names})
    axes.update({n: {0: "batch_size", 2: "past_sequence_length + sequence_length"} for n in present_names})
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    model.probs.clear()
    torch.onnx.export(model, args, os.path.join(OUT, "onnx", "model.onnx"), input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                      output_names=["logits", *present_names], dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    shutil.copy(os.path.join(HERE, "..", "tiny-gpt2", "tokenizer.json"), os.path.join(OUT, "tokenizer.json"))
    json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": CTX, "n_ctx": CTX,
               "n_embd": D, "n_layer": L, "n_head": H, "n_inner": FF, "activation_function": "gelu", "use_cache": True},
              open(os.path.join(OUT, "config.json"), "w"), indent=2)
    print(f"built {OUT}: {L} layers x {H} heads, d {D}, context {CTX}")


if __name__ == "__main__":
    main()
