/**
 * The view on show as one self-contained HTML page: every head of the stack (and each layer's mean) at display
 * resolution, the tokens and labels, and a small viewer script (dist/export-viewer.js, inlined) that draws the head
 * picked and shows weights on hover. No network: a strict CSP allows only the inlined script and style, by hash.
 * Weights are stored as 16-bit steps of each head's largest weight (error ≤ max / 131 068 ≤ 7.7e-6).
 */
import crypto from 'node:crypto';
import { escapeXml, hexColor, type ViewSpec } from '../shared/view-spec';
import { headLabel, type HeadRef } from '../shared/protocol';
import type { AnswerOf } from './attention-asker';
import { ViewExportCancelled, writePieces, type ExportControl, type MatrixAsk } from './view-export';
import type { ViewMeta } from './svg-export';

/** Most cells per side of one head in the page (larger heads are max-pooled by the worker). */
export const HTML_MAX_SIDE = 128;
/** Most cells of all heads together (4 MB at 16 bits; the per-head side shrinks to fit). */
export const HTML_MAX_CELLS = 2_000_000;
/** The quantisation step count: a weight w of a head whose largest weight is `max` is stored as round(w / max · STEPS). */
export const HTML_STEPS = 65534;
/** The stored code of a masked cell (a pooled block with no visible weight). */
export const HTML_MASKED = 65535;

/** One head as the page stores it. */
export interface StoredHead {
  readonly layer: number;
  readonly head: number | 'mean';
  readonly rows: number;
  readonly cols: number;
  readonly pooled: boolean;
  /** Top of the colour scale (the worker's 99th percentile). */
  readonly scale: number;
  /** Largest weight: the quantisation's full step. */
  readonly max: number;
  /** Base64 of little-endian uint16 codes, row-major. */
  readonly codes: string;
}

/** Quantises a served matrix to 16-bit codes (NaN → HTML_MASKED), for the page. */
export function storeHead(m: AnswerOf<'matrix'>, head: HeadRef): StoredHead {
  const v = new Float32Array(m.data);
  let max = 0;
  for (const x of v) if (x > max) max = x;
  const codes = Buffer.alloc(v.length * 2);
  for (let k = 0; k < v.length; k++) {
    codes.writeUInt16LE(Number.isNaN(v[k]) ? HTML_MASKED : max > 0 ? Math.round((Math.max(0, v[k]) / max) * HTML_STEPS) : 0, k * 2);
  }
  return { layer: head.layer, head: head.head === 'mean' ? 'mean' : head.head as number, rows: m.rows, cols: m.cols, pooled: m.pooled,
    scale: m.scale, max, codes: codes.toString('base64') };
}

/** Per-head side so that all `count` heads fit HTML_MAX_CELLS, never above HTML_MAX_SIDE. */
export const htmlSide = (count: number): number => Math.max(8, Math.min(HTML_MAX_SIDE, Math.floor(Math.sqrt(HTML_MAX_CELLS / count))));

const sha256 = (s: string): string => `'sha256-${crypto.createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** JSON safe inside a <script> data block (no "</script", no HTML comment openers). */
const jsonForScript = (x: unknown): string => JSON.stringify(x).replace(/</g, '\\u003c');

function style(spec: ViewSpec): string {
  const t = spec.theme;
  return `:root{--bg:${hexColor(t.bg)};--fg:${hexColor(t.fg)};--accent:${hexColor(t.accent)};--focus:${hexColor(t.focus)};` +
    `--masked:${hexColor(t.masked)};--font:${t.fontFamily.replace(/[;{}<>]/g, '')};--size:${t.fontSize}px}` +
    'body{background:var(--bg);color:var(--fg);font-family:var(--font);font-size:var(--size);margin:16px;max-width:1100px}' +
    'h1{font-size:1.2em;margin:0 0 4px}h2{font-size:1em;font-weight:normal}.meta{opacity:.75;margin:0 0 12px}label{margin-right:12px}' +
    'select{background:var(--bg);color:var(--fg);border:1px solid var(--fg);font:inherit}' +
    '#wrap{position:relative;margin:12px 0}canvas{display:block;image-rendering:pixelated}canvas:focus,.token:focus{outline:2px solid var(--focus)}' +
    '#tip{position:absolute;pointer-events:none;background:var(--bg);border:1px solid var(--fg);padding:4px 6px;white-space:nowrap}' +
    '#tokens{line-height:2;font-family:var(--font)}.token{padding:1px 2px;margin:0 1px;border:1px solid transparent;border-radius:3px;cursor:default}' +
    '.token.source{border-color:var(--focus)}.token.masked{opacity:.5}#row-readout{min-height:2.5em}';
}

function body(spec: ViewSpec, meta: ViewMeta, title: string): string {
  const precision = 'Weights are stored in 16 bits per cell (within 7.7e-6 of the exported values).';
  return `<header><h1>${escapeXml(title)}</h1><p class="meta">${escapeXml(meta.model)} · ${escapeXml(meta.document)} · ` +
    `${spec.queries} query × ${spec.keys} key tokens · ${spec.layers} layers × ${spec.heads} heads. ${precision}</p></header>\n` +
    '<div class="controls"><label>Layer <select id="layer"></select></label><label>Head <select id="head"></select></label></div>\n' +
    '<div id="wrap"><canvas id="matrix" tabindex="0"></canvas><div id="tip" role="status" hidden></div></div>\n' +
    '<p id="note" class="meta"></p>\n<h2 class="meta">Tokens: hover or focus one to see the weights its row puts on every token</h2>\n' +
    '<div id="tokens" role="list"></div>\n<p id="row-readout" aria-live="polite"></p>\n';
}

/**
 * Writes the page for `spec`: asks the worker for every head of the stack and each layer's mean, one at a time,
 * max-pooled to htmlSide(); `viewerScript` is dist/export-viewer.js. Resolves with the bytes written.
 */
export function writeHtmlExport(ask: MatrixAsk, spec: ViewSpec, meta: ViewMeta, viewerScript: string, file: string, ctl: ExportControl): Promise<number> {
  return writePieces(file, async (out) => {
    const { layers, heads } = spec;
    const refs: HeadRef[] = [];
    for (let l = 0; l < layers; l++) for (let h = 0; h <= heads; h++) refs.push({ stack: spec.head.stack, layer: l, head: h < heads ? h : 'mean' });
    const side = htmlSide(refs.length);
    const title = `Attention ${spec.head.stack === 'self' ? '' : `(${spec.head.stack}) `}— ${meta.document}`;
    const script = viewerScript.replace(/<\/(script)/gi, '<\\/$1');
    const css = style(spec);
    const csp = `default-src 'none'; script-src ${sha256(script)}; style-src ${sha256(css)}; base-uri 'none'; form-action 'none'`;
    await out.write(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="${csp}">\n` +
      `<meta name="viewport" content="width=device-width"><title>${escapeXml(title)}</title>\n<style>${css}</style></head>\n<body>\n`);
    await out.write(body(spec, meta, title));
    const shown: { layer: number; head: number | 'mean' } = { layer: spec.head.layer, head: typeof spec.head.head === 'number' ? spec.head.head : 'mean' };
    const header = {
      attentionLens: 1, title, model: meta.model, document: meta.document, stack: spec.head.stack, layers, heads, queries: spec.queries, keys: spec.keys,
      causal: spec.causal, valueWeighted: spec.valueWeighted, labels: spec.labels, keyLabels: spec.keyLabels, shown, steps: HTML_STEPS, maskedCode: HTML_MASKED,
      theme: { bg: spec.theme.bg, fg: spec.theme.fg, accent: spec.theme.accent, masked: spec.theme.masked, hatch: spec.theme.hatch }, note: `Shown first: ${headLabel(spec.head)}.`,
    };
    await out.write(`<script type="application/json" id="attention-data">${jsonForScript(header).slice(0, -1)},"stored":[`);
    for (let k = 0; k < refs.length; k++) {
      if (ctl.cancelled()) throw new ViewExportCancelled();
      const m = await ask({ kind: 'matrix', head: refs[k], maxSide: side });
      await out.write(`${k ? ',' : ''}${jsonForScript(storeHead(m, refs[k]))}`);
      ctl.progress(k + 1, refs.length);
    }
    await out.write(`]}</script>\n<script>${script}</script>\n</body></html>\n`);
  });
}
