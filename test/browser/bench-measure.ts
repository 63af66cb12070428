/** Measuring helpers the benches share: renderer memory from /proc, quantiles and time formatting. Node only. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/model';
import type { Page } from 'playwright-core';

/** The parent of each process, from /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const m = /PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) out.set(Number(pid), Number(m[1]));
    } catch { /* the process ended */ }
  }
  return out;
}

/**
 * Total resident memory now of the Chromium renderer processes this bench started (descendants of this process:
 * pages and their workers, onnxruntime's WebAssembly heap included), in bytes, from /proc. Other browsers on the
 * machine are not counted.
 */
export function rendererRss(): number {
  const parent = parents();
  const ours = (pid: number): boolean => {
    for (let p = parent.get(pid), n = 0; p !== undefined && n < 64; p = parent.get(p), n++) if (p === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const pid of parent.keys()) {
    try {
      if (!ours(pid) || !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch { /* the process ended */ }
  }
  return total;
}

/** Samples rendererRss() every 100 ms until stopped; returns the peak. */
export function samplePeak(): { stop(): number } {
  let peak = rendererRss();
  const timer = setInterval(() => { peak = Math.max(peak, rendererRss()); }, 100);
  return { stop: () => { clearInterval(timer); return Math.max(peak, rendererRss()); } };
}

/** The median of some numbers. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The q-quantile of some numbers (nearest rank). */
export const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Milliseconds as "850 ms" or "1.25 s"; "—" when unknown. */
export const fmt = (ms: number | undefined): string => (ms === undefined ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

/** Heatmap hover times (ms): 40 mousemoves over cells, each timed until the tooltip shows the weight of the cell hit. */
export function heatmapHovers(p: Page, T: number): Promise<number[]> {
  return p.evaluate(async (T: number) => {
    const g = globalThis as any;
    const c = g.document.getElementById('heatmap');
    const tip = g.document.getElementById('heatmap-tip');
    const { x0, y0, cell } = c.dataset;
    const rect = c.getBoundingClientRect();
    const out: number[] = [];
    for (let k = 0; k < 40; k++) {
      const i = Math.floor(((k * 7919) % 997) / 997 * T);
      const j = Math.floor(((k * 104729) % 991) / 991 * (i + 1));
      // Below a pixel per cell the pointer lands on a neighbour of (i, j): wait for the tip of whichever cell it hit.
      tip.hidden = true;
      delete tip.dataset.row;
      const t = performance.now();
      const [clientX, clientY] = [rect.left + Number(x0) + (j + 0.5) * Number(cell), rect.top + Number(y0) + (i + 0.5) * Number(cell)];
      c.dispatchEvent(new g.MouseEvent('mousemove', { clientX, clientY, bubbles: true }));
      while ((tip.hidden || !tip.dataset.row) && performance.now() - t < 10_000) await new Promise((r) => g.requestAnimationFrame(r));
      out.push(performance.now() - t);
    }
    return out;
  }, T);
}

/** Tokens hover times (ms): 40 mouseovers on tokens, each timed until its targets are painted. */
export function tokenHovers(p: Page, T: number): Promise<number[]> {
  return p.evaluate(async (T: number) => {
    const g = globalThis as any;
    const out: number[] = [];
    for (let k = 0; k < 40; k++) {
      const i = 1 + Math.floor(((k * 7919) % 997) / 997 * (T - 1));
      const span = g.document.querySelector(`#tokens .token[data-token-index="${i}"]`);
      const t = performance.now();
      span.dispatchEvent(new g.MouseEvent('mouseover', { bubbles: true }));
      while ((!span.classList.contains('query') || !g.document.querySelector('#tokens .token.target')) && performance.now() - t < 10_000) {
        await new Promise((r) => g.requestAnimationFrame(r));
      }
      out.push(performance.now() - t);
    }
    return out;
  }, T);
}

/** A GPT-2-shaped random model the benches build once (test/models/recipe/build_scale.py), and its config.json. */
export interface ScaleModel {
  /** Its folder, relative to the repository (served by the bench's server). */
  readonly rel: string;
  readonly dir: string;
  readonly config: Record<string, number>;
}

/** Builds `.cache/scale/<name>` with build_scale.py's optional [layers heads context] unless it is cached (Debian's python3-torch). */
export function ensureScaleModel(name: string, args: readonly string[] = []): ScaleModel {
  const rel = path.join('.cache', 'scale', name);
  const dir = path.join(repoRoot, rel);
  if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) {
    execFileSync('/usr/bin/python3', ['build_scale.py', dir, ...args], { cwd: path.join(repoRoot, 'test', 'models', 'recipe'), stdio: 'inherit' });
  }
  return { rel, dir, config: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) };
}

/** `T` token ids spread over a scale model's vocabulary. */
export function scaleIds(m: ScaleModel, T: number): number[] {
  return Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (m.config.vocab_size - 1)));
}

/** The 'show' message that runs a scale model on T tokens in the panel (WASM); `extra` adds fields (recompute). */
export function scaleShow(m: ScaleModel, origin: string, T: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { config } = m;
  const tokens = scaleIds(m, T).map((id, i) => ({ id, text: `t${i}`, start: -1, end: -1 }));
  return {
    type: 'show', runId: 1, documentLabel: 'bench', text: '', tokens, backend: 'wasm', notices: [], timings: {}, ...extra,
    model: {
      name: `${path.basename(m.rel)} (random)`, onnxUri: `${origin}/${m.rel}/onnx/model.onnx`, maxTokens: config.n_positions, context: config.n_positions,
      extraInputs: ['attention_mask', 'position_ids', ...Array.from({ length: 2 * config.n_layer }, (_, i) => `past_key_values.${i >> 1}.${i % 2 ? 'value' : 'key'}`)],
    },
  };
}
