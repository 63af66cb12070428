/**
 * The part of the WebGPU API that gpu-rows.ts uses, typed by hand: TypeScript's DOM and WebWorker libs have no WebGPU
 * types, and @webgpu/types is not a dependency. Names follow the spec; only the members used are declared.
 */

/** GPUBufferUsage flags (the spec's values). */
export const BufferUsage = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;

/** GPUMapMode.READ. */
export const MAP_READ = 0x0001;

/** A GPUBuffer. */
export interface GpuBuffer {
  readonly size: number;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

/** The limits gpu-rows.ts respects (GPUSupportedLimits). */
export interface GpuLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

/** A compute pass encoder. */
export interface GpuComputePass {
  setPipeline(p: GpuPipeline): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

/** A command encoder. */
export interface GpuEncoder {
  beginComputePass(): GpuComputePass;
  copyBufferToBuffer(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, size: number): void;
  finish(): unknown;
}

/** A compute pipeline. */
export interface GpuPipeline {
  getBindGroupLayout(index: number): unknown;
}

/** A GPUDevice. */
export interface GpuDevice {
  readonly limits: GpuLimits;
  readonly lost: Promise<{ readonly message: string }>;
  readonly queue: { writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferView): void; submit(cmds: unknown[]): void };
  createBuffer(d: { size: number; usage: number; mappedAtCreation?: boolean }): GpuBuffer;
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: { layout: 'auto'; compute: { module: unknown; entryPoint: string } }): GpuPipeline;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: { buffer: GpuBuffer } }[] }): unknown;
  createCommandEncoder(): GpuEncoder;
  pushErrorScope(filter: 'validation' | 'out-of-memory'): void;
  popErrorScope(): Promise<{ readonly message: string } | null>;
  destroy(): void;
}

/** A GPUAdapter. */
export interface GpuAdapter {
  readonly limits: GpuLimits;
  requestDevice(d?: { requiredLimits?: Record<string, number> }): Promise<GpuDevice>;
}

/** navigator.gpu, where there is one. */
export function navigatorGpu(): { requestAdapter(): Promise<GpuAdapter | null> } | undefined {
  return (navigator as unknown as { gpu?: { requestAdapter(): Promise<GpuAdapter | null> } }).gpu;
}
