/**
 * Next-token predictions of a decoder model: the top-k of softmax(logits[i]) for a position, and the
 * id → display string table read from a tokenizer.json (byte-level BPE symbols decoded to UTF-8,
 * SentencePiece ▁ shown as a space, WordPiece ## kept). Pure; imports neither `vscode` nor the DOM.
 */
import { byteLevelTokenBytes } from './offsets';

/** One predicted next token. */
export interface Prediction {
  readonly id: number;
  /** softmax(logits[i])[id]. */
  readonly p: number;
}

/** The `k` most probable next tokens after position `i` of Float32 logits [T, vocab], most probable first. */
export function topNextTokens(logits: ArrayLike<number>, vocab: number, i: number, k = 5): Prediction[] {
  const base = i * vocab;
  if (i < 0 || vocab <= 0 || base + vocab > logits.length) return [];
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]);
  let z = 0;
  for (let v = 0; v < vocab; v++) z += Math.exp(logits[base + v] - max);
  const top: Prediction[] = [];
  for (let v = 0; v < vocab; v++) {
    const l = logits[base + v];
    if (top.length === k && l <= logits[base + top[k - 1].id]) continue;
    top.push({ id: v, p: 0 });
    top.sort((a, b) => logits[base + b.id] - logits[base + a.id] || a.id - b.id);
    if (top.length > k) top.pop();
  }
  return top.map((t) => ({ id: t.id, p: Math.exp(logits[base + t.id] - max) / z }));
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * id → display string for a tokenizer.json: the model's vocab (BPE/WordPiece map, or Unigram list) and the
 * added tokens. Byte-level BPE symbols are decoded to text (a lone byte of a multi-byte character stays as
 * its symbols); a Metaspace ▁ becomes a space. Ids with no entry are missing from the array.
 */
export function vocabStrings(json: unknown): string[] {
  const j = (json ?? {}) as {
    model?: { type?: string; vocab?: Record<string, number> | [string, number][] };
    decoder?: { type?: string; decoders?: { type?: string }[] } | null;
    pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
    added_tokens?: { id: number; content: string }[];
  };
  const types = [j.decoder, ...(j.decoder?.decoders ?? []), j.pre_tokenizer, ...(j.pre_tokenizer?.pretokenizers ?? [])]
    .map((x) => x?.type);
  const byteLevel = types.includes('ByteLevel');
  const metaspace = types.includes('Metaspace');
  const out: string[] = [];
  const show = (s: string): string => {
    if (byteLevel) {
      const bytes = byteLevelTokenBytes(s);
      if (bytes) {
        const text = utf8.decode(Uint8Array.from(bytes));
        return text.includes('\uFFFD') ? s : text;
      }
    }
    return metaspace ? s.replace(/▁/g, ' ') : s;
  };
  const vocab = j.model?.vocab;
  if (Array.isArray(vocab)) vocab.forEach(([piece], id) => { out[id] = show(piece); });
  else if (vocab) for (const [piece, id] of Object.entries(vocab)) if (Number.isInteger(id) && id >= 0) out[id] = show(piece);
  for (const t of j.added_tokens ?? []) out[t.id] = t.content;
  return out;
}
