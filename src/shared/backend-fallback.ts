/**
 * The one WebGPU → WASM fallback of Attention Lens. In the inference worker, a step (creating sessions, or
 * running) that fails on WebGPU is retried on WASM, and the reason is returned so the panel can say why.
 * A WebGPU step that hangs cannot be abandoned inside the worker (WebGPU and WASM share one onnxruntime
 * instance, which a pending run keeps busy), so the panel keeps a deadline (client.ts) and, past it, replaces
 * the worker, runs on WASM and says why (DeadlineError, deadlineReason). Pure (no onnxruntime, no DOM), unit-tested in Node.
 */

/** How long a WebGPU run may take before the panel gives up on it and uses WASM (the default of attentionLens.webgpuTimeout). */
export const WEBGPU_DEADLINE_MS = 60_000;

/** The backends a step can run on. */
export type Backend = 'webgpu' | 'wasm';

/** A WebGPU run passed its deadline (the panel's watchdog, client.ts). */
export class DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`did not finish within ${ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`}`);
    this.name = 'DeadlineError';
  }
}

/** The message of any thrown value (onnxruntime-web sometimes throws numbers or strings). */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  if (typeof e === 'number') return `onnxruntime error code ${e}`;
  return String(e);
}

/** What a step gave, the backend it ran on, and why it is not WebGPU when WebGPU was tried. */
export interface StepResult<T> {
  readonly value: T;
  readonly backend: Backend;
  readonly fallbackReason?: string;
}

/**
 * Runs `step` on `backend`. On WebGPU, a rejection runs it again on WASM, with the reason
 * "WebGPU failed to <doing> (<why>); ran on WASM". `onFallback` is told before the WASM attempt.
 */
export async function stepWithFallback<T>(backend: Backend, step: (b: Backend) => Promise<T>,
  opts: { doing: string; onFallback?: (reason: string) => void }): Promise<StepResult<T>> {
  if (backend !== 'webgpu') return { value: await step(backend), backend };
  try {
    return { value: await step('webgpu'), backend };
  } catch (e) {
    const reason = `WebGPU failed to ${opts.doing} (${messageOf(e)}); ran on WASM`;
    opts.onFallback?.(reason);
    return { value: await step('wasm'), backend: 'wasm', fallbackReason: reason };
  }
}

/** The fallback reason when the panel gave up on a WebGPU run past its deadline. */
export function deadlineReason(e: DeadlineError): string {
  return `WebGPU ${e.message}, so the panel restarted its inference worker and ran on WASM`;
}
