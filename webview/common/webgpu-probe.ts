/** Whether this page or worker gets a WebGPU adapter: the panel probes it to pick its onnxruntime build, the worker before it uses one. */

let adapterProbe: Promise<boolean> | undefined;

/** True when navigator.gpu exists and requestAdapter() returns an adapter (probed once per page or worker). */
export function webgpuAvailable(): Promise<boolean> {
  adapterProbe ??= (async () => {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return false;
    try {
      return (await gpu.requestAdapter()) !== null;
    } catch {
      return false;
    }
  })();
  return adapterProbe;
}
