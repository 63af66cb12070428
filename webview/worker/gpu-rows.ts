/**
 * Attention rows recomputed from a layer's tapped Q and Kᵀ on WebGPU (issue 16): the same α = softmax(s·q_i·Kᵀ + mask)
 * as qk-attention.ts `qkRow`, one workgroup per row, in Float32. A layer's Q and Kᵀ are uploaded once (GpuLayer) and
 * released with the run; a layer that does not fit the device's limits is refused with a reason, and its rows stay
 * with the JavaScript path. Browser only (navigator.gpu, in the worker or a page).
 */
import type { LayerQK } from '../../src/shared/qk-attention';
import { BufferUsage, MAP_READ, navigatorGpu, type GpuBuffer, type GpuDevice, type GpuLimits, type GpuPipeline } from './webgpu-types';

/** Threads per row: each takes every WORKGROUP-th key, then the row's max and sum are reduced across them. */
const WORKGROUP = 64;

/** One invocation group per row r of the block; rows start + r of head (qOff, kOff). Masked keys get exactly 0. */
const SHADER = /* wgsl */ `
struct Params { tokens: u32, d: u32, qOff: u32, kOff: u32, start: u32, causal: u32, window: u32, scale: f32, biased: u32, biasOff: u32 }
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kT: array<f32>;
@group(0) @binding(2) var<storage, read_write> outRows: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
// A per-head, per-key bias added to the scaled scores (ALiBi: [heads, T]); one unused value when the layer has none.
@group(0) @binding(4) var<storage, read> bias: array<f32>;
const WG: u32 = ${WORKGROUP}u;
var<workgroup> red: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let r = wg.x;
  let i = p.start + r;
  let t = p.tokens;
  var hi = t;
  if (p.causal != 0u) { hi = i + 1u; }
  var lo = 0u;
  // A sliding window keeps the keys i - window < j <= i (0: no window).
  if (p.window != 0u && i + 1u > p.window) { lo = i + 1u - p.window; }
  let qBase = p.qOff + i * p.d;
  let base = r * t;
  var m = -3.0e38;
  for (var j = lid; j < t; j += WG) {
    if (j >= lo && j < hi) {
      var s = 0.0;
      for (var c = 0u; c < p.d; c++) { s += q[qBase + c] * kT[p.kOff + c * t + j]; }
      s = s * p.scale;
      if (p.biased != 0u) { s += bias[p.biasOff + j]; }
      outRows[base + j] = s;
      m = max(m, s);
    } else {
      outRows[base + j] = 0.0;
    }
  }
  red[lid] = m;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { red[lid] = max(red[lid], red[lid + w]); }
    workgroupBarrier();
  }
  let rowMax = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = lid; j < t; j += WG) {
    if (j >= lo && j < hi) {
      let e = exp(outRows[base + j] - rowMax);
      outRows[base + j] = e;
      sum += e;
    }
  }
  red[lid] = sum;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { red[lid] = red[lid] + red[lid + w]; }
    workgroupBarrier();
  }
  let total = red[0];
  for (var j = lid; j < t; j += WG) {
    if (j >= lo && j < hi) { outRows[base + j] = outRows[base + j] / total; }
  }
}`;

/** A layer's Q and Kᵀ on the device, for `GpuRows.rows`; `release()` frees them. */
export interface GpuLayer {
  readonly qk: LayerQK;
  release(): void;
}

/** What a device may hold in one storage binding (and one buffer), in bytes; tests pass less to exercise the fallback. */
export function bindingLimit(limits: GpuLimits): number {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

/** A WebGPU device with the row pipeline compiled: uploads layers and computes blocks of rows. */
export class GpuRows {
  private readonly pipeline: GpuPipeline;
  private lostReason: string | undefined;
  /** Layers uploaded and not yet released, to release them all when the device goes. */
  private readonly live = new Set<GpuLayerImpl>();

  /** `maxBytes`: the most one buffer may hold (the device's limits, or less). */
  constructor(readonly device: GpuDevice, readonly maxBytes = bindingLimit(device.limits)) {
    this.pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' } });
    void device.lost.then((info) => { this.lostReason = `the WebGPU device was lost (${info.message || 'no reason given'})`; });
  }

  /** Why this device can no longer compute (lost); undefined while it can. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /**
   * Uploads a layer's Q and Kᵀ, or says why not: a buffer over the device's limits, a score form this kernel does not
   * implement, a lost device, or the device refusing the allocation.
   */
  async upload(qk: LayerQK): Promise<GpuLayer | string> {
    if (this.lostReason) return this.lostReason;
    // A sliding window (ScoreForm.window) goes to the shader's `window` uniform; cross-attention (keys ≠ queries) stays in JS.
    if (qk.keys !== undefined) return 'it is cross-attention (queries over another sequence\'s keys), which the WebGPU rows do not take';
    // A per-key bias (ALiBi, [heads, T]) goes to the shader's `bias` binding; T5's relative bias (T² per head) stays in JS.
    if (qk.relative) return 'it adds a relative position bias (T5) to its scores, which the WebGPU rows do not apply';
    const biggest = Math.max(qk.q.byteLength, qk.kT.byteLength);
    if (biggest > this.maxBytes) return `its Q or Kᵀ (${(biggest / 2 ** 20).toFixed(1)} MiB) is over the device's ${(this.maxBytes / 2 ** 20).toFixed(1)} MiB per buffer`;
    if (4 * qk.tokens > this.maxBytes) return 'one row is over the device\'s buffer limit';
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const q = this.storage(qk.q);
    const kT = this.storage(qk.kT);
    const bias = this.storage(qk.bias ?? new Float32Array(1));
    const errors = [await this.device.popErrorScope(), await this.device.popErrorScope()].filter((e) => e);
    if (errors.length) {
      for (const b of [q, kT, bias]) b.destroy();
      return `the device refused the upload (${errors[0]!.message})`;
    }
    const layer = new GpuLayerImpl(qk, q, kT, bias, () => this.live.delete(layer));
    this.live.add(layer);
    return layer;
  }

  /**
   * Rows [start, end) of head h of an uploaded layer: Float32 [end − start, T], each row's weights summing to 1 and its
   * masked keys exactly 0. Blocks larger than a buffer may hold run as several dispatches. Rejects once the device is
   * lost or the layer released.
   */
  async rows(layer: GpuLayer, h: number, start: number, end: number): Promise<Float32Array> {
    const impl = layer as GpuLayerImpl;
    const x = impl.qk;
    const t = x.tokens;
    if (!Number.isInteger(h) || h < 0 || h >= x.heads) throw new RangeError(`There is no head ${h} of ${x.heads}.`);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > t || start >= end) throw new RangeError(`Rows [${start}, ${end}) are not within 0…${t}.`);
    if (this.lostReason) throw new Error(this.lostReason);
    if (impl.released) throw new Error('This layer\'s Q and Kᵀ were released.');
    const out = new Float32Array((end - start) * t);
    const perDispatch = Math.max(1, Math.min(this.device.limits.maxComputeWorkgroupsPerDimension, Math.floor(this.maxBytes / (4 * t))));
    // One dispatch at a time: each holds its block twice on the device (result and readback).
    for (let s = start; s < end; s += perDispatch) out.set(await this.block(impl, h, s, Math.min(end, s + perDispatch)), (s - start) * t);
    return out;
  }

  /** Frees every layer still uploaded and the device. */
  destroy(): void {
    for (const l of [...this.live]) l.release();
    this.device.destroy();
  }

  /** One dispatch: rows [s, e) of head h into a fresh buffer, read back. */
  private async block(x: GpuLayerImpl, h: number, s: number, e: number): Promise<Float32Array> {
    const { device } = this;
    const t = x.qk.tokens;
    const d = x.qk.d;
    const kh = Math.floor(h / (x.qk.heads / x.qk.kvHeads));
    const params = new ArrayBuffer(48); // 10 fields, padded to the uniform's 16-byte size rule
    new Uint32Array(params, 0, 7).set([t, d, h * t * d, kh * d * t, s, x.qk.form.causal ? 1 : 0, x.qk.form.window ?? 0]);
    new Float32Array(params, 28, 1)[0] = x.qk.form.scale;
    new Uint32Array(params, 32, 2).set([x.qk.bias ? 1 : 0, h * t]);
    const uniform = device.createBuffer({ size: 48, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    device.queue.writeBuffer(uniform, 0, new Uint8Array(params));
    const bytes = (e - s) * t * 4;
    const result = device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      const group = device.createBindGroup({
        layout: this.pipeline.getBindGroupLayout(0),
        entries: [x.q, x.kT, result, uniform, x.bias].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(this.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(e - s);
      pass.end();
      enc.copyBufferToBuffer(result, 0, readback, 0, bytes);
      device.queue.submit([enc.finish()]);
      await readback.mapAsync(MAP_READ);
      const rows = new Float32Array(readback.getMappedRange().slice(0));
      readback.unmap();
      return rows;
    } finally {
      uniform.destroy();
      result.destroy();
      readback.destroy();
    }
  }

  /** A storage buffer holding `data`. */
  private storage(data: Float32Array): GpuBuffer {
    const b = this.device.createBuffer({ size: Math.max(4, data.byteLength), usage: BufferUsage.STORAGE | BufferUsage.COPY_DST, mappedAtCreation: true });
    new Float32Array(b.getMappedRange()).set(data);
    b.unmap();
    return b;
  }
}

/** An uploaded layer. */
class GpuLayerImpl implements GpuLayer {
  released = false;
  constructor(readonly qk: LayerQK, readonly q: GpuBuffer, readonly kT: GpuBuffer, readonly bias: GpuBuffer, private readonly onRelease: () => void) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.q.destroy();
    this.kT.destroy();
    this.bias.destroy();
    this.onRelease();
  }
}

let shared: Promise<GpuRows | undefined> | undefined;

/**
 * This worker's (or page's) GpuRows, created on first use: undefined where navigator.gpu gives no adapter or device.
 * The device asks for the adapter's largest storage binding and buffer, so larger layers fit.
 */
export function gpuRows(): Promise<GpuRows | undefined> {
  shared ??= (async () => {
    try {
      const adapter = await navigatorGpu()?.requestAdapter();
      if (!adapter) return undefined;
      const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
      const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
      const rows = new GpuRows(device);
      // A lost device is not reused: the next caller asks for a new one.
      void device.lost.then(() => { shared = undefined; });
      return rows;
    } catch {
      return undefined;
    }
  })();
  return shared;
}
