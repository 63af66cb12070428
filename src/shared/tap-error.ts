/** The tap's error type, in its own module so the tap's parts can share it without import cycles. Pure. */

/** Thrown for a file that cannot be read as ONNX or a graph the tap cannot handle. */
export class TapError extends Error {
  constructor(message: string,
    readonly code: 'not-onnx' | 'no-softmax' | 'fused-attention' | 'no-attention' | 'softmax-in-subgraph' | 'too-deep') {
    super(message);
    this.name = 'TapError';
  }
}
