#!/usr/bin/env python3
"""Golden previous-token and first-token (sink) scores of the shipped ONNX, computed without the extension.

The extension's own metrics (src/shared/head-metrics.ts) must not be the source of the numbers that test
them. This script takes the weights out of models/<name>/onnx/model.onnx (the `onnx` package only; no
onnxruntime here), loads them into the recipe's PyTorch GPT (gpt.py), checks that this reproduces the
PyTorch reference tensors in reference/ (which the faithfulness tests match to onnxruntime), and runs
probes.py's head_scores on every whole window of n_positions tokens of reference/heldout.txt, encoded
by the native Hugging Face tokenizer (`tokenizers` npm package, through encode_texts.mjs).

It writes the previous-token and first-token columns (per_head.prev_token, per_head.sink, the matching
summary entries and `heldout_scores`, which says how they were measured) into head_scores.json and the
same two columns, the labels and the summary lines into MODEL_CARD.md. Entropy, induction and the losses
stay as measure_heads.py wrote them. Run it after measure_heads.py.
Usage: python3 measure_onnx_heads.py [--name lens-gpt] [--dry-run]
"""
import argparse, hashlib, json, os, re, subprocess, tempfile
import numpy as np
import onnx
import torch
from onnx import numpy_helper
from gpt import GPT
from probes import head_scores
from measure_heads import THRESHOLDS, labels

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
REFERENCE_TOLERANCE = 1e-4  # PyTorch on the ONNX weights vs the reference tensors (attention and logits)


def gpt_from_onnx(onnx_path, config):
    """The recipe's GPT with the ONNX file's initializers as its state_dict (the export keeps their names)."""
    assert config["activation_function"] == "gelu" and config["layer_norm_epsilon"] == 1e-5 and config["tie_word_embeddings"], \
        "gpt.py hard-codes exact GELU, LayerNorm eps 1e-5 and a tied unembedding"
    model = GPT(vocab_size=config["vocab_size"], n_ctx=config["n_positions"], d=config["n_embd"],
                n_head=config["n_head"], n_layer=config["n_layer"], d_mlp=config["n_inner"]).eval()
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(onnx_path).graph.initializer}
    want = model.state_dict()
    assert set(weights) == set(want), f"initializers {sorted(set(weights) ^ set(want))} do not match gpt.py's parameters"
    for k, v in want.items():
        assert weights[k].shape == v.shape and weights[k].dtype == v.dtype, f"{k}: {weights[k].shape} vs {v.shape}"
    model.load_state_dict(weights, strict=True)
    return model


def check_reference(model, ref_dir):
    """Max |difference| of attention and logits against reference.json/.bin (written by export.py from PyTorch)."""
    ref = json.load(open(os.path.join(ref_dir, "reference.json")))
    blob = open(os.path.join(ref_dir, "reference.bin"), "rb").read()
    tensor = lambda e: np.frombuffer(blob, dtype=np.float32, count=int(np.prod(e["shape"])), offset=e["offset"]).reshape(e["shape"])
    worst = {"attention": 0.0, "logits": 0.0}
    with torch.no_grad():
        for entry in ref["entries"]:
            attn = []
            logits = model(torch.tensor([entry["ids"]], dtype=torch.long), attn)
            got = {"attention": torch.stack(attn, 0)[:, 0].numpy(), "logits": logits[0].numpy()}
            for key in worst:
                worst[key] = max(worst[key], float(np.abs(got[key] - tensor(entry[key])).max()))
    assert max(worst.values()) <= REFERENCE_TOLERANCE, f"the ONNX weights in gpt.py do not reproduce the reference: {worst}"
    return worst


def encode(tokenizer_json, text):
    """Token ids of text from the native Hugging Face tokenizer (no special tokens: this tokenizer adds none)."""
    with tempfile.TemporaryDirectory() as tmp:
        texts, out = os.path.join(tmp, "texts.json"), os.path.join(tmp, "ids.json")
        json.dump([text], open(texts, "w", encoding="utf-8"))
        subprocess.run(["node", os.path.join(HERE, "encode_texts.mjs"), tokenizer_json, out, texts], check=True)
        return json.load(open(out))[0]["ids"]


class FixedWindows:
    """Stands in for head_scores' numpy Generator. Its first draw, the offsets of the natural-text windows,
    returns the given offsets; later draws (the induction probe's random tokens) come from a seeded Generator."""

    def __init__(self, offsets, seed):
        self.offsets, self.rng, self.first = np.asarray(offsets, dtype=np.int64), np.random.default_rng(seed), True

    def integers(self, low, high, size=None):
        if not self.first:
            return self.rng.integers(low, high, size=size)
        self.first = False
        assert size == len(self.offsets) and low <= self.offsets.min() and self.offsets.max() < high, \
            "probes.head_scores no longer draws its window offsets first: update FixedWindows"
        return self.offsets


def update_card(card, ph, sm):
    """Rewrites the prev-token and first-token columns, the labels and the two summary lines of MODEL_CARD.md."""
    for l in range(len(ph["sink"])):
        for h in range(len(ph["sink"][l])):
            pat = re.compile(rf"^\| L{l} H{h} \| [^|]* \| [^|]* \| ([^|]*) \| ([^|]*) \| [^|]* \|$", re.M)
            assert pat.search(card), f"no row for L{l} H{h} in the card"
            card = pat.sub(lambda m: f"| L{l} H{h} | {ph['prev_token'][l][h]:.3f} | {ph['sink'][l][h]:.3f} | "
                                     f"{m.group(1)} | {m.group(2)} | {labels(ph, l, h)} |", card)
    head = lambda k: f"L{sm[k][0]} H{sm[k][1]}"
    prev = re.compile(r"^(- Strongest previous-token head: \*\*)[^*]*(\*\*)", re.M)
    assert prev.search(card), "no previous-token summary line in the card"
    card = prev.sub(lambda m: f"{m.group(1)}{head('best_prev_head')}, {sm['best_prev']:.3f}{m.group(2)}", card)
    sink_note = (f"L{sm['best_sink_head'][0]} H{sm['best_sink_head'][1]} puts {sm['best_sink']:.2f} of its weight on the first token."
                 if sm["best_sink"] >= THRESHOLDS["sink"] else
                 f"No first-token sink head formed: the highest first-token score is {sm['best_sink']:.3f} "
                 f"({head('best_sink_head')}), below the {THRESHOLDS['sink']} threshold.")
    sink = re.compile(r"^- Sink: .*$", re.M)
    assert sink.search(card), "no sink summary line in the card"
    return sink.sub(lambda m: f"- Sink: {sink_note}", card)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="lens-gpt")
    ap.add_argument("--dry-run", action="store_true", help="print the scores, write nothing")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = os.path.join(MODELS, args.name)
    config = json.load(open(os.path.join(out, "config.json")))
    model = gpt_from_onnx(os.path.join(out, "onnx", "model.onnx"), config)
    worst = check_reference(model, os.path.join(out, "reference"))
    print(f"ONNX weights in gpt.py vs reference tensors: attention {worst['attention']:.2e}, logits {worst['logits']:.2e}")

    ctx = config["n_positions"]
    ids = encode(os.path.join(out, "tokenizer.json"), open(os.path.join(out, "reference", "heldout.txt"), encoding="utf-8").read())
    offsets = list(range(0, len(ids) - ctx + 1, ctx))  # every whole window, as test/model/heads.test.ts takes them
    cfg = dict(n_ctx=ctx, vocab_size=config["vocab_size"])
    with torch.no_grad():
        s = head_scores(model, np.asarray(ids, dtype=np.int64), cfg, FixedWindows(offsets, 2026), "cpu", windows=len(offsets))
    ph, best = s["per_head"], s["summary"]
    for l, row in enumerate(ph["sink"]):
        for h, v in enumerate(row):
            print(f"L{l} H{h}  prev-token {ph['prev_token'][l][h]:.6f}  first-token {v:.6f}")

    scores_file = os.path.join(out, "head_scores.json")
    scores = json.load(open(scores_file))
    scores["per_head"]["prev_token"], scores["per_head"]["sink"] = ph["prev_token"], ph["sink"]
    for k in ("best_prev", "best_prev_head", "best_sink", "best_sink_head"):
        scores["summary"][k] = best[k]
    scores.pop("sink_measurement", None)
    scores["heldout_scores"] = {
        "columns": ["prev_token", "sink"],
        "definition": "probes.py: prev_token = mean over i >= 1 of A[i, i-1]; sink = mean over i >= 2 of A[i, 0]",
        "how": "PyTorch (models/recipe/gpt.py) on the initializers of onnx/model.onnx, models/recipe/measure_onnx_heads.py",
        "text": f"reference/heldout.txt, {len(offsets)} windows of {ctx} tokens",
        "tokenizer": "native Hugging Face tokenizers (npm tokenizers, models/recipe/encode_texts.mjs), no special tokens",
        "tokens": len(ids),
        "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest(),
        "reference_max_abs_diff": {k: float(f"{v:.3g}") for k, v in worst.items()},
        "other_columns": "entropy and induction: PyTorch on the training checkpoint, models/recipe/measure_heads.py, "
                         "256 windows of the validation split and 128 sequences [r, r]",
    }
    card_file = os.path.join(out, "MODEL_CARD.md")
    card = update_card(open(card_file, encoding="utf-8").read(), scores["per_head"], scores["summary"])
    if args.dry_run:
        return
    json.dump(scores, open(scores_file, "w"), indent=1)
    open(card_file, "w", encoding="utf-8").write(card)
    print(f"wrote {scores_file} and {card_file}")


if __name__ == "__main__":
    main()
