/**
 * NumPy's .npy format (version 1.0) for little-endian float32 arrays in C order: the magic string, the
 * version, a header length and a Python dict literal padded with spaces to a 64-byte boundary, then the raw
 * values. Enough for `numpy.load` to read what Attention Lens exports. Pure: no `vscode`.
 */

/** The header of a .npy v1.0 file holding float32 values of `shape`; the values follow it directly. */
export function npyHeader(shape: readonly number[]): Uint8Array {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new RangeError(`not a shape: ${JSON.stringify(shape)}`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  // magic (6) + version (2) + header length (2) + dict + padding + '\n', a multiple of 64 bytes in all.
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  const out = new Uint8Array(total);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let k = 0; k < text.length; k++) out[10 + k] = text.charCodeAt(k);
  return out;
}

/** Little-endian bytes of float32 values (a copy on big-endian hosts, the values' own bytes otherwise). */
export function float32LE(values: Float32Array): Uint8Array {
  const little = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;
  if (little) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, k) => view.setFloat32(k * 4, v, true));
  return out;
}
