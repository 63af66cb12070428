/** Fetching a model's files in the panel (webview resource URIs the host sent), to hand them to the worker. */
import type { ModelInfo } from '../../src/shared/protocol';

/** A model's bytes and its external weight files, as fetched. */
export interface ModelFiles {
  model: ArrayBuffer;
  externalData?: { path: string; data: ArrayBuffer }[];
  /** Encoder–decoder models: the decoder's bytes (ModelInfo.decoderOnnxUri). */
  decoder?: ArrayBuffer;
}

async function fetchBytes(uri: string, what: string): Promise<ArrayBuffer> {
  const r = await fetch(uri);
  if (!r.ok) throw new Error(`Could not fetch ${what} (${r.status} ${r.statusText}): ${uri}`);
  return r.arrayBuffer();
}

/** Fetches a model's ONNX file, its decoder's and its external weight files, side by side. */
export async function fetchModel(info: ModelInfo): Promise<ModelFiles> {
  const [model, decoder, ...external] = await Promise.all([
    fetchBytes(info.onnxUri, 'the model'),
    info.decoderOnnxUri ? fetchBytes(info.decoderOnnxUri, 'the decoder') : Promise.resolve(undefined),
    ...(info.externalData ?? []).map((e) => fetchBytes(e.uri, `the model's weights ${e.path}`)),
  ]);
  const externalData = info.externalData?.map((e, k) => ({ path: e.path, data: external[k] }));
  return { model, decoder, externalData: externalData?.length ? externalData : undefined };
}
