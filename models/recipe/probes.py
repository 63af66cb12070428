"""Head scores for a causal model, computed from PyTorch attention (used in training and for the card).

For attention A[b, h, i, j] (query i, key j), averaged over sequences b:
  prev_token[h] = mean_{i>=1} A[i, i-1]              (held-out natural text)
  sink[h]       = mean_{i>=2} A[i, 0]                (held-out natural text; rows 0 and 1 are left out:
                  there key 0 is the query itself or its previous token, so a pure previous-token
                  head scores 0 and a pure first-token head 1, as in src/shared/head-metrics.ts)
  entropy[h]    = mean_{i>=1} -sum_j A[i,j] ln A[i,j] / ln(i+1)   (normalised to [0, 1])
  induction[h]  = mean_{k=0..L-2} A[L+k, k+1]        on [r, r], r = L uniform random tokens
and the induction losses are the mean next-token losses inside the first and the second copy.
"""
import numpy as np
import torch
import torch.nn.functional as F

EVAL_WINDOWS, INDUCTION_LEN, INDUCTION_BATCH = 48, 50, 32


def _stack(attn):
    return torch.stack(attn, 0)  # [layers, batch, heads, T, T]


def head_scores(model, val, config, rng, device, windows=EVAL_WINDOWS, induction_batch=INDUCTION_BATCH):
    """Return {'summary': {...}, 'per_head': {...}} as plain Python numbers."""
    ctx, vocab = config["n_ctx"], config["vocab_size"]
    offs = rng.integers(0, len(val) - ctx - 2, size=windows)
    xb = torch.from_numpy(np.stack([val[o : o + ctx + 1] for o in offs])).long().to(device)
    attn = []
    logits = model(xb[:, :-1], attn)
    val_loss = F.cross_entropy(logits.reshape(-1, vocab), xb[:, 1:].reshape(-1)).item()
    a = _stack(attn).double()
    t = a.shape[-1]
    i = torch.arange(1, t)
    prev = a[..., i, i - 1].mean(dim=(1, 3))
    sink = a[..., i[1:], 0].mean(dim=(1, 3))  # rows i >= 2
    ent = -(a * torch.log(a.clamp_min(1e-30))).sum(-1)[..., 1:]  # [L, B, H, T-1]
    ent = (ent / torch.log(i.double() + 1)).mean(dim=(1, 3))

    L = INDUCTION_LEN
    r = torch.from_numpy(rng.integers(1, vocab, size=(induction_batch, L))).long().to(device)
    rr = torch.cat([r, r], 1)
    attn = []
    logits = model(rr, attn)
    losses = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), rr[:, 1:].reshape(-1), reduction="none")
    losses = losses.view(induction_batch, 2 * L - 1)
    loss_first = losses[:, : L - 1].mean().item()       # predicting tokens 1..L-1
    loss_second = losses[:, L:].mean().item()           # predicting tokens L+1..2L-1
    a = _stack(attn).double()
    k = torch.arange(0, L - 1)
    ind = a[..., L + k, k + 1].mean(dim=(1, 3))

    def best(m):
        idx = int(torch.argmax(m))
        return [idx // m.shape[1], idx % m.shape[1]], round(float(m.flatten()[idx]), 4)

    bp, bs = best(prev)
    bi, bis = best(ind)
    bk, bks = best(sink)
    return {
        "summary": dict(val_loss=round(val_loss, 4), best_prev=bs, best_prev_head=bp, best_induction=bis,
                        best_induction_head=bi, best_sink=bks, best_sink_head=bk,
                        induction_loss_first=round(loss_first, 4), induction_loss_second=round(loss_second, 4)),
        "per_head": dict(prev_token=prev.tolist(), sink=sink.tolist(), entropy=ent.tolist(), induction=ind.tolist()),
    }
