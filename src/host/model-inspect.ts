/**
 * Inspecting a model folder before it is added ("Attention Lens: Add Model…"): which ONNX files it has
 * (onnx/model.onnx or a named variant, or encoder_model.onnx + decoder_model.onnx), whether the tap can
 * read attention out of them, which inputs will be fed, what config.json says about the architecture, and
 * whether the files fit the WebAssembly backend. Every refusal is a ModelError that names the cause and the
 * fix. Node only (no `vscode`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildFeeds, FeedError, planFeeds, type FillRule } from '../shared/feeds';
import { layerOrderNotice } from '../shared/layer-order';
import { requiredInputs, SUBGRAPH_TAP_PREFIX, TapError, type OnnxSummary, type TapPlan } from '../shared/onnx-tap';
import { planTapLazily } from '../shared/tap-subgraph';
import { fusedOpLabel } from '../shared/fused-plan';
import { scanOnnxFile } from './onnx-file';
import type { TokenizerKind } from '../shared/token-ranges';
import { configNotices, parseModelConfig, vocabNotices, vocabSizeOf, type ModelDims } from './model-folder';
import { loadTokenizer, TokenizerLoadError, type ThreadTokenizer } from './tokenizer-thread';
import {
  attentionShapeFromConfig, checkModelFileSize, ModelError, SEQ2SEQ_FILES, SINGLE_MODEL_FILES, WASM_LIMITS,
  type AttentionShape, type SizeLimits,
} from './model-layout';
import { checkExternalData, checkJsonSize, checkModelFile, jsonErrorReason, modelRoots } from './model-files';

/** One ONNX file of the model and what the tap found in it. */
export interface InspectedOnnx {
  readonly role: 'model' | 'encoder' | 'decoder';
  readonly path: string;
  readonly bytes: number;
  readonly externalData: readonly string[];
  readonly externalBytes: number;
  readonly inputs: readonly { name: string; rule: FillRule }[];
  readonly plan: TapPlan;
  readonly summary: OnnxSummary;
}

/** What "Add Model…" reports about a folder that passed every check. */
export interface ModelReport {
  readonly dir: string;
  readonly architecture: string;
  readonly dims: ModelDims;
  /** From config.json; confirmed (or contradicted) by the first run. */
  readonly attention: AttentionShape;
  readonly tokenizer: { kind: TokenizerKind; modelType: string };
  readonly files: readonly InspectedOnnx[];
  /** Warnings from config.json and tokenizer.json: no context length declared, ids beyond the embedding. */
  readonly notices?: readonly string[];
}

/** Text every tokenizer must map back to exactly before a folder is added. */
export const PROBE_TEXT = 'Hello, World! Ünïcödé café naïve ﬁne ① 123 + 4.5\tx\n  漢字 😀 end';

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Reads a JSON object file of the folder: inside `roots`, under its size cap, parse errors without quoting the file. */
async function readJsonFile(dir: string, rel: string, what: string, roots: readonly string[]): Promise<Record<string, unknown>> {
  let text: string;
  try {
    const checked = await checkModelFile(path.join(dir, rel), roots, `${rel} in ${dir}`);
    checkJsonSize(rel, `${rel} in ${dir}`, checked.size);
    text = await fs.readFile(checked.real, 'utf8');
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`The folder ${dir} has no ${rel}. ${what}`, rel);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${rel} in ${dir} is not a JSON object (${jsonErrorReason(e)}). Download it again from the model's page.`, rel);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ModelError(`${rel} in ${dir} is not a JSON object (it holds ${Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`}). ` +
      'Download it again from the model\'s page.', rel);
  }
  return v as Record<string, unknown>;
}

/** Which ONNX files to use: a single model (first of SINGLE_MODEL_FILES) or an encoder–decoder pair. */
export async function findOnnxFiles(dir: string): Promise<{ role: InspectedOnnx['role']; path: string }[]> {
  const onnxDir = path.join(dir, 'onnx');
  const enc = path.join(onnxDir, SEQ2SEQ_FILES.encoder);
  const dec = path.join(onnxDir, SEQ2SEQ_FILES.decoder);
  if (await exists(enc) && await exists(dec)) return [{ role: 'encoder', path: enc }, { role: 'decoder', path: dec }];
  for (const f of SINGLE_MODEL_FILES) {
    for (const p of [path.join(onnxDir, f), path.join(dir, f)]) if (await exists(p)) return [{ role: 'model', path: p }];
  }
  let listing: string[] = [];
  try {
    listing = (await fs.readdir(onnxDir)).filter((f) => f.endsWith('.onnx'));
  } catch {
    // no onnx/ folder
  }
  throw new ModelError(`The folder ${dir} has no ONNX model: Attention Lens looks for onnx/model.onnx (or model_fp16.onnx, ` +
    `model_quantized.onnx), or onnx/encoder_model.onnx with onnx/decoder_model.onnx for encoder–decoder models` +
    `${listing.length ? ` (onnx/ holds ${listing.join(', ')})` : ''}. Export the model with optimum ("optimum-cli export onnx") ` +
    'or download the repository\'s onnx/ folder.', 'onnx');
}

/**
 * Scans one ONNX file and checks the tap, the feeds and the size limits. The file and its external data must
 * resolve inside `roots` (model-files.ts; default: the folder that holds onnx/).
 */
export async function inspectOnnx(role: InspectedOnnx['role'], file: string, limits: SizeLimits = WASM_LIMITS,
  roots?: readonly string[]): Promise<InspectedOnnx> {
  const rel = path.relative(path.dirname(path.dirname(file)), file);
  const allowed = roots ?? await modelRoots(path.dirname(path.dirname(file)));
  await checkModelFile(file, allowed, rel);
  const bytes = await checkModelFileSize(file, rel, limits);
  let summary: OnnxSummary;
  let plan: TapPlan;
  try {
    summary = await scanOnnxFile(file); // graph structure only: the weights are never read here
    plan = (await planTapLazily(summary, () => fs.readFile(file))).plan; // a Buffer is a Uint8Array: no copy
  } catch (e) {
    if (e instanceof TapError) {
      const cause = e.code === 'not-onnx' ? `is not an ONNX model (${e.message}) Download or export it again.` : e.message;
      throw new ModelError(`${rel}: ${cause}`, rel);
    }
    throw e;
  }
  const externalBytes = await checkExternalData(file, rel, bytes, summary.externalDataFiles ?? [], limits, allowed);
  let inputs: { name: string; rule: FillRule }[];
  try {
    inputs = planFeeds(requiredInputs(summary));
  } catch (e) {
    if (e instanceof FeedError) throw new ModelError(`${rel}: ${e.message}`, rel);
    throw e;
  }
  try {
    // Shape every feed once, as the worker will (an empty past needs fixed head dims, for example).
    buildFeeds(requiredInputs(summary), [1, 2], { encoderHiddenStates: { data: new Float32Array(2), dims: [1, 2, 1] } });
  } catch (e) {
    if (e instanceof FeedError) throw new ModelError(`${rel}: ${e.message}`, rel);
    throw e;
  }
  if (!inputs.some((i) => i.rule === 'token-ids')) {
    throw new ModelError(`${rel} has no input_ids input (its inputs: ${inputs.map((i) => i.name).join(', ')}). ` +
      'Attention Lens runs text models that take token ids.', rel);
  }
  return { role, path: file, bytes, externalData: summary.externalDataFiles ?? [], externalBytes, inputs, plan, summary };
}

const UNSUPPORTED = 'Supported: byte-level BPE (GPT-2, Llama 3, Qwen), WordPiece (BERT) and SentencePiece-style Unigram/BPE ' +
  '(Llama 2, Gemma, T5, XLM-R).';

/**
 * Loads tokenizer.json on the tokenizer thread (tokenizer-thread.ts) and checks that a probe's tokens (case, accents,
 * digits, punctuation, CJK, an emoji) map back to it; throws ModelError saying why not.
 */
async function inspectTokenizer(dir: string, roots: readonly string[]): Promise<ThreadTokenizer> {
  let real: string;
  try {
    const checked = await checkModelFile(path.join(dir, 'tokenizer.json'), roots, `tokenizer.json in ${dir}`);
    checkJsonSize('tokenizer.json', `tokenizer.json in ${dir}`, checked.size);
    real = checked.real;
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`The folder ${dir} has no tokenizer.json. Attention Lens needs the fast-tokenizer file (tokenizer.json); models ` +
      'that ship only vocab.txt or sentencepiece.model can be converted with transformers\' AutoTokenizer.from_pretrained(...).save_pretrained(...).',
    'tokenizer.json');
  }
  let tok: ThreadTokenizer;
  try {
    tok = await loadTokenizer(real);
  } catch (e) {
    const kind = e instanceof TokenizerLoadError ? e.kind : 'other';
    const why = e instanceof Error ? e.message : String(e);
    if (kind === 'json') throw new ModelError(`tokenizer.json in ${dir} is not a JSON object (${why}). Download it again from the model's page.`, 'tokenizer.json');
    if (kind === 'unsupported') {
      throw new ModelError(`tokenizer.json describes a tokenizer Attention Lens cannot map to text ranges (${why}). ${UNSUPPORTED}`, 'tokenizer.json');
    }
    throw new ModelError(`tokenizer.json in ${dir} could not be loaded (${why}).`, 'tokenizer.json');
  }
  try {
    await tok.tokenize(PROBE_TEXT, 512);
  } catch (e) {
    throw new ModelError(`tokenizer.json loads, but its tokens cannot be mapped back to the text (${e instanceof Error ? e.message : String(e)}). ` +
      'Attention Lens needs exact token ranges to show attention on your text; this tokenizer is not supported.', 'tokenizer.json');
  }
  return tok;
}

/** Checks everything "Add Model…" checks; throws ModelError naming the cause and the fix. */
export async function inspectModelFolder(dir: string, limits: SizeLimits = WASM_LIMITS): Promise<ModelReport> {
  try {
    if (!(await fs.stat(dir)).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new ModelError(`${dir} is not a folder. Pick the folder that holds config.json, tokenizer.json and onnx/.`);
  }
  // Every file read below must resolve inside the folder: model-files.ts.
  const roots = await modelRoots(dir);
  const config = await readJsonFile(dir, 'config.json', 'Every Hugging Face model folder has one; download it from the model\'s page.', roots);
  const dims = parseModelConfig(config, 'config.json', ' Check that this is a transformer\'s config.json.');
  const tok = await inspectTokenizer(dir, roots);
  const tokenizer = { kind: tok.facts.kind, modelType: tok.facts.modelType };
  const notices = [...configNotices(config), ...vocabNotices(tok.facts.maxId, vocabSizeOf(config))];
  const files: InspectedOnnx[] = [];
  for (const f of await findOnnxFiles(dir)) files.push(await inspectOnnx(f.role, f.path, limits, roots));
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  const architecture = archs[0] ?? (typeof config.model_type === 'string' ? config.model_type : 'unknown');
  return { dir, architecture, dims, attention: attentionShapeFromConfig(config), tokenizer, files, ...(notices.length ? { notices } : {}) };
}

/** Warnings about a folder that passed every check: a file whose graph fixes no layer order (layer-order.ts). */
export function reportNotices(r: ModelReport): string[] {
  // Labelled as loading labels them (`onnx/model.onnx in <folder>`), so the notifier shows each warning once.
  const layers = r.files.map((f) => layerOrderNotice(f.plan.layerOrder, `${path.relative(r.dir, f.path)} in ${r.dir}`))
    .filter((n): n is string => !!n);
  return [...(r.notices ?? []), ...layers];
}

/** A few lines for the user: what was found and what will be fed. */
export function describeReport(r: ModelReport): string {
  const shape = r.attention === 'encoder-decoder' ? 'encoder–decoder (bidirectional encoder, causal decoder, cross-attention)'
    : r.attention;
  const files = r.files.map((f) => {
    const cross = f.plan.kinds?.filter((k) => k === 'cross').length ?? 0;
    const merged = f.plan.softmaxOutputs.some((n) => n.startsWith(SUBGRAPH_TAP_PREFIX)) ? ' inside an If (merged decoder)' : '';
    const fused = f.plan.fused && [...new Set(f.plan.fused.map((n) => fusedOpLabel(n.op)))].join(' + ');
    const softmax = fused ? `${f.plan.fused?.length} fused ${fused}, attention recomputed from their inputs`
      : `${f.plan.softmaxOutputs.length - cross} self${cross ? ` + ${cross} cross` : ''}-attention Softmax${merged}`;
    return `${path.basename(f.path)} (${f.role}; ${softmax}; feeds ${f.inputs.map((i) => i.name).join(', ')})`;
  });
  return `${r.architecture}: ${r.dims.layers} layers, ${r.dims.heads} heads, ${shape} attention (from config.json; ` +
    `checked on the first run), ${r.tokenizer.modelType} tokenizer. Files: ${files.join('; ')}.`;
}
