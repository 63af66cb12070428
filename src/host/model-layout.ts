/**
 * Facts about Hugging Face model folders shared by loading (model-folder.ts) and inspecting
 * (model-inspect.ts): the error type, which ONNX file names are tried, backend size limits and their
 * checks, and what config.json says about the attention's shape. Node only (no `vscode`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

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

/** Size limits a backend puts on a model, in bytes. */
export interface SizeLimits { readonly modelFileBytes: number; readonly totalBytes: number }

/** A byte count for messages: "1.9 GB", "512 KB", "300 bytes" (binary units). */
export function formatBytes(n: number): string {
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u < 0 ? `${n} bytes` : `${Number(v.toFixed(1))} ${units[u]}`;
}

/**
 * Reads only the size of an ONNX file and throws a ModelError naming it, the limit and the fix when it is
 * over the per-file limit (checked before the file is scanned or read); returns the size. `label` names the file.
 */
export async function checkModelFileSize(file: string, label: string, limits: SizeLimits = WASM_LIMITS): Promise<number> {
  const size = (await fs.stat(file)).size;
  if (size > limits.modelFileBytes) {
    throw new ModelError(`${label} is ${formatBytes(size)}, too large for the WebAssembly backend (a model file must stay ` +
      `under ${formatBytes(limits.modelFileBytes)}). Use an export that keeps its weights in external data (model.onnx + ` +
      'model.onnx_data) or a quantized variant (onnx/model_quantized.onnx).', path.basename(file));
  }
  return size;
}

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
