/**
 * Facts about Hugging Face model folders shared by loading (model-folder.ts) and inspecting
 * (model-inspect.ts): the error type, which ONNX file names are tried, backend size limits, and what
 * config.json says about the attention's shape. Node only (no `vscode`).
 */

/** A model folder problem, phrased for the user. */
export class ModelError extends Error {
  constructor(message: string, readonly file?: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** ONNX files tried under onnx/ for a decoder-only or encoder-only model, in order of preference. */
export const SINGLE_MODEL_FILES = ['model.onnx', 'model_fp16.onnx', 'model_quantized.onnx', 'model_int8.onnx',
  'model_uint8.onnx', 'model_q4.onnx', 'model_bnb4.onnx', 'decoder_model.onnx', 'decoder_model_merged.onnx'] as const;

/** The pair an encoder–decoder export has under onnx/. */
export const SEQ2SEQ_FILES = { encoder: 'encoder_model.onnx', decoder: 'decoder_model.onnx' } as const;

/** Backend limits: protobuf cannot encode a model file over 2 GiB, and wasm32 has 4 GiB of memory. */
export const WASM_LIMITS = { modelFileBytes: 2 ** 31 - 1, totalBytes: 2 ** 32 } as const;

/** What attention a model computes. */
export type AttentionShape = 'causal' | 'bidirectional' | 'encoder-decoder';

const CAUSAL_TYPES = new Set(['gpt2', 'gpt_neo', 'gpt_neox', 'gptj', 'gpt_bigcode', 'llama', 'mistral', 'mixtral', 'qwen2',
  'qwen3', 'phi', 'phi3', 'opt', 'bloom', 'falcon', 'codegen', 'gemma', 'gemma2', 'olmo', 'stablelm', 'starcoder2', 'lens-gpt']);

/** Causal, bidirectional or encoder–decoder, from config.json alone. */
export function attentionShapeFromConfig(config: Record<string, unknown>): AttentionShape {
  if (config.is_encoder_decoder === true) return 'encoder-decoder';
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  if (config.is_decoder === true || CAUSAL_TYPES.has(String(config.model_type)) || archs.some((a) => /CausalLM|LMHeadModel/.test(a))) {
    return 'causal';
  }
  return 'bidirectional';
}
