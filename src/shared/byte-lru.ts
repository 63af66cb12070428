/**
 * Large arrays kept under a byte budget, the least recently used dropped first: recomputed heads of a paged stack,
 * and a store's aggregate matrices. Pure: no `vscode`, no DOM.
 */

/** A map of arrays whose total size stays under a byte budget (the newest entry is always kept, even alone over it). */
export class ByteLru<K, V extends { readonly byteLength: number }> {
  private readonly kept = new Map<K, V>();
  private keptBytes = 0;

  constructor(private readonly budget: number) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.keptBytes;
  }

  /** True when `key` is kept. */
  has(key: K): boolean {
    return this.kept.has(key);
  }

  /** The value kept under `key`, without marking it used. */
  peek(key: K): V | undefined {
    return this.kept.get(key);
  }

  /** The value under `key`, marked most recently used; `make()` computes and keeps it when absent. */
  get(key: K, make: () => V): V {
    let v = this.kept.get(key);
    if (v) {
      this.kept.delete(key); // most recently used last
    } else {
      v = make();
      this.keptBytes += v.byteLength;
      for (const [k, old] of this.kept) {
        if (this.keptBytes <= this.budget) break;
        this.kept.delete(k);
        this.keptBytes -= old.byteLength;
      }
    }
    this.kept.set(key, v);
    return v;
  }
}
