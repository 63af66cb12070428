/**
 * Reading one small float32 initializer's values out of ONNX model bytes (a position bias table such as T5's
 * relative_attention_bias, [buckets, heads]) without parsing anything else. Pure: no `vscode`, no DOM.
 */
import { Reader } from './onnx-tap';

/** A float32 initializer's shape and values. */
export interface FloatInitializer { readonly dims: readonly number[]; readonly data: Float32Array }

/** FLOAT in TensorProto.DataType. */
const FLOAT = 1;

/** Decodes one TensorProto when it is the float32 tensor `name` held in the file (raw_data or float_data). */
function readTensor(buf: Uint8Array, name: string): FloatInitializer | 'other' | 'unreadable' {
  const r = new Reader(buf);
  const dims: number[] = [];
  let found = '';
  let type = 0;
  let raw: Uint8Array | undefined;
  const floats: number[] = [];
  let external = false;
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 8 && w === 2) found = new TextDecoder().decode(r.bytes());
    else if (f === 1 && w === 0) dims.push(r.varint());
    else if (f === 1 && w === 2) {
      const p = new Reader(r.bytes());
      while (!p.done()) dims.push(p.varint());
    } else if (f === 2 && w === 0) type = r.varint();
    else if (f === 9 && w === 2) raw = r.bytes();
    else if (f === 4 && w === 5) floats.push(r.float32());
    else if (f === 4 && w === 2) {
      const p = new Reader(r.bytes());
      while (!p.done()) floats.push(p.float32());
    } else if (f === 13 || f === 14) {
      external = true;
      r.skip(w);
    } else r.skip(w);
  }
  if (found !== name) return 'other';
  if (type !== FLOAT || external) return 'unreadable';
  const count = dims.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (raw) {
    if (raw.length !== count * 4) return 'unreadable';
    data = new Float32Array(count);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let k = 0; k < count; k++) data[k] = view.getFloat32(4 * k, true);
  } else {
    if (floats.length !== count) return 'unreadable';
    data = Float32Array.from(floats);
  }
  return { dims, data };
}

/**
 * The float32 initializer `name` of the model's main graph, or undefined when there is none by that name or it is not
 * float32 held in the file (external data, another type).
 */
export function readFloatInitializer(model: Uint8Array, name: string): FloatInitializer | undefined {
  const r = new Reader(model);
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f !== 7 || w !== 2) {
      r.skip(w);
      continue;
    }
    const g = new Reader(r.bytes());
    while (!g.done()) {
      const [gf, gw] = g.tag();
      if (gf !== 5 || gw !== 2) {
        g.skip(gw);
        continue;
      }
      const t = readTensor(g.bytes(), name);
      if (t === 'unreadable') return undefined;
      if (t !== 'other') return t;
    }
  }
  return undefined;
}
