#!/usr/bin/env python3
"""Train the default Attention Lens model on work/{train,val}.bin (see README.md in this folder).

With --short-ctx, most steps use shorter windows (same tokens per step) and --long-frac of them the full
context, so every learned position is trained while most tokens stay cheap.
Data mix per sequence:
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
# Model presets: the bundled models. Each trains in its own work folder (work/ for lens-gpt).
PRESETS = {
    "lens-gpt": dict(vocab_size=2048, n_ctx=128, d=128, n_head=4, n_layer=3, d_mlp=512),
    "lens-gpt-8k": dict(vocab_size=8192, n_ctx=512, d=128, n_head=8, n_layer=4, d_mlp=512),
}


def work_dir(name):
    """The work folder of a preset: work/ for lens-gpt (as before), work/<name>/ for the others."""
    return os.path.join(HERE, "work") if name == "lens-gpt" else os.path.join(HERE, "work", name)


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
    ap.add_argument("--name", default="lens-gpt", choices=sorted(PRESETS))
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--short-ctx", type=int, default=0,
                    help="train most steps at this shorter context (0: always the full context); cheaper tokens on CPU")
    ap.add_argument("--long-frac", type=float, default=0.25,
                    help="with --short-ctx: the fraction of steps at the full context, so every position is trained")
    ap.add_argument("--resume", action="store_true", help="continue from work/.../ckpt.pt (model, optimiser, data order, clock)")
    args = ap.parse_args()
    CONFIG = PRESETS[args.name]
    WORK = work_dir(args.name)
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
    t0, step, tokens, warmup = time.time(), 0, 0, 200
    ckpt_path = os.path.join(WORK, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        if "optimizer" in ck:
            opt.load_state_dict(ck["optimizer"])
        step, tokens = ck["step"], ck["tokens"]
        t0 -= ck["minutes"] * 60  # the time-boxed schedule continues where it stopped
        rng = np.random.default_rng([args.seed, step])  # a fresh but reproducible data stream
        print(json.dumps(dict(resumed=True, step=step, tokens=tokens, minutes=round(ck["minutes"], 2))), flush=True)
    full = CONFIG["n_ctx"]
    short = args.short_ctx or full
    # Same tokens per step at either length: batch counts sequences of the full context.
    gens = {c: batches(train, rng, args.batch * full // c, c, CONFIG["vocab_size"]) for c in {short, full}}
    log = open(os.path.join(WORK, "train_log.jsonl"), "a")

    def save():
        """Write the checkpoint atomically, so a stop mid-write loses nothing."""
        torch.save(dict(model=model.state_dict(), optimizer=opt.state_dict(), config=CONFIG, step=step,
                        tokens=tokens, minutes=(time.time() - t0) / 60, device=device), ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
    while True:
        elapsed = time.time() - t0
        progress = max(step / args.max_steps, elapsed / (60 * args.minutes))
        if progress >= 1:
            break
        lr = args.lr * (step / warmup if step < warmup else 0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        xb = next(gens[full if short == full or rng.random() < args.long_frac else short]).to(device)
        logits = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += xb[:, :-1].numel()
        if step % args.eval_every == 0:
            model.eval()
            with torch.no_grad():
                s = head_scores(model, val, CONFIG, np.random.default_rng(7), device)
            model.train()
            rec = dict(step=step, tokens=tokens, minutes=round((time.time() - t0) / 60, 2), lr=lr,
                       train_loss=round(loss.item(), 4), **s["summary"])
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"); log.flush()
            save()
    save()
    print(json.dumps(dict(done=True, step=step, tokens=tokens)), flush=True)


if __name__ == "__main__":
    main()
