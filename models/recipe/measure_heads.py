#!/usr/bin/env python3
"""Measure every head of the trained model and write the model card.

Scores come from PyTorch on the held-out validation split (natural text) and on repeated random token
strings [r, r] (induction); formulas are in probes.py. Writes models/<name>/head_scores.json and
models/<name>/MODEL_CARD.md (from MODEL_CARD.template.md in this folder).
Usage: python3 measure_heads.py [--name lens-gpt]
"""
import argparse, json, os, platform
import numpy as np
import torch
from gpt import GPT
from probes import head_scores

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
MODELS = os.path.dirname(HERE)
THRESHOLDS = dict(prev_token=0.5, induction=0.3, sink=0.5)


def labels(per_head, l, h):
    """Labels a head earns by the card's thresholds."""
    out = []
    if per_head["prev_token"][l][h] >= THRESHOLDS["prev_token"]: out.append("previous-token")
    if per_head["induction"][l][h] >= THRESHOLDS["induction"]: out.append("induction")
    if per_head["sink"][l][h] >= THRESHOLDS["sink"]: out.append("first-token sink")
    return ", ".join(out) or "—"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="lens-gpt")
    args = ap.parse_args()
    out = os.path.join(MODELS, args.name)
    ck = torch.load(os.path.join(WORK, "ckpt.pt"), map_location="cpu")
    cfg = ck["config"]
    model = GPT(**cfg).eval()
    model.load_state_dict(ck["model"])
    val = np.fromfile(os.path.join(WORK, "val.bin"), dtype=np.uint16).astype(np.int64)
    torch.manual_seed(0)
    with torch.no_grad():
        s = head_scores(model, val, cfg, np.random.default_rng(2026), "cpu", windows=256, induction_batch=128)
    ph, sm = s["per_head"], s["summary"]
    log = [json.loads(l) for l in open(os.path.join(WORK, "train_log.jsonl"))]
    result = dict(summary=sm, per_head=ph, thresholds=THRESHOLDS, steps=ck["step"], tokens=ck["tokens"],
                  minutes=round(ck["minutes"], 1), device=ck.get("device", "cpu"), config=cfg)
    json.dump(result, open(os.path.join(out, "head_scores.json"), "w"), indent=1)

    rows = []
    for l in range(cfg["n_layer"]):
        for h in range(cfg["n_head"]):
            rows.append(f"| L{l} H{h} | {ph['prev_token'][l][h]:.3f} | {ph['sink'][l][h]:.3f} | "
                        f"{ph['induction'][l][h]:.3f} | {ph['entropy'][l][h]:.3f} | {labels(ph, l, h)} |")
    sink_note = (f"L{sm['best_sink_head'][0]} H{sm['best_sink_head'][1]} puts {sm['best_sink']:.2f} of its weight on the first token."
                 if sm["best_sink"] >= THRESHOLDS["sink"] else
                 f"No first-token sink head formed: the highest first-token score is {sm['best_sink']:.3f} "
                 f"(L{sm['best_sink_head'][0]} H{sm['best_sink_head'][1]}), below the {THRESHOLDS['sink']} threshold.")
    n_params = sum(p.numel() for p in model.parameters())
    fields = dict(
        NAME=args.name, PARAMS=f"{n_params/1e6:.2f}M", **{k.upper(): v for k, v in cfg.items()},
        STEPS=ck["step"], TOKENS=f"{ck['tokens']/1e6:.1f}M", MINUTES=f"{ck['minutes']:.0f}",
        HARDWARE=("CUDA GPU" if ck.get("device") == "cuda" else f"CPU, 2 cores ({platform.machine()}), torch {torch.__version__}"),
        VAL_LOSS=f"{sm['val_loss']:.3f}", HEAD_TABLE="\n".join(rows), SINK_NOTE=sink_note,
        BEST_PREV=f"{sm['best_prev']:.3f}", BEST_PREV_HEAD=f"L{sm['best_prev_head'][0]} H{sm['best_prev_head'][1]}",
        BEST_IND=f"{sm['best_induction']:.3f}", BEST_IND_HEAD=f"L{sm['best_induction_head'][0]} H{sm['best_induction_head'][1]}",
        LOSS_FIRST=f"{sm['induction_loss_first']:.2f}", LOSS_SECOND=f"{sm['induction_loss_second']:.2f}",
        ONNX_MB=f"{os.path.getsize(os.path.join(out, 'onnx', 'model.onnx'))/1e6:.1f}",
        TRAIN_CURVE="\n".join(f"| {r['step']} | {r['tokens']/1e6:.1f}M | {r['val_loss']:.3f} | {r['best_prev']:.3f} | "
                              f"{r['best_induction']:.3f} | {r['induction_loss_first']:.2f} / {r['induction_loss_second']:.2f} |"
                              for r in log if r["step"] % 1000 == 0 or r is log[-1]),
    )
    card = open(os.path.join(HERE, "MODEL_CARD.template.md"), encoding="utf-8").read()
    for k, v in fields.items():
        card = card.replace("{{" + k + "}}", str(v))
    open(os.path.join(out, "MODEL_CARD.md"), "w", encoding="utf-8").write(card)
    print(json.dumps(sm))


if __name__ == "__main__":
    main()
