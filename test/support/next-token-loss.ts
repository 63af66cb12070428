/** Next-token loss for the model tests (test-only: the extension shows probabilities, never a loss). */

/** Mean next-token cross-entropy (nats) of `logits` [T, V] for targets ids[from+1..to] at rows from..to−1. */
export function meanNextTokenLoss(logits: ArrayLike<number>, vocab: number, ids: ArrayLike<number>, from: number, to: number): number {
  let total = 0;
  let n = 0;
  for (let i = from; i < to && i + 1 < ids.length; i++) {
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[i * vocab + v]);
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp(logits[i * vocab + v] - max);
    total += Math.log(z) + max - logits[i * vocab + ids[i + 1]];
    n++;
  }
  return n ? total / n : NaN;
}
