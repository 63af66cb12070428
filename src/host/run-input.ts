/**
 * What one Show Attention run sends to the panel, apart from the settings (run-settings.ts): the picked text
 * tokenized under the hard caps, with the notices about what was cut and the lines it covers, and the model's
 * description with webview URIs for its files.
 */
import path from 'node:path';
import type * as vscode from 'vscode';
import type { ModelInfo } from '../shared/protocol';
import type { ProbeScores } from '../shared/probe-scores';
import { clipSelection, runTokenLimit, selectionCapNotice, tokenCapNotice, truncationNotice } from './input';
import type { LoadedModel } from './model-folder';
import { errorText } from './notify';
import { checkIdsInVocab, type TokenizedText } from './tokenize';

/** The tokens of a run, what was cut (as notices, the last one also as `truncation`), and the lines they cover. */
export interface RunInput {
  readonly tokenized: TokenizedText;
  readonly notices: readonly string[];
  readonly truncation?: string;
  readonly tokenizeMs: number;
  readonly firstLine: number;
  readonly lastLine: number;
  readonly maxTokens: number;
}

/**
 * Tokenizes `fullText` (which starts at offset `start` of `document`) with the model's tokenizer, under the token cap
 * that does not trust config.json's context and the character cap (input.ts); an error message when it cannot.
 */
export async function tokenizeForRun(model: LoadedModel, config: vscode.WorkspaceConfiguration, document: vscode.TextDocument, start: number,
  fullText: string): Promise<RunInput | { error: string }> {
  const t0 = performance.now();
  const { maxTokens, byCap } = runTokenLimit(config.get('maxTokens'), model.dims.context);
  const selection = clipSelection(fullText);
  let tokenized;
  try {
    tokenized = await model.tokenizer.tokenize(selection.text, maxTokens);
    checkIdsInVocab(tokenized.tokens, model.vocabSize);
  } catch (e) {
    return { error: `Attention Lens could not tokenize the text with "${model.name}": ${errorText(e)}` };
  }
  const tokenizeMs = performance.now() - t0;
  const firstLine = document.positionAt(start).line + 1;
  const lastLine = document.positionAt(start + Math.max(0, tokenized.text.length - 1)).line + 1;
  let truncation: string | undefined;
  if (tokenized.truncated) {
    truncation = truncationNotice({ keptTokens: tokenized.tokens.length, keptChars: tokenized.text.length,
      totalChars: fullText.length, firstLine, lastLine }) + (byCap ? ` ${tokenCapNotice()}` : '');
  } else if (selection.clipped) truncation = selectionCapNotice(tokenized.text.length, fullText.length);
  return { tokenized, notices: truncation ? [truncation] : [], truncation, tokenizeMs, firstLine, lastLine, maxTokens };
}

/** The model as the `show` message describes it; `uri` turns a file path into its webview URI. */
export function modelInfo(model: LoadedModel, maxTokens: number, uri: (file: string) => string, probe: ProbeScores | undefined): ModelInfo {
  return {
    name: model.name,
    onnxUri: uri(model.tappedPath ?? model.onnxPath),
    maxTokens,
    context: model.dims.context,
    ...(probe ? { probe } : {}),
    extraInputs: model.extraInputs,
    tapped: model.tappedPath !== undefined,
    externalData: model.externalData?.map((f) => ({ path: f, uri: uri(path.join(path.dirname(model.onnxPath), f)) })),
    decoderOnnxUri: model.decoderOnnxPath ? uri(model.tappedDecoderPath ?? model.decoderOnnxPath) : undefined,
    expectedAttention: model.expectedAttention,
    ...(model.slidingWindows ? { slidingWindows: model.slidingWindows } : {}),
    ...(model.relativeMaxDistance ? { relativeMaxDistance: model.relativeMaxDistance } : {}),
    tokenizerUri: uri(path.join(model.dir, 'tokenizer.json')),
  };
}
