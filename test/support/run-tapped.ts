/** Runs the tapped bundled model in onnxruntime-node or onnxruntime-web (WASM) in Node. Test-only. */
import { collectAttention, planTap, scanOnnx, tapAttention, type CollectedAttention, type FetchedTensor } from '../../src/shared/onnx-tap';

/** The subset of the onnxruntime API both packages share. */
export interface OrtLike {
  InferenceSession: { create(bytes: Uint8Array, opts?: object): Promise<any> };
  Tensor: new (type: string, data: any, dims: readonly number[]) => any;
}

/** A tapped session plus the names it fetches. */
export interface TappedSession {
  readonly session: any;
  readonly tapped: readonly string[];
}

/** Taps the model bytes and opens a session. */
export async function openTapped(ort: OrtLike, model: Uint8Array, opts: object = {}): Promise<TappedSession> {
  const plan = planTap(scanOnnx(model));
  const session = await ort.InferenceSession.create(tapAttention(model, plan), opts);
  return { session, tapped: plan.softmaxOutputs };
}

/** Runs ids through a tapped session; returns the collected attention and logits [T, V]. */
export async function runTapped(ort: OrtLike, s: TappedSession, ids: readonly number[]):
  Promise<{ attention: CollectedAttention; logits: Float32Array; vocab: number }> {
  const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) };
  const out = await s.session.run(feeds, ['logits', ...s.tapped]);
  const fetched: FetchedTensor[] = s.tapped.map((name) => ({
    name, dims: out[name].dims, data: out[name].data as Float32Array,
  }));
  const logits = out.logits;
  return { attention: collectAttention(fetched, ids.length), logits: logits.data as Float32Array, vocab: logits.dims[2] };
}
