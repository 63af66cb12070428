/**
 * The settings a run sends to the panel, read from attentionLens.* as the panel takes them: the backend and its
 * WebAssembly threads, how long a WebGPU run may take, and whether attention is recomputed from Q and K.
 */
import type * as vscode from 'vscode';
import type { BackendSetting, RecomputeSetting } from '../shared/protocol';
import { WEBGPU_DEADLINE_MS } from '../shared/backend-fallback';

/** attentionLens.backend and attentionLens.wasmThreads as the panel takes them (threads only when set above 0). */
export function backendSettings(config: vscode.WorkspaceConfiguration): { backend: BackendSetting; wasmThreads?: number } {
  const b = config.get<string>('backend');
  const threads = config.get<number>('wasmThreads');
  return { backend: b === 'webgpu' || b === 'wasm' ? b : 'auto', ...(typeof threads === 'number' && threads > 0 ? { wasmThreads: threads } : {}) };
}

/** Every run setting the `show` message carries. */
export function runSettings(config: vscode.WorkspaceConfiguration):
  { backend: BackendSetting; wasmThreads?: number; webgpuDeadlineMs: number; recompute: RecomputeSetting } {
  const webgpuTimeout = config.get<number>('webgpuTimeout');
  const recompute = config.get<string>('recomputeAttention');
  return {
    ...backendSettings(config),
    webgpuDeadlineMs: typeof webgpuTimeout === 'number' && webgpuTimeout > 0 ? webgpuTimeout * 1000 : WEBGPU_DEADLINE_MS,
    recompute: recompute === 'always' || recompute === 'never' ? recompute : 'auto',
  };
}
