#!/usr/bin/env python3
"""Train the default Attention Lens model on work/{train,val}.bin (see README.md in this folder).

Data mix per sequence (context 128):
  60%  a window of natural text;
  25%  a random token string r (8-60 tokens) repeated to fill the window: rewards in-context copying;
  15%  natural text in which an earlier span is copied later in the window.
The learning-rate schedule (warm-up, then cosine to 10%) runs on progress = max(step/max_steps,
elapsed/minutes), so a run ends on time on a busy machine. Checkpoints and metrics go to work/.
"""
import argparse, json, math, os, time
import numpy as np
import torch
import torch.nn.functional as F
from gpt import GPT
from probes import head_scores

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
CONFIG = dict(vocab_size=2048, n_ctx=128, d=128, n_head=4, n_layer=3, d_mlp=512)


def batches(data, rng, batch, ctx, vocab):
    """Yield training batches of shape [batch, ctx+1] following the data mix above."""
    while True:
        rows = np.empty((batch, ctx + 1), dtype=np.int64)
        for i in range(batch):
            u = rng.random()
            if u < 0.25:
                n = int(rng.integers(8, 61))
                r = rng.integers(1, vocab, size=n)
                rows[i] = np.tile(r, (ctx + 1) // n + 1)[: ctx + 1]
            else:
                o = int(rng.integers(0, len(data) - ctx - 2))
                rows[i] = data[o : o + ctx + 1]
                if u < 0.40:
                    n = int(rng.integers(8, 41))
                    src = int(rng.integers(0, ctx // 2 - n // 2))
                    dst = int(rng.integers(src + n, ctx + 1 - n))
                    rows[i, dst : dst + n] = rows[i, src : src + n].copy()
        yield torch.from_numpy(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(args.seed)
    train = np.fromfile(os.path.join(WORK, "train.bin"), dtype=np.uint16).astype(np.int64)
    val = np.fromfile(os.path.join(WORK, "val.bin"), dtype=np.uint16).astype(np.int64)
    model = GPT(**CONFIG).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    gen = batches(train, rng, args.batch, CONFIG["n_ctx"], CONFIG["vocab_size"])
    log = open(os.path.join(WORK, "train_log.jsonl"), "a")
    t0, step, tokens, warmup = time.time(), 0, 0, 200
    while True:
        elapsed = time.time() - t0
        progress = max(step / args.max_steps, elapsed / (60 * args.minutes))
        if progress >= 1:
            break
        lr = args.lr * (step / warmup if step < warmup else 0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        xb = next(gen).to(device)
        logits = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += xb[:, :-1].numel()
        if step % 250 == 0:
            model.eval()
            with torch.no_grad():
                s = head_scores(model, val, CONFIG, np.random.default_rng(7), device)
            model.train()
            rec = dict(step=step, tokens=tokens, minutes=round((time.time() - t0) / 60, 2), lr=lr,
                       train_loss=round(loss.item(), 4), **s["summary"])
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"); log.flush()
            torch.save(dict(model=model.state_dict(), config=CONFIG, step=step, tokens=tokens,
                            minutes=(time.time() - t0) / 60, device=device), os.path.join(WORK, "ckpt.pt"))
    torch.save(dict(model=model.state_dict(), config=CONFIG, step=step, tokens=tokens,
                    minutes=(time.time() - t0) / 60, device=device), os.path.join(WORK, "ckpt.pt"))
    print(json.dumps(dict(done=True, step=step, tokens=tokens)), flush=True)


if __name__ == "__main__":
    main()
