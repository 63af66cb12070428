/**
 * Loading and checking a model folder (config.json, tokenizer.json, onnx/model.onnx or a named variant such
 * as model_quantized.onnx, or onnx/encoder_model.onnx + decoder_model.onnx). Every failure is a ModelError
 * whose message names the file and says what to do; the size limits are the ones Add Model checks
 * (model-layout.ts), so a folder listed by hand is refused before the panel fetches it. Loaded folders are cached and reused until one of their
 * files changes on disk; with a storage folder, the tapped model is cached on disk too (tap-cache.ts).
 * Node only (no `vscode`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { layerOrderNotice } from '../shared/layer-order';
import { requiredInputs, TapError, type TapPlan } from '../shared/onnx-tap';
import { planTapLazily } from '../shared/tap-subgraph';
import { scanOnnxFile } from './onnx-file';
import { describeTokenizer, UnsupportedTokenizerError } from '../shared/token-ranges';
import {
  attentionShapeFromConfig, checkModelFileSize, ModelError, SEQ2SEQ_FILES, SINGLE_MODEL_FILES, WASM_LIMITS,
  type AttentionShape, type SizeLimits,
} from './model-layout';
import { checkExternalData, checkJsonSize, checkModelFile, jsonErrorReason, modelRoots } from './model-files';
import { cachedTappedModel, type TapCacheOptions } from './tap-cache';

export { ModelError } from './model-layout';
export { configNotices, DEFAULT_CONTEXT, parseModelConfig, vocabNotices, vocabSizeOf, type ModelDims } from './model-config';
import { configNotices, parseModelConfig, vocabNotices, vocabSizeOf, type ModelDims } from './model-config';
import { declaredWindows, type DeclaredWindows } from '../shared/sliding-window';
import { relativeMaxDistanceOf } from '../shared/relative-bias';
import { loadTokenizer, TokenizerLoadError, type ThreadTokenizer } from './tokenizer-thread';

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
  /** The tokenizer, on the tokenizer thread. */
  readonly tokenizer: ThreadTokenizer;
  /** The model's embedding size (config.json vocab_size), when it says: ids at or beyond it are refused before a run. */
  readonly vocabSize?: number;
  /** The decoder of an encoder–decoder model (onnxPath is then its encoder). */
  readonly decoderOnnxPath?: string;
  /** The decoder's first input id (config decoder_start_token_id, else pad_token_id, else 0). */
  readonly decoderStartId?: number;
  /** External data files the ONNX file(s) name, relative to their folder (e.g. model.onnx_data). */
  readonly externalData?: readonly string[];
  /** The tapped copy of onnxPath in the tap cache (and of the decoder), when a storage folder was given. */
  readonly tappedPath?: string;
  readonly tappedDecoderPath?: string;
  /** SHA-256 of onnxPath as the tap cache computed it (TappedFile.sha256), when a storage folder was given. */
  readonly sha256?: string;
  /** What config.json says about the attention; the first run's result confirms or contradicts it. */
  readonly expectedAttention?: AttentionShape;
  /** Per layer, the sliding window config.json declares (null: full attention), when it declares one. */
  readonly slidingWindows?: DeclaredWindows;
  /** T5's relative_attention_max_distance (ModelInfo.relativeMaxDistance). */
  readonly relativeMaxDistance?: number;
  /** Warnings for the user that do not stop the model from running (a graph that fixes no layer order). */
  readonly notices?: readonly string[];
}

/** Relative paths of the files every model folder must hold. */
export const MODEL_FILES = { config: 'config.json', tokenizer: 'tokenizer.json', onnx: path.join('onnx', 'model.onnx') } as const;

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

/** The unsupported-tokenizer message of checkTokenizerSupported. */
const unsupportedTokenizer = (why: string, file: string) => new ModelError(`This model's tokenizer (${why}) is not supported: ` +
  'Attention Lens supports byte-level BPE (GPT-2, Llama 3, Qwen), WordPiece (BERT) and SentencePiece-style Unigram/BPE ' +
  '(Llama 2, Gemma, T5, XLM-R). Pick another model with "Attention Lens: Select Model".', file);

/**
 * Loads the folder's tokenizer.json on the tokenizer thread (tokenizer-thread.ts): the file must resolve inside
 * `roots` and be under its size cap; not JSON, not supported or not loadable each get their ModelError.
 */
export async function loadThreadTokenizer(dir: string, remedy: string, roots: readonly string[], config: object,
  onProgress?: (message: string) => void): Promise<ThreadTokenizer> {
  const rel = MODEL_FILES.tokenizer;
  const label = `${rel} in the model folder ${dir}`;
  let real: string;
  try {
    const checked = await checkModelFile(path.join(dir, rel), roots, label);
    checkJsonSize(rel, label, checked.size);
    real = checked.real;
  } catch (e) {
    if (e instanceof ModelError) throw withRemedy(e, remedy);
    throw missing(dir, rel, remedy, e);
  }
  try {
    return await loadTokenizer(real, config, onProgress);
  } catch (e) {
    if (!(e instanceof TokenizerLoadError)) throw new ModelError(`${label} could not be read (${(e as Error).message}).${remedy}`, rel);
    if (e.kind === 'json') throw new ModelError(`${label} is not valid JSON (${e.message}).${remedy}`, rel);
    if (e.kind === 'unsupported') throw unsupportedTokenizer(e.message, rel);
    throw new ModelError(`tokenizer.json in ${dir} could not be loaded (${e.message}).${remedy}`, rel);
  }
}

/** A ModelError with the folder's remedy appended; other errors as they are. */
const withRemedy = (e: unknown, remedy: string): unknown => (e instanceof ModelError ? new ModelError(`${e.message}${remedy}`, e.file) : e);

/**
 * Reads a JSON file of the folder: it must resolve inside `roots` (model-files.ts) and be under its size cap;
 * a parse error is reported without quoting the file.
 */
async function readJson(dir: string, rel: string, remedy: string, roots: readonly string[], optional = false): Promise<unknown> {
  const label = `${rel} in the model folder ${dir}`;
  let text: string;
  try {
    const checked = await checkModelFile(path.join(dir, rel), roots, label);
    checkJsonSize(rel, label, checked.size);
    text = await fs.readFile(checked.real, 'utf8');
  } catch (e) {
    if (e instanceof ModelError) throw withRemedy(e, remedy);
    if (optional && (e as NodeJS.ErrnoException)?.code === 'ENOENT') return undefined;
    throw missing(dir, rel, remedy, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${label} is not valid JSON (${jsonErrorReason(e)}).${remedy}`, rel);
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

/** Loaded folders, keyed by the folder and the options that shape the result (name, storage folder, limits). */
const cache = new Map<string, { stamp: string; model: LoadedModel }>();

/** The ONNX files a folder uses: the encoder–decoder pair, else the first variant present, else onnx/model.onnx. */
export async function resolveOnnxFiles(dir: string): Promise<{ onnx: string; decoder?: string }> {
  const has = async (rel: string) => fs.access(path.join(dir, rel)).then(() => true, () => false);
  const enc = path.join('onnx', SEQ2SEQ_FILES.encoder);
  const dec = path.join('onnx', SEQ2SEQ_FILES.decoder);
  if (await has(enc) && await has(dec)) return { onnx: enc, decoder: dec };
  for (const f of SINGLE_MODEL_FILES) if (await has(path.join('onnx', f))) return { onnx: path.join('onnx', f) };
  return { onnx: MODEL_FILES.onnx };
}

/** Optional files of a folder, read when present. */
const TOKENIZER_CONFIG = 'tokenizer_config.json';

/** Where each file resolves, its size and its time: checks that every file resolves inside `roots` (model-files.ts). */
async function stampOf(dir: string, remedy: string, onnxFiles: readonly string[], roots: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const rel of [MODEL_FILES.config, MODEL_FILES.tokenizer, ...onnxFiles, TOKENIZER_CONFIG]) {
    try {
      const s = await checkModelFile(path.join(dir, rel), roots, `${rel} in the model folder ${dir}`);
      parts.push(`${s.real}:${s.size}:${s.mtimeMs}`);
    } catch (e) {
      if (e instanceof ModelError) throw withRemedy(e, remedy);
      if (rel === TOKENIZER_CONFIG && (e as NodeJS.ErrnoException)?.code === 'ENOENT') parts.push('-');
      else throw missing(dir, rel, remedy, e);
    }
  }
  return parts.join('|');
}

/** True when every tapped copy a loaded model points at is still on disk. */
async function tappedFilesExist(model: LoadedModel): Promise<boolean> {
  for (const f of [model.tappedPath, model.tappedDecoderPath]) if (f && !(await fs.access(f).then(() => true, () => false))) return false;
  return true;
}

/** True while a cached model's external data still resolves inside `roots` (its ONNX files are in the stamp). */
async function externalDataStillInside(model: LoadedModel, roots: readonly string[]): Promise<boolean> {
  const onnxDirs = [model.onnxPath, model.decoderOnnxPath].filter((p): p is string => !!p).map((p) => path.dirname(p));
  for (const f of model.externalData ?? []) {
    const ok = await Promise.any(onnxDirs.map((d) => checkModelFile(path.join(d, f), roots, f))).then(() => true, () => false);
    if (!ok) return false;
  }
  return true;
}

/** Loads and checks a model folder, reusing the cached result while its files are unchanged. */
export async function loadModelFolder(dir: string,
  options: { bundled: boolean; name?: string; storageDir?: string; limits?: SizeLimits; tapCache?: TapCacheOptions;
    /** Progress of loading a large tokenizer.json, for the user. */
    onProgress?: (message: string) => void; }): Promise<LoadedModel> {
  const remedy = modelRemedy(options.bundled);
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new ModelError(`The model path ${dir} is not a folder.${remedy}`);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`The model folder ${dir} does not exist.${remedy}`);
  }
  // Every file read below must resolve inside the folder (or the extension's storage): model-files.ts.
  const roots = await modelRoots(dir, options.storageDir);
  const files = await resolveOnnxFiles(dir);
  const stamp = await stampOf(dir, remedy, files.decoder ? [files.onnx, files.decoder] : [files.onnx], roots);
  const key = JSON.stringify([dir, options.bundled, options.name ?? null, options.storageDir ?? null, options.limits ?? null]);
  const hit = cache.get(key);
  // A tapped copy may have been evicted from the tap cache since (attentionLens.tapCacheMaxMB), or external data
  // swapped for a link out of the folder: then load (and check) again.
  if (hit && hit.stamp === stamp && await tappedFilesExist(hit.model) && await externalDataStillInside(hit.model, roots)) return hit.model;

  const configJson = await readJson(dir, MODEL_FILES.config, remedy, roots);
  const dims = parseModelConfig(configJson, MODEL_FILES.config, remedy);
  const tokenizerConfig = (await readJson(dir, TOKENIZER_CONFIG, remedy, roots, true)) ?? {};
  const tokenizer = await loadThreadTokenizer(dir, remedy, roots, tokenizerConfig, options.onProgress);
  const onnxPath = path.join(dir, files.onnx);
  const limits = options.limits ?? WASM_LIMITS;
  const main = await readOnnx(onnxPath, files.onnx, remedy, limits, roots, options.storageDir, options.tapCache);
  const decoder = files.decoder
    ? await readOnnx(path.join(dir, files.decoder), files.decoder, remedy, limits, roots, options.storageDir, options.tapCache) : undefined;
  const name = options.name ?? (options.bundled ? `${path.basename(dir)} (bundled)` : path.basename(dir));
  const tappedPath = main.tappedPath;
  const tappedDecoderPath = decoder?.tappedPath;
  const externalData = [...main.externalData, ...(decoder?.externalData ?? [])];
  const vocabSize = vocabSizeOf(configJson);
  const slidingWindows = declaredWindows(configJson);
  const relativeMaxDistance = relativeMaxDistanceOf(configJson);
  const notices = [...configNotices(configJson, `config.json in ${dir}`),
    ...vocabNotices(tokenizer.facts.maxId, vocabSize, `config.json in ${dir}`),
    layerOrderNotice(main.layerOrder, `${files.onnx} in ${dir}`),
    files.decoder ? layerOrderNotice(decoder?.layerOrder, `${files.decoder} in ${dir}`) : undefined].filter((n): n is string => !!n);
  const model: LoadedModel = {
    dir, name, bundled: options.bundled, dims, onnxPath, extraInputs: main.extraInputs, tokenizer, ...(vocabSize ? { vocabSize } : {}),
    decoderOnnxPath: decoder ? path.join(dir, files.decoder!) : undefined,
    decoderStartId: decoder ? startIdOf(configJson as Record<string, unknown>) : undefined,
    externalData: externalData.length ? externalData : undefined, tappedPath, tappedDecoderPath, sha256: main.sha256,
    expectedAttention: attentionShapeFromConfig(configJson as Record<string, unknown>),
    ...(slidingWindows ? { slidingWindows } : {}),
    ...(relativeMaxDistance ? { relativeMaxDistance } : {}),
    ...(notices.length ? { notices } : {}),
  };
  cache.set(key, { stamp, model });
  return model;
}

function startIdOf(config: Record<string, unknown>): number {
  for (const k of ['decoder_start_token_id', 'pad_token_id']) {
    const v = config[k];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  }
  return 0;
}

/**
 * Scans an ONNX file (proving it is ONNX): the inputs besides input_ids, its external data, its layer order and,
 * with a storage folder, its tapped copy in the tap cache; without one, checks that it can be tapped. It and its
 * external data must fit the backend, and the external data must resolve inside `roots` (checkModelFileSize /
 * checkExternalData, as Add Model does).
 */
async function readOnnx(onnxPath: string, rel: string, remedy: string, limits: SizeLimits, roots: readonly string[], storageDir?: string,
  tapCache?: TapCacheOptions):
  Promise<{ extraInputs: string[]; externalData: readonly string[]; tappedPath?: string; sha256?: string; layerOrder: TapPlan['layerOrder'] }> {
  const dir = path.dirname(path.dirname(onnxPath));
  let summary;
  let bytes: number;
  try {
    bytes = await checkModelFileSize(onnxPath, `${rel} in ${dir}`, limits); // only the size: nothing is read yet
    summary = await scanOnnxFile(onnxPath); // graph structure only: the weights are never read here
  } catch (e) {
    if (e instanceof ModelError) throw withRemedy(e, remedy);
    if (!(e instanceof TapError)) throw missing(dir, rel, remedy, e);
    throw new ModelError(`${rel} in ${dir} is corrupt or cannot be tapped: ${e.message}${remedy}`, rel);
  }
  try {
    await checkExternalData(onnxPath, `${rel} in ${dir}`, bytes, summary.externalDataFiles ?? [], limits, roots);
  } catch (e) {
    throw withRemedy(e, remedy);
  }
  try {
    const inputs = requiredInputs(summary).map((i) => i.name);
    if (!inputs.includes('input_ids')) {
      throw new ModelError(`${rel} has no graph input named "input_ids" (its inputs: ${inputs.join(', ') || 'none'}). ` +
        `Export the model with an input_ids input.${remedy}`, rel);
    }
    // The cache plans (and for a merged decoder rewrites) the tap itself; without it, only check it can be done.
    const tapped = storageDir ? await cachedTappedModel(storageDir, onnxPath, summary, tapCache) : undefined;
    const layerOrder = tapped ? tapped.layerOrder
      : (await planTapLazily(summary, () => fs.readFile(onnxPath))).plan.layerOrder; // a Buffer is a Uint8Array: no copy
    return { extraInputs: inputs.filter((n) => n !== 'input_ids'), externalData: summary.externalDataFiles ?? [],
      tappedPath: tapped?.path, sha256: tapped?.sha256, layerOrder };
  } catch (e) {
    if (e instanceof ModelError) throw e;
    if (storageDir && !(e instanceof TapError)) throw e; // the cache's own failures (disk full, no access) as they are
    // A graph the tap cannot use (no Softmax, fused attention) is not corrupt: say only that it cannot be tapped.
    if (e instanceof TapError && e.code !== 'not-onnx') throw new ModelError(`${rel} in ${dir} cannot be tapped: ${e.message}${remedy}`, rel);
    const why = e instanceof TapError ? e.message : `it could not be read as ONNX (${(e as Error).message}).`;
    throw new ModelError(`${rel} in ${dir} is corrupt or cannot be tapped: ${why}${remedy}`, rel);
  }
}
