/**
 * The Residual view's numbers (issue 13): for each layer, head h and token i, the norm of what the head writes into
 * the residual stream, ‖(P_h V_h)_i · W_O[h·d:(h+1)·d, :]‖, beside the norm of the residual stream it is added to,
 * ‖r_i‖. The heads' outputs are checked against the graph's own projection (their sum must give x·W_O back), so a
 * head layout this view misreads says so instead of showing wrong numbers. Pure: no `vscode`, no DOM.
 */
import { isResidualSource, type ResidualPlan } from './residual-tap';

/** A fetched tensor: dims and Float32 data. */
export interface FetchedFloat {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** One layer's numbers: ‖head output‖ [heads, T] and ‖residual‖ [T]. */
export interface LayerResidual {
  readonly heads: number;
  readonly dHead: number;
  readonly headNorms: Float32Array;
  readonly residualNorms: Float32Array;
  /** max |Σ_h head outputs − the graph's x·W_O|, over the checked tokens and every column. */
  readonly maxError: number;
}

/** The panel's request for run `runId`'s residual numbers (answered by a ResidualAnswer with the same id). */
export interface ResidualRequest {
  readonly type: 'residual';
  readonly id: number;
  readonly runId: number;
}

/** The worker's answer: [layers, heads, T] head norms and [layers, T] residual norms (NaN where a layer has a reason), or an error. */
export interface ResidualAnswer {
  readonly type: 'residual';
  readonly id: number;
  readonly runId: number;
  readonly layers?: number;
  readonly heads?: number;
  readonly tokens?: number;
  readonly headNorms?: ArrayBuffer;
  readonly residualNorms?: ArrayBuffer;
  /** Per layer: null where it was decomposed, else why not (a sentence). */
  readonly reasons?: readonly (string | null)[];
  readonly error?: string;
}

/**
 * Head h's output at token i through its rows of W_O: pv[h, i, :] (pv laid out [heads, T, d]) times
 * w[h·d:(h+1)·d, :] (w laid out [heads·d, D]). Written into `out` (length D), which is returned.
 */
export function headOutput(pv: Float32Array, T: number, d: number, w: Float32Array, D: number, h: number, i: number,
  out: Float32Array = new Float32Array(D)): Float32Array {
  out.fill(0);
  const base = (h * T + i) * d;
  for (let k = 0; k < d; k++) {
    const x = pv[base + k];
    if (x === 0) continue;
    const row = (h * d + k) * D;
    for (let c = 0; c < D; c++) out[c] += x * w[row + c];
  }
  return out;
}

/** Euclidean norm of `v[from, from + n)`. */
function norm(v: ArrayLike<number>, from = 0, n = v.length): number {
  let s = 0;
  for (let k = from; k < from + n; k++) s += v[k] * v[k];
  return Math.sqrt(s);
}

/** G = W_h W_hᵀ for the d rows of w ([rows, D]) from `first`, into `G` (d × d, row-major). */
function gram(w: Float32Array, first: number, d: number, D: number, G: Float64Array): void {
  for (let a = 0; a < d; a++) {
    const ra = (first + a) * D;
    for (let b = a; b < d; b++) {
      const rb = (first + b) * D;
      let s = 0;
      for (let c = 0; c < D; c++) s += w[ra + c] * w[rb + c];
      G[a * d + b] = s;
      G[b * d + a] = s;
    }
  }
}

/** Up to `n` token indices spread over [0, T), the first and the last among them. */
function sampleTokens(T: number, n: number): number[] {
  if (T <= n) return Array.from({ length: T }, (_, i) => i);
  return [...new Set(Array.from({ length: n }, (_, k) => Math.round((k * (T - 1)) / (n - 1))))];
}

const size = (t: FetchedFloat): number => t.dims.reduce((a, b) => a * b, 1);

/**
 * One layer's numbers from its fetched P·V, W_O, projection x·W_O and residual stream, for T tokens; or why they cannot
 * be read (shapes that do not fit, or heads whose outputs do not add up to the projection: a layout this view misreads).
 */
export function layerResidual(pv: FetchedFloat, w: FetchedFloat, projection: FetchedFloat, residual: FetchedFloat, T: number): LayerResidual | string {
  const d = pv.dims[pv.dims.length - 1];
  const H = size(pv) / (T * d);
  if (pv.dims[pv.dims.length - 2] !== T || !Number.isInteger(H)) return `the heads’ outputs have shape [${pv.dims.join(', ')}], not [heads, ${T}, d]`;
  if (w.dims.length !== 2 || w.dims[0] !== H * d) return `W_O has shape [${w.dims.join(', ')}], not [${H * d}, d_model]`;
  const D = w.dims[1];
  if (size(projection) !== T * D) return `the output projection has shape [${projection.dims.join(', ')}], not [${T}, ${D}]`;
  if (size(residual) !== T * D) return `the residual stream has shape [${residual.dims.join(', ')}], not [${T}, ${D}]`;
  const headNorms = new Float32Array(H * T);
  const residualNorms = new Float32Array(T);
  for (let i = 0; i < T; i++) residualNorms[i] = norm(residual.data, i * D, D);
  // ‖x_h W_h‖² = x_h G_h x_hᵀ with G_h = W_h W_hᵀ (d × d): H·d²·D + T·H·d² operations instead of T·H·d·D.
  const G = new Float64Array(d * d);
  for (let h = 0; h < H; h++) {
    gram(w.data, h * d, d, D, G);
    for (let i = 0; i < T; i++) {
      const x = (h * T + i) * d;
      let s = 0;
      for (let k = 0; k < d; k++) {
        const xk = pv.data[x + k];
        if (xk === 0) continue;
        let row = 0;
        for (let k2 = 0; k2 < d; k2++) row += G[k * d + k2] * pv.data[x + k2];
        s += xk * row;
      }
      headNorms[h * T + i] = Math.sqrt(Math.max(0, s));
    }
  }
  // The layout check: on a few tokens (a misread layout is wrong on every token), Σ_h x_h W_h must give x·W_O back.
  const out = new Float32Array(D);
  const sum = new Float64Array(D);
  let maxError = 0;
  let scale = 0;
  for (const i of sampleTokens(T, 8)) {
    sum.fill(0);
    for (let h = 0; h < H; h++) {
      headOutput(pv.data, T, d, w.data, D, h, i, out);
      for (let c = 0; c < D; c++) sum[c] += out[c];
    }
    for (let c = 0; c < D; c++) {
      const p = projection.data[i * D + c];
      maxError = Math.max(maxError, Math.abs(sum[c] - p));
      scale = Math.max(scale, Math.abs(p));
    }
  }
  // Heads read in the wrong order or layout give errors of the order of the values; fp16 graphs stay near 1e-3.
  if (!(maxError <= 1e-2 * Math.max(1, scale))) {
    return `the heads’ outputs through W_O do not add up to the graph’s projection (off by ${maxError.toPrecision(2)}): the heads are not laid out as this view reads them`;
  }
  return { heads: H, dHead: d, headNorms, residualNorms, maxError };
}

/** One planned layer's numbers from the fetched tensors (`get` looks them up by name), or why there are none. */
export function planResidual(p: ResidualPlan, get: (name: string) => FetchedFloat | undefined, T: number): LayerResidual | string {
  if (!isResidualSource(p)) return p.missing;
  const [pv, w, proj, res] = [p.pv, p.weight, p.projection, p.residual].map(get);
  if (!pv || !w || !proj || !res) return 'the run did not return the tensors this layer needs';
  return layerResidual(pv, w, proj, res, T);
}

/** The answer from each layer's numbers or reason: [layers, heads, T] and [layers, T], NaN where a layer has a reason. */
export function assembleResidual(req: ResidualRequest, layers: readonly (LayerResidual | string)[], T: number, heads: number): ResidualAnswer {
  const L = layers.length;
  const headNorms = new Float32Array(L * heads * T).fill(NaN);
  const residualNorms = new Float32Array(L * T).fill(NaN);
  const reasons = layers.map((r, l): string | null => {
    if (typeof r === 'string') return r;
    if (r.heads !== heads) return `this layer has ${r.heads} heads’ outputs, not ${heads}`;
    headNorms.set(r.headNorms, l * heads * T);
    residualNorms.set(r.residualNorms, l * T);
    return null;
  });
  return {
    type: 'residual', id: req.id, runId: req.runId, layers: L, heads, tokens: T,
    headNorms: headNorms.buffer, residualNorms: residualNorms.buffer, reasons,
  };
}

/** The answer for every planned layer at once (`heads`: the run's head count). */
export function residualAnswer(req: ResidualRequest, plans: readonly ResidualPlan[], get: (name: string) => FetchedFloat | undefined,
  T: number, heads: number): ResidualAnswer {
  return assembleResidual(req, plans.map((p) => planResidual(p, get, T)), T, heads);
}

/** The numbers of a ResidualAnswer as Float32 views, with their shape. */
export interface ResidualNumbers {
  readonly layers: number;
  readonly heads: number;
  readonly tokens: number;
  /** ‖head output‖, [layers, heads, T]. */
  readonly headNorms: Float32Array;
  /** ‖residual‖, [layers, T]. */
  readonly residualNorms: Float32Array;
  readonly reasons: readonly (string | null)[];
}

/** The numbers of an answer that has them (undefined for an error). */
export function residualNumbers(a: ResidualAnswer): ResidualNumbers | undefined {
  if (a.error || !a.headNorms || !a.residualNorms || !a.reasons || !a.layers || !a.heads || !a.tokens) return undefined;
  return { layers: a.layers, heads: a.heads, tokens: a.tokens, headNorms: new Float32Array(a.headNorms),
    residualNorms: new Float32Array(a.residualNorms), reasons: a.reasons };
}

/**
 * ‖head output‖ / ‖residual‖ per layer and head, [layers, heads]: at token `token`, or averaged over the tokens
 * ('mean', the mean of the per-token ratios). NaN for layers with a reason.
 */
export function residualRatios(n: ResidualNumbers, token: number | 'mean'): Float32Array {
  const { layers: L, heads: H, tokens: T } = n;
  const out = new Float32Array(L * H);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const ratio = (i: number): number => n.headNorms[(l * H + h) * T + i] / n.residualNorms[l * T + i];
      if (token !== 'mean') out[l * H + h] = ratio(token);
      else {
        let s = 0;
        for (let i = 0; i < T; i++) s += ratio(i);
        out[l * H + h] = s / T;
      }
    }
  }
  return out;
}
