/**
 * Loading and checking a model folder (config.json, tokenizer.json, onnx/model.onnx). Every failure is a
 * ModelError whose message names the file and says what to do. Loaded folders are cached and reused
 * until one of their files changes on disk. Node only (no `vscode`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { requiredInputs, scanOnnx, TapError } from '../shared/onnx-tap';
import { describeTokenizer, UnsupportedTokenizerError } from '../shared/token-ranges';
import { createTokenizer, type HostTokenizer } from './tokenize';

/** The shape facts Attention Lens needs from config.json. */
export interface ModelDims {
  readonly layers: number;
  readonly heads: number;
  /** The context length: the most tokens one run may hold. */
  readonly context: number;
}

/** A model folder that passed every check, with its tokenizer loaded. */
export interface LoadedModel {
  readonly dir: string;
  /** Display name, e.g. "lens-gpt (bundled)". */
  readonly name: string;
  readonly bundled: boolean;
  readonly dims: ModelDims;
  readonly onnxPath: string;
  /** Graph inputs besides input_ids that the worker must feed. */
  readonly extraInputs: readonly string[];
  readonly tokenizer: HostTokenizer;
}

/** A model folder problem, phrased for the user. */
export class ModelError extends Error {
  constructor(message: string, readonly file?: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** Relative paths of the files every model folder must hold. */
export const MODEL_FILES = { config: 'config.json', tokenizer: 'tokenizer.json', onnx: path.join('onnx', 'model.onnx') } as const;

function firstInt(obj: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const k of keys) {
    const v = obj[k];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
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
    ['context', ['n_positions', 'n_ctx', 'max_position_embeddings']],
  ] as const;
  const out: Record<string, number> = {};
  for (const [what, keys] of wanted) {
    const v = firstInt(o, keys);
    if (v === undefined) throw new ModelError(`${file} has no positive integer "${keys[0]}" (or ${keys.slice(1).join(', ')}).${remedy}`, file);
    out[what] = v;
  }
  return { layers: out.layers, heads: out.heads, context: out.context };
}

/** Throws a ModelError naming the tokenizer unless tokenizer.json describes one whose tokens map to exact ranges. */
export function checkTokenizerSupported(json: unknown, file = 'tokenizer.json'): void {
  try {
    describeTokenizer(json);
  } catch (e) {
    if (!(e instanceof UnsupportedTokenizerError)) throw e;
    throw new ModelError(`This model's tokenizer (${e.message}) is not supported: Attention Lens supports byte-level BPE ` +
      '(GPT-2 style), WordPiece (BERT style) and SentencePiece-style Unigram/BPE tokenizers with a Metaspace (▁). ' +
      'Pick another model with "Attention Lens: Select Model".', file);
  }
}

async function readJson(dir: string, rel: string, remedy: string, optional = false): Promise<unknown> {
  const file = path.join(dir, rel);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (optional) return undefined;
    throw missing(dir, rel, remedy, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${rel} in the model folder ${dir} is not valid JSON (${(e as Error).message}).${remedy}`, rel);
  }
}

function missing(dir: string, rel: string, remedy: string, e: unknown): ModelError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const why = code === 'ENOENT' ? 'is missing' : `cannot be read (${(e as Error)?.message ?? e})`;
  return new ModelError(`${rel} ${why} in the model folder ${dir}. A model folder needs config.json, tokenizer.json ` +
    `and onnx/model.onnx.${remedy}`, rel);
}

/** The advice appended to every error about a folder. */
export function modelRemedy(bundled: boolean): string {
  return bundled
    ? ' The bundled model is part of the extension: reinstall Attention Lens to restore it.'
    : ' Fix the folder, or pick another model with "Attention Lens: Select Model" (settings attentionLens.models and attentionLens.defaultModel).';
}

const cache = new Map<string, { stamp: string; model: LoadedModel }>();

async function stampOf(dir: string, remedy: string): Promise<string> {
  const parts: string[] = [];
  for (const rel of Object.values(MODEL_FILES)) {
    try {
      const s = await fs.stat(path.join(dir, rel));
      parts.push(`${s.size}:${s.mtimeMs}`);
    } catch (e) {
      throw missing(dir, rel, remedy, e);
    }
  }
  return parts.join('|');
}

/** Loads and checks a model folder, reusing the cached result while its files are unchanged. */
export async function loadModelFolder(dir: string, options: { bundled: boolean; name?: string }): Promise<LoadedModel> {
  const remedy = modelRemedy(options.bundled);
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new ModelError(`The model path ${dir} is not a folder.${remedy}`);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`The model folder ${dir} does not exist.${remedy}`);
  }
  const stamp = await stampOf(dir, remedy);
  const hit = cache.get(dir);
  if (hit && hit.stamp === stamp) return hit.model;

  const dims = parseModelConfig(await readJson(dir, MODEL_FILES.config, remedy), MODEL_FILES.config, remedy);
  const tokenizerJson = await readJson(dir, MODEL_FILES.tokenizer, remedy);
  checkTokenizerSupported(tokenizerJson, MODEL_FILES.tokenizer);
  const tokenizerConfig = (await readJson(dir, 'tokenizer_config.json', remedy, true)) ?? {};
  let tokenizer: HostTokenizer;
  try {
    tokenizer = createTokenizer(tokenizerJson as object, tokenizerConfig as object);
  } catch (e) {
    throw new ModelError(`tokenizer.json in ${dir} could not be loaded (${(e as Error).message}).${remedy}`, MODEL_FILES.tokenizer);
  }
  const onnxPath = path.join(dir, MODEL_FILES.onnx);
  const extraInputs = await readExtraInputs(onnxPath, remedy);
  const name = options.name ?? (options.bundled ? `${path.basename(dir)} (bundled)` : path.basename(dir));
  const model: LoadedModel = { dir, name, bundled: options.bundled, dims, onnxPath, extraInputs, tokenizer };
  cache.set(dir, { stamp, model });
  return model;
}

/** Graph inputs other than input_ids that must be fed; also proves the file is an ONNX model. */
async function readExtraInputs(onnxPath: string, remedy: string): Promise<string[]> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(onnxPath));
  } catch (e) {
    throw missing(path.dirname(path.dirname(onnxPath)), MODEL_FILES.onnx, remedy, e);
  }
  try {
    const inputs = requiredInputs(scanOnnx(bytes)).map((i) => i.name);
    if (!inputs.includes('input_ids')) {
      throw new ModelError(`onnx/model.onnx has no graph input named "input_ids" (its inputs: ${inputs.join(', ') || 'none'}). ` +
        `Export the model with an input_ids input.${remedy}`, MODEL_FILES.onnx);
    }
    return inputs.filter((n) => n !== 'input_ids');
  } catch (e) {
    if (e instanceof ModelError) throw e;
    const why = e instanceof TapError ? e.message : `it could not be read as ONNX (${(e as Error).message}).`;
    throw new ModelError(`onnx/model.onnx in ${path.dirname(path.dirname(onnxPath))} is corrupt: ${why}${remedy}`, MODEL_FILES.onnx);
  }
}

/** Forgets cached folders (tests, or after the user edits settings). */
export function clearModelCache(): void {
  cache.clear();
}
