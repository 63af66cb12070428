/**
 * What Attention Lens reads from a model's config.json: layers, heads and the context length (with a default
 * and a notice where none is declared, as for BLOOM), and the embedding size that token ids must stay under.
 * Node only (no `vscode`).
 */
import { ModelError } from './model-layout';

/** The shape facts Attention Lens needs from config.json. */
export interface ModelDims {
  readonly layers: number;
  readonly heads: number;
  /** The context length: the most tokens one run may hold. */
  readonly context: number;
}

function firstInt(obj: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const k of keys) {
    const v = obj[k];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
}

/** The context runs use when config.json declares none: BLOOM (ALiBi) has no position table, and was trained on 2 048 tokens. */
export const DEFAULT_CONTEXT = 2048;

const CONTEXT_KEYS = ['n_positions', 'n_ctx', 'max_position_embeddings'] as const;

/** The notice for a config.json that declares no context length (runs then use DEFAULT_CONTEXT), or undefined. */
export function configNotices(json: unknown, file = 'config.json'): string[] {
  const o = json as Record<string, unknown>;
  if (firstInt(o, CONTEXT_KEYS) !== undefined || firstInt(o, ['relative_attention_num_buckets'])) return [];
  return [`${file} declares no context length (n_positions, n_ctx or max_position_embeddings), as BLOOM's does not: runs use at ` +
    `most ${DEFAULT_CONTEXT} tokens. If the model fails on long text, lower "attentionLens.maxTokens".`];
}

/** The model's embedding size from config.json (vocab_size, n_vocab or padded_vocab_size), if it says. */
export function vocabSizeOf(json: unknown): number | undefined {
  return typeof json === 'object' && json !== null ? firstInt(json as Record<string, unknown>, ['vocab_size', 'n_vocab', 'padded_vocab_size']) : undefined;
}

/** A notice when the tokenizer can produce ids beyond the model's embedding (runs that do are refused), or nothing. */
export function vocabNotices(tokenizerMaxId: number, vocabSize: number | undefined, file = 'config.json'): string[] {
  if (vocabSize === undefined || tokenizerMaxId < vocabSize) return [];
  return [`tokenizer.json has token ids up to ${tokenizerMaxId}, but ${file} gives the model ${vocabSize} embeddings (vocab_size): ` +
    `a text with a token id of ${vocabSize} or more is refused before it runs.`];
}

/** Reads layers/heads/context from a parsed config.json (GPT-2 keys, or the common Hugging Face aliases). */
export function parseModelConfig(json: unknown, file = 'config.json', remedy = ''): ModelDims {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelError(`${file} does not hold a JSON object.${remedy}`, file);
  }
  const o = json as Record<string, unknown>;
  const wanted = [
    ['layers', ['n_layer', 'num_hidden_layers', 'num_layers', 'n_layers']],
    ['heads', ['n_head', 'num_attention_heads', 'num_heads', 'n_heads']],
    ['context', CONTEXT_KEYS],
  ] as const;
  const out: Record<string, number> = {};
  for (const [what, keys] of wanted) {
    // Relative-position models (T5 family) may name no context length: 512 is what they were trained on. Others
    // (BLOOM: ALiBi) get DEFAULT_CONTEXT, and configNotices says so.
    const v = firstInt(o, keys) ?? (what === 'context' ? (firstInt(o, ['relative_attention_num_buckets']) ? 512 : DEFAULT_CONTEXT) : undefined);
    if (v === undefined) throw new ModelError(`${file} has no positive integer "${keys[0]}" (or ${keys.slice(1).join(', ')}).${remedy}`, file);
    out[what] = v;
  }
  return { layers: out.layers, heads: out.heads, context: out.context };
}
