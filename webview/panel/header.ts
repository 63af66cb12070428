/**
 * The panel header: model and document names, which backend ran (and why not the one requested),
 * timings, notices, the stale banner, errors (role=alert) and the progress ring.
 */
import type { BackendUsed, Timings } from '../../src/shared/protocol';
import { threadsLabel } from '../../src/shared/wasm-threads';
import { pathsLabel, pathsNotice, pathsTitle, type PathSummary } from '../../src/shared/attention-paths';
import { recomputedTitle, RECOMPUTED_LABEL, type RecomputedAttention } from '../../src/shared/fused-collect';

const $ = (id: string): HTMLElement => document.getElementById(id)!;

/** Display name of a backend. */
export function backendName(b: BackendUsed): string {
  return b === 'webgpu' ? 'WebGPU' : 'WASM';
}

/**
 * Short header text for a backend, the WebAssembly threads it ran with and its fallback reason, e.g.
 * "WASM · 4 threads" or "WASM · 1 thread — WebGPU requested but unavailable".
 */
export function backendLabel(b: BackendUsed, fallbackReason?: string, threads?: number): string {
  const name = b === 'wasm' && threads ? `${backendName(b)} · ${threadsLabel(threads)}` : backendName(b);
  if (!fallbackReason) return name;
  if (/no adapter/i.test(fallbackReason)) return `${name} — WebGPU requested but unavailable`;
  if (/WebGPU failed/i.test(fallbackReason)) return `${name} — WebGPU failed`;
  return `${name} — ${fallbackReason}`;
}

/** The backend badge's tooltip: the fallback reason, else what ran and, for one WASM thread, why only one. */
function backendTitle(b: BackendUsed, fallbackReason?: string, threads?: number): string {
  if (fallbackReason) return fallbackReason;
  if (b !== 'wasm' || !threads) return `Ran on ${backendName(b)}`;
  if (threads > 1) return `Ran on WebAssembly with ${threadsLabel(threads)} (the webview is cross-origin isolated)`;
  return globalThis.crossOriginIsolated
    ? 'Ran on WebAssembly with 1 thread (attentionLens.wasmThreads, or one core)'
    : 'Ran on WebAssembly with 1 thread: the webview is not cross-origin isolated (start VS Code with --enable-coi for every core)';
}

function ms(v: number | undefined): string | undefined {
  return v === undefined ? undefined : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** Controls the header elements. */
export class Header {
  /** Model name and the label of the document the text came from. */
  setSource(modelName: string, documentLabel: string): void {
    $('model-name').textContent = modelName;
    $('document-label').textContent = documentLabel;
    $('document-label').title = documentLabel;
  }

  /** Shows which backend ran (and, on WASM, with how many threads); `undefined` clears it. */
  setBackend(b: BackendUsed | undefined, fallbackReason?: string, threads?: number): void {
    const el = $('backend');
    if (!b) {
      el.textContent = '';
      el.hidden = true;
      delete el.dataset.backend;
      return;
    }
    el.hidden = false;
    el.textContent = backendLabel(b, fallbackReason, threads);
    el.dataset.backend = b;
    if (b === 'wasm' && threads) el.dataset.threads = String(threads);
    else delete el.dataset.threads;
    el.classList.toggle('fallback', !!fallbackReason);
    el.title = backendTitle(b, fallbackReason, threads);
  }

  /** Says that (and how) the attention shown was recomputed from fused operators' inputs; `undefined` hides it. */
  setRecomputed(r: RecomputedAttention | undefined): void {
    const el = $('recomputed');
    el.hidden = !r;
    el.textContent = r ? RECOMPUTED_LABEL : '';
    el.title = r ? recomputedTitle(r) : '';
  }

  /** Says that the worker serves attention recomputed from Q and K, per layer; `undefined` hides it. */
  setPaths(p: PathSummary | undefined): void {
    const el = $('paths');
    el.hidden = !p;
    el.textContent = p ? pathsLabel(p) : '';
    el.title = p ? pathsTitle(p) : '';
    el.dataset.paths = p ? p.map((x) => x.path).join(',') : '';
    const notice = p && pathsNotice(p);
    if (notice) this.addNotice(notice);
  }

  /** Timings line: tokenize · load · inference · first paint. */
  setTimings(t: Timings): void {
    const parts: string[] = [];
    const add = (name: string, key: keyof Timings): void => {
      const v = ms(t[key]);
      if (v) parts.push(`${name} ${v}`);
      $('timings').dataset[key] = t[key] === undefined ? '' : String(t[key]);
    };
    add('tokenize', 'tokenizeMs');
    add('load', 'loadMs');
    add('inference', 'inferenceMs');
    add('first paint', 'firstPaintMs');
    $('timings').textContent = parts.join(' · ');
  }

  /** Adds one notice to the list. */
  addNotice(notice: string): void {
    const li = document.createElement('li');
    li.textContent = notice;
    $('notices').append(li);
    $('notices').hidden = false;
  }

  /** Replaces the notices list. */
  setNotices(notices: readonly string[]): void {
    const ul = $('notices');
    ul.replaceChildren(...notices.map((n) => {
      const li = document.createElement('li');
      li.textContent = n;
      return li;
    }));
    ul.hidden = notices.length === 0;
  }

  /** Shows or hides the stale banner. */
  setStale(reason: string | undefined): void {
    const el = $('stale-banner');
    el.textContent = reason ? `Out of date: ${reason}. Run "Attention Lens: Show Attention" again to refresh.` : '';
    el.hidden = !reason;
  }

  /**
   * Shows why the last Show Attention request did not run (role=alert), above the result still on show, or clears it
   * with `undefined`. The message names the fix ("select some text and run … again").
   */
  setRefusal(message: string | undefined): void {
    const el = $('refusal-banner');
    el.textContent = message ? `Not run: ${message}` : '';
    el.hidden = !message;
  }

  /** Shows an error (role=alert), or clears it with `undefined`. */
  setError(message: string | undefined): void {
    const el = $('error');
    el.textContent = message ?? '';
    el.hidden = !message;
  }

  /** Shows the progress ring with a message (and the load stages started, as data-stages), or hides it with `undefined`. */
  setProgress(message: string | undefined, stages: readonly string[] = []): void {
    $('progress').hidden = !message;
    $('progress').dataset.stages = stages.join(' ');
    $('progress-text').textContent = message ?? '';
    document.body.classList.toggle('busy', !!message);
  }
}
