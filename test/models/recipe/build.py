#!/usr/bin/env python3
"""Builds the tiny test models (fixed seeds, random weights) in Hugging Face export layout, plus the
PyTorch attention for fixed inputs as a reference. Runs on Debian's torch 1.13 / onnx 1.12, one thread.

  tiny-bert/       onnx/model.onnx                                   (input_ids, attention_mask, token_type_ids)
  tiny-distilbert/ onnx/model.onnx + onnx/model.onnx_data            (weights in an external data file)
  tiny-gpt2/       onnx/model.onnx, model_fp16.onnx, model_quantized.onnx (int8 weights, DequantizeLinear),
                   model_uint8.onnx (dynamic quantization: DynamicQuantizeLinear + MatMulInteger),
                   decoder_model_merged.onnx (an If on use_cache_branch, as optimum merges decoders)
  tiny-t5/         onnx/encoder_model.onnx, onnx/decoder_model.onnx

reference/reference.json + reference.bin hold, per text, the ids and Float32 tensors named
attention (encoder-only/decoder-only: [layers, heads, T, T]), logits, and for tiny-t5 encoder_attention,
decoder_attention and cross_attention ([layers, heads, T_dec, T_enc]).
Usage: python3 build.py <test/models dir> <ids.json from encode.mjs>
"""
import copy, json, os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import torch
from arch import Bert, DistilBert, Gpt2, T5Encoder, T5Decoder

torch.set_num_threads(1)
OUT, IDS = sys.argv[1], json.load(open(sys.argv[2]))
OPSET = 14
L, H, D, FF = 2, 4, 32, 64


def vocab_size(name):
    tok = json.load(open(os.path.join(OUT, name, "tokenizer.json"), encoding="utf-8"))
    v = tok["model"]["vocab"]
    return len(v)


def export(model, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.probs.clear()
    torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)
    model.probs.clear()


def write_reference(name, entries):
    blobs, offset, out = [], 0, []
    for e in entries:
        item = {k: v for k, v in e.items() if not isinstance(v, np.ndarray)}
        for k, v in e.items():
            if isinstance(v, np.ndarray):
                arr = v.astype(np.float32)
                item[k] = {"offset": offset, "shape": list(arr.shape)}
                blobs.append(arr.tobytes()); offset += arr.nbytes
        out.append(item)
    d = os.path.join(OUT, name, "reference")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "reference.bin"), "wb").write(b"".join(blobs))
    json.dump({"model": name, "dtype": "float32", "layout": "attention [layers, heads, query, key]", "entries": out},
              open(os.path.join(d, "reference.json"), "w"), indent=1)


def stack(probs):
    return torch.stack([p[0] for p in probs], 0).numpy()


def write_config(name, config):
    json.dump(config, open(os.path.join(OUT, name, "config.json"), "w"), indent=2)


# ------------------------------------------------------------------------------------------ graph variants

FP16_MAX = float(np.finfo(np.float16).max)


def to_fp16(t):
    a = numpy_helper.to_array(t).astype(np.float32)
    return numpy_helper.from_array(np.clip(a, -FP16_MAX, FP16_MAX).astype(np.float16), t.name)


def convert_fp16(src, dst):
    """Whole-graph float16 (weights, constants, Casts, float inputs/outputs), constants clipped to ±65504."""
    m = onnx.load(src)
    g = m.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(to_fp16(t))
    for n in g.node:
        for a in n.attribute:
            if a.name == "to" and n.op_type == "Cast" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(to_fp16(a.t))
    for v in list(g.input) + list(g.output):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    del g.value_info[:]
    onnx.save(m, dst)


def fake_quantize_linears(model):
    """Rounds every Linear weight to int8 × per-tensor scale, so int8 storage reproduces it exactly."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                s = mod.weight.abs().max() / 127
                mod.weight.copy_(torch.round(mod.weight / s).clamp(-127, 127) * s)


def quantize_int8(src, dst):
    """Stores every 2-D MatMul weight as int8 + scale, dequantized in the graph (DequantizeLinear)."""
    m = onnx.load(src)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes = []
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in inits and inits[n.input[1]].data_type == TensorProto.FLOAT \
                and len(inits[n.input[1]].dims) == 2:
            w = numpy_helper.to_array(inits[n.input[1]])
            s = np.float32(np.abs(w).max() / 127)
            q = np.clip(np.round(w / s), -127, 127).astype(np.int8)
            base = n.input[1]
            g.initializer.remove(inits.pop(base))
            g.initializer.extend([numpy_helper.from_array(q, base + "_quantized"),
                                  numpy_helper.from_array(np.array(s, np.float32), base + "_scale"),
                                  numpy_helper.from_array(np.array(0, np.int8), base + "_zero_point")])
            new_nodes.append(helper.make_node("DequantizeLinear", [base + "_quantized", base + "_scale", base + "_zero_point"],
                                              [base + "_dequantized"], name=base + "_DequantizeLinear"))
            n.input[1] = base + "_dequantized"
        new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    onnx.save(m, dst)


def quantize_dynamic_uint8(src, dst):
    """onnxruntime quantize_dynamic's layout (weight_type=QUInt8): DynamicQuantizeLinear on the activation,
    MatMulInteger with uint8 weights (zero point 128), Cast and a Mul by the two scales."""
    m = onnx.load(src)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes = []
    for n in g.node:
        w_name = n.input[1] if n.op_type == "MatMul" else None
        if w_name in inits and inits[w_name].data_type == TensorProto.FLOAT and len(inits[w_name].dims) == 2:
            w = numpy_helper.to_array(inits[w_name])
            s = np.float32(np.abs(w).max() / 127)
            q = (np.clip(np.round(w / s), -127, 127) + 128).astype(np.uint8)
            g.initializer.remove(inits.pop(w_name))
            b = n.name or w_name
            g.initializer.extend([numpy_helper.from_array(q, w_name + "_quantized"),
                                  numpy_helper.from_array(np.array(s, np.float32), w_name + "_scale"),
                                  numpy_helper.from_array(np.array(128, np.uint8), w_name + "_zero_point")])
            x = n.input[0]
            new_nodes += [
                helper.make_node("DynamicQuantizeLinear", [x], [b + "_xq", b + "_xs", b + "_xzp"], name=b + "_QuantizeLinear"),
                helper.make_node("MatMulInteger", [b + "_xq", w_name + "_quantized", b + "_xzp", w_name + "_zero_point"],
                                 [b + "_int32"], name=b + "_MatMulInteger"),
                helper.make_node("Cast", [b + "_int32"], [b + "_float"], to=TensorProto.FLOAT, name=b + "_Cast"),
                helper.make_node("Mul", [b + "_xs", w_name + "_scale"], [b + "_scales"], name=b + "_ScaleMul"),
                helper.make_node("Mul", [b + "_float", b + "_scales"], [n.output[0]], name=b + "_Mul"),
            ]
        else:
            new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    onnx.save(m, dst)


def merge_with_if(src, dst):
    """optimum-style merged decoder: the whole graph inside both branches of an If on `use_cache_branch`. As in
    optimum's merge, the else (no-past) branch is the decoder without a past: it reads an empty past of its own
    instead of the past_key_values inputs, so only the then branch (use_cache_branch true) uses the cache."""
    m = onnx.load(src)
    g = m.graph
    outer = {i.name for i in g.input} | {t.name for t in g.initializer}
    pasts = {i.name: i for i in g.input if i.name.startswith("past_key_values.")}

    def branch(prefix, with_past):
        def rename(s):
            if s in pasts and not with_past:
                return prefix + s  # the branch's own empty past (below)
            return s if (s in outer or s == "") else prefix + s
        nodes = []
        if not with_past:
            for name, vi in pasts.items():
                dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
                empty = numpy_helper.from_array(np.zeros((1, dims[1], 0, dims[3]), dtype=np.float32), prefix + name)
                nodes.append(helper.make_node("Constant", [], [prefix + name], name=prefix + name + "/empty", value=empty))
        for n in g.node:
            c = copy.deepcopy(n)
            c.name = prefix + c.name
            c.input[:] = [rename(s) for s in c.input]
            c.output[:] = [rename(s) for s in c.output]
            nodes.append(c)
        outs = []
        for o in g.output:
            v = copy.deepcopy(o)
            v.name = rename(o.name)
            outs.append(v)
        return helper.make_graph(nodes, prefix + "branch", [], outs)

    node = helper.make_node("If", ["use_cache_branch"], [o.name for o in g.output], name="optimum::if",
                            then_branch=branch("with_past/", True), else_branch=branch("no_past/", False))
    inputs = list(g.input) + [helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])]
    merged = helper.make_graph([node], "merged", inputs, list(g.output), list(g.initializer))
    out = helper.make_model(merged, opset_imports=list(m.opset_import), ir_version=m.ir_version)
    onnx.save(out, dst)


# ------------------------------------------------------------------------------------------ models

def build_encoder(name, cls, config, with_types, external=False):
    torch.manual_seed(1 if with_types else 2)
    V = vocab_size(name)
    model = cls(V).eval()
    ids = torch.tensor([[2, 5, 7, 3]])
    ones = torch.ones_like(ids)
    args = (ids, ones, torch.zeros_like(ids)) if with_types else (ids, ones)
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in inputs + ["last_hidden_state"]}
    path = os.path.join(OUT, name, "onnx", "model.onnx")
    export(model, args, path, inputs, ["last_hidden_state"], axes)
    if external:
        m = onnx.load(path)
        data = os.path.join(os.path.dirname(path), "model.onnx_data")
        if os.path.exists(data):
            os.remove(data)  # onnx appends to an existing data file
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=0)
    entries = []
    with torch.no_grad():
        for e in IDS[name]:
            x = torch.tensor([e["ids"]])
            model.probs.clear()
            hidden = model(x, torch.ones_like(x), torch.zeros_like(x)) if with_types else model(x, torch.ones_like(x))
            entries.append({"text": e["text"], "ids": e["ids"], "attention": stack(model.probs),
                            "last_hidden_state": hidden[0].numpy()})
    write_reference(name, entries)
    write_config(name, dict(config, vocab_size=V))


def build_gpt2():
    name = "tiny-gpt2"
    torch.manual_seed(3)
    V = vocab_size(name)
    model = Gpt2(V, d=D, heads=H, layers=L, ff=FF).eval()
    fake_quantize_linears(model)
    dh = D // H
    T, P = 3, 2
    past = [torch.randn(1, H, P, dh) for _ in range(2 * L)]
    args = (torch.tensor([[5, 6, 7]]), torch.ones(1, P + T, dtype=torch.long), torch.tensor([[2, 3, 4]]), *past)
    past_names = [f"past_key_values.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    axes.update({n: {0: "batch_size", 2: "past_sequence_length"} for n in past_names})
    axes.update({n: {0: "batch_size", 2: "past_sequence_length + sequence_length"} for n in present_names})
    onnx_dir = os.path.join(OUT, name, "onnx")
    path = os.path.join(onnx_dir, "model.onnx")
    export(model, args, path, ["input_ids", "attention_mask", "position_ids", *past_names], ["logits", *present_names], axes)
    convert_fp16(path, os.path.join(onnx_dir, "model_fp16.onnx"))
    quantize_int8(path, os.path.join(onnx_dir, "model_quantized.onnx"))
    quantize_dynamic_uint8(path, os.path.join(onnx_dir, "model_uint8.onnx"))
    merge_with_if(path, os.path.join(onnx_dir, "decoder_model_merged.onnx"))
    entries = []
    with torch.no_grad():
        for e in IDS[name]:
            x = torch.tensor([e["ids"]])
            t = x.shape[1]
            empty = [torch.zeros(1, H, 0, dh) for _ in range(2 * L)]
            model.probs.clear()
            logits = model(x, torch.ones(1, t, dtype=torch.long), torch.arange(t)[None], *empty)[0]
            entries.append({"text": e["text"], "ids": e["ids"], "attention": stack(model.probs), "logits": logits[0].numpy()})
    write_reference(name, entries)
    write_config(name, {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": 64,
                        "n_ctx": 64, "n_embd": D, "n_layer": L, "n_head": H, "n_inner": FF, "activation_function": "gelu",
                        "layer_norm_epsilon": 1e-5, "bos_token_id": 0, "eos_token_id": 0, "use_cache": True})


def build_t5():
    name = "tiny-t5"
    torch.manual_seed(4)
    V = vocab_size(name)
    enc, dec = T5Encoder(V, d=D, heads=H, layers=L, ff=FF).eval(), T5Decoder(V, d=D, heads=H, layers=L, ff=FF).eval()
    with torch.no_grad():
        dec.embed.weight.copy_(enc.embed.weight)  # T5 shares one embedding
    onnx_dir = os.path.join(OUT, name, "onnx")
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    export(enc, (ids, torch.ones_like(ids)), os.path.join(onnx_dir, "encoder_model.onnx"),
           ["input_ids", "attention_mask"], ["last_hidden_state"],
           {n: {0: "batch_size", 1: "encoder_sequence_length"} for n in ("input_ids", "attention_mask", "last_hidden_state")})
    hidden = torch.randn(1, 5, D)
    export(dec, (torch.tensor([[0, 5, 6]]), torch.ones_like(ids), hidden), os.path.join(onnx_dir, "decoder_model.onnx"),
           ["input_ids", "encoder_attention_mask", "encoder_hidden_states"], ["logits"],
           {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}})
    entries = []
    with torch.no_grad():
        for e in IDS[name]:
            x, y = torch.tensor([e["ids"]]), torch.tensor([e["decoder_ids"]])
            enc.probs.clear(); dec.probs.clear(); dec.cross_probs.clear()
            h = enc(x, torch.ones_like(x))
            logits = dec(y, torch.ones_like(x), h)
            entries.append({"text": e["text"], "ids": e["ids"], "decoder_text": e["decoder_text"],
                            "decoder_ids": e["decoder_ids"], "encoder_attention": stack(enc.probs),
                            "decoder_attention": stack(dec.probs), "cross_attention": stack(dec.cross_probs),
                            "encoder_hidden_state": h[0].numpy(), "logits": logits[0].numpy()})
    write_reference(name, entries)
    write_config(name, {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "vocab_size": V,
                        "d_model": D, "d_kv": D // H, "d_ff": FF, "num_layers": L, "num_decoder_layers": L, "num_heads": H,
                        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
                        "n_positions": 512, "is_encoder_decoder": True, "decoder_start_token_id": 0,
                        "pad_token_id": 0, "eos_token_id": 1, "feed_forward_proj": "relu"})


def main():
    build_encoder("tiny-bert", Bert, {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": D,
                                      "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": FF,
                                      "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_act": "gelu",
                                      "pad_token_id": 0}, with_types=True)
    build_encoder("tiny-distilbert", DistilBert, {"model_type": "distilbert", "architectures": ["DistilBertModel"],
                                                  "dim": D, "n_layers": L, "n_heads": 2, "hidden_dim": FF,
                                                  "max_position_embeddings": 64, "activation": "gelu", "pad_token_id": 0},
                  with_types=False, external=True)
    build_gpt2()
    build_t5()
    for root, _, files in os.walk(OUT):
        for f in files:
            p = os.path.join(root, f)
            if "/recipe" not in p:
                print(f"{os.path.relpath(p, OUT):50s} {os.path.getsize(p) / 1e3:8.1f} kB")


if __name__ == "__main__":
    main()
