/**
 * The HTML documents of the two webviews (the attention panel and the compare view), with a strict
 * Content-Security-Policy. The HTML carries only resource URIs (scripts, styles, the worker source and the
 * onnxruntime .wasm base) as attributes; user data (text, tokens, attention) never appears in it and
 * arrives only by postMessage after the webview posts `ready`. Imports neither `vscode` nor the DOM.
 */

/** Resource URIs and the CSP source the host computes for one webview. */
export interface WebviewHtmlOptions {
  /** `webview.cspSource`: the origin that serves extension resources into the webview. */
  cspSource: string;
  /** A fresh nonce per document (see `makeNonce`). */
  nonce: string;
  /** Webview URI of the bundled script (dist/panel.js or dist/compare.js). */
  scriptUri: string;
  /** Webview URI of the stylesheet (media/panel.css or media/compare.css). */
  styleUri: string;
  /** Optional separate toolkit script; the toolkit is normally bundled into the view script. */
  toolkitUri?: string;
  /** Panel only: webview URI of dist/worker.js, fetched and started from a blob: URL. */
  workerUri?: string;
  /** Panel only: webview URI of the folder holding onnxruntime's .wasm (dist/ort/), ending in '/'. */
  wasmBase?: string;
  /** Document title. */
  title: string;
  /** Panel only: a progress line shown from the page's first paint, before its script runs (a run is on its way). */
  progress?: string;
}

const NONCE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A 32-character random nonce for script tags and the CSP, from crypto.getRandomValues. */
export function makeNonce(): string {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  let out = '';
  for (const b of bytes) out += NONCE_CHARS[b % NONCE_CHARS.length];
  return out;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** One CSP source expression a host may hand us: 'self', a scheme (`https:`) or a host source (`https://*.x.net`). */
const CSP_SOURCE_EXPRESSION = /^(?:'self'|[A-Za-z][A-Za-z0-9+.-]*:(?:\/\/[A-Za-z0-9*_.+-]+(?::\d+|:\*)?[^\s;,'"<>]*)?|(?:\*\.)?[A-Za-z0-9_.+-]+(?::\d+)?)$/;

/**
 * True when `source` is a list of plain CSP source expressions. VS Code gives one origin
 * (`https://file+.vscode-resource.vscode-cdn.net`); code-server gives a list (`'self' https://*.vscode-cdn.net`).
 * Anything that could end a directive, or a keyword other than 'self' ('unsafe-inline', nonces), is refused.
 */
export function isUsableCspSource(source: string): boolean {
  const parts = source.trim().split(/\s+/).filter(Boolean);
  return parts.length > 0 && parts.every((p) => CSP_SOURCE_EXPRESSION.test(p));
}

function checkOptions(o: WebviewHtmlOptions): void {
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(o.nonce)) throw new Error('The nonce must be at least 16 base64 characters.');
  if (!o.cspSource || !isUsableCspSource(o.cspSource)) throw new Error(`Unusable CSP source: ${o.cspSource}`);
}

/** The CSP of a webview; `wasm` adds 'wasm-unsafe-eval', blob: workers and fetching (panel only). */
export function contentSecurityPolicy(o: WebviewHtmlOptions, wasm: boolean): string {
  checkOptions(o);
  const src = o.cspSource.trim().split(/\s+/).join(' ');
  return [
    "default-src 'none'",
    `script-src 'nonce-${o.nonce}'${wasm ? " 'wasm-unsafe-eval'" : ''}`,
    // The toolkit (FAST) probes :focus-visible support with a <style> element carrying the nonce it reads
    // from <meta property="csp-nonce">; everything else it styles through constructable stylesheets.
    `style-src ${src} 'nonce-${o.nonce}'`,
    `img-src ${src} blob: data:`,
    `font-src ${src}`,
    ...(wasm ? [`connect-src ${src}`, 'worker-src blob:'] : []),
  ].join('; ');
}

function page(o: WebviewHtmlOptions, wasm: boolean, bodyAttrs: string, body: string): string {
  const csp = contentSecurityPolicy(o, wasm);
  const nonce = escapeHtml(o.nonce);
  const toolkit = o.toolkitUri ? `\n  <script type="module" nonce="${nonce}" src="${escapeHtml(o.toolkitUri)}"></script>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
  <meta property="csp-nonce" content="${nonce}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
  <title>${escapeHtml(o.title)}</title>
</head>
<body ${bodyAttrs}>
${body}${toolkit}
  <script nonce="${nonce}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}

const PANEL_BODY = `  <header id="header">
    <div class="title-row">
      <h1 id="model-name">Attention Lens</h1>
      <vscode-button id="change-model" appearance="secondary" title="Pick another model (Attention Lens: Select Model); the panel runs the last selection again on it">Change model…</vscode-button>
      <span id="document-label" class="muted"></span>
      <span id="backend" class="badge" title="Execution provider that ran the model" hidden></span>
      <span id="recomputed" class="badge" hidden></span>
      <span id="paths" class="badge" hidden></span>
    </div>
    <div id="timings" class="muted" aria-label="Timings"></div>
    <ul id="notices" aria-label="Notices"></ul>
    <div id="stale-banner" class="banner" role="status" hidden></div>
    <div id="refusal-banner" class="banner" role="alert" hidden></div>
    <div id="error" class="banner error" role="alert" hidden></div>
    <div id="progress" role="status" hidden><vscode-progress-ring></vscode-progress-ring><span id="progress-text"></span></div>
  </header>
  <div id="toolbar" role="toolbar" aria-label="Head selection">
    <span class="field"><label for="layer-select">Layer</label>
    <vscode-dropdown id="layer-select" aria-label="Layer"></vscode-dropdown></span>
    <span class="field"><label for="head-select">Head</label>
    <vscode-dropdown id="head-select" aria-label="Head"></vscode-dropdown></span>
    <vscode-button id="pin-head" appearance="secondary" title="Pin this head to the compare view">Pin head</vscode-button>
    <vscode-button id="save-image" appearance="secondary" title="Save the Heatmap or the Model grid as a PNG image, in the colours shown">Save image…</vscode-button>
    <vscode-button id="save-svg" appearance="secondary" title="Save the Heatmap or the Model grid as SVG, in the colours shown">Save SVG…</vscode-button>
    <vscode-button id="save-html" appearance="secondary" title="Save a self-contained HTML page of every head at display resolution, with weights on hover">Save HTML…</vscode-button>
    <vscode-button id="export-data" appearance="secondary" title="Export the weights of this head, its layer or the whole stack (.npy or JSON)">Export data…</vscode-button>
    <vscode-checkbox id="attended-by" title="Tokens view and heatmap: follow the tokens that attend to the focused one (its column) instead of those it attends to (its row)">Attended by</vscode-checkbox>
    <vscode-checkbox id="value-weighted" title="Show α_ij·‖v_j‖, each row renormalised: attention scaled by the norm of each key's value vector (without the output projection W_O)">Scale by ‖v‖</vscode-checkbox>
  </div>
  <p id="empty-state" class="muted">Select text in an editor and run <em>Attention Lens: Show Attention</em>.</p>
  <vscode-panels id="views" activeid="tab-tokens" aria-label="Views">
    <vscode-panel-tab id="tab-tokens">Tokens</vscode-panel-tab>
    <vscode-panel-tab id="tab-heatmap">Heatmap</vscode-panel-tab>
    <vscode-panel-tab id="tab-lines">Lines</vscode-panel-tab>
    <vscode-panel-tab id="tab-grid">Model grid</vscode-panel-tab>
    <vscode-panel-tab id="tab-metrics">Metrics</vscode-panel-tab>
    <vscode-panel-tab id="tab-residual">Residual</vscode-panel-tab>
    <vscode-panel-view id="view-tokens">
      <div class="view-body">
        <div id="tokens-legend" class="legend"></div>
        <div id="tokens" role="group" aria-label="Tokens: hover or use arrow keys; Enter locks, Escape unlocks"></div>
        <p id="focus-summary" class="summary" aria-live="polite"></p>
        <div id="predictions" class="predictions" aria-live="polite" hidden></div>
        <section id="generate" class="generate" aria-label="Generation stepping" hidden>
          <div class="gen-controls" role="group" aria-label="Generate tokens after the selection">
            <label>Tokens <input id="gen-steps" type="number" min="1" max="64" value="8"></label>
            <label title="0 is greedy (the most probable token each step)">Temperature <input id="gen-temperature" type="number" min="0" step="0.1" value="0"></label>
            <label title="Sample among the k most probable tokens (0: all)">Top-k <input id="gen-topk" type="number" min="0" value="0"></label>
            <label title="The same seed gives the same samples">Seed <input id="gen-seed" type="number" value="1"></label>
            <vscode-button id="gen-start" title="Generate tokens after the selection (shown here, never written to the document)">Generate</vscode-button>
            <vscode-button id="gen-stop" appearance="secondary" disabled title="Stop before the next token">Stop</vscode-button>
          </div>
          <label class="gen-step">Step <input id="gen-step" type="range" min="0" max="0" value="0" disabled> <span id="gen-step-label"></span></label>
          <div id="gen-tokens" class="gen-tokens" aria-label="The prefix of the chosen step, coloured by the attention of its last token, then the generated token"></div>
          <p id="gen-status" class="muted" aria-live="polite"></p>
        </section>
      </div>
    </vscode-panel-view>
    <vscode-panel-view id="view-heatmap">
      <div class="view-body">
        <div id="heatmap-legend" class="legend"></div>
        <div id="heatmap-zoom" class="zoom-bar" role="toolbar" aria-label="Heatmap zoom">
          <vscode-button id="zoom-in" appearance="secondary" title="Zoom in around the cursor (+)">Zoom in</vscode-button>
          <vscode-button id="zoom-out" appearance="secondary" title="Zoom out (−)">Zoom out</vscode-button>
          <vscode-button id="zoom-reset" appearance="secondary" title="Show the whole matrix (0)">Whole matrix</vscode-button>
        </div>
        <div id="heatmap-wrap" class="canvas-wrap">
          <canvas id="heatmap" tabindex="0" role="img" aria-label="Attention heatmap: rows are query tokens, columns are key tokens. Arrow keys move the cursor; + and − zoom, 0 shows the whole matrix."></canvas>
          <div id="heatmap-tip" class="tip" role="tooltip" hidden></div>
        </div>
        <p id="explain-hint" class="muted">Click a cell (or press Enter on it) to see how its weight is computed.</p>
        <section id="explain" class="explain" aria-live="polite" aria-label="How this weight is computed" hidden></section>
      </div>
    </vscode-panel-view>
    <vscode-panel-view id="view-lines">
      <div class="view-body">
        <div id="lines-legend" class="legend"></div>
        <div id="lines-wrap" class="canvas-wrap">
          <canvas id="lines" tabindex="0" role="img" aria-label="Lines between query and key tokens"></canvas>
        </div>
        <p id="lines-status" class="summary" aria-live="polite"></p>
      </div>
    </vscode-panel-view>
    <vscode-panel-view id="view-grid">
      <div class="view-body">
        <div id="grid-legend" class="legend"></div>
        <div id="grid-wrap" class="canvas-wrap">
          <canvas id="grid" tabindex="0" role="img" aria-label="Every layer and head. Arrow keys move, Enter selects."></canvas>
        </div>
        <p id="grid-status" class="summary" aria-live="polite"></p>
      </div>
    </vscode-panel-view>
    <vscode-panel-view id="view-metrics">
      <div class="view-body metrics-body">
        <div class="table-wrap">
          <table id="metrics-table" aria-label="Per-head metrics: column headers sort"></table>
        </div>
        <div id="metrics-legend" class="legend metrics-legend"></div>
      </div>
    </vscode-panel-view>
    <vscode-panel-view id="view-residual">
      <div class="view-body">
        <p id="residual-meaning" class="legend">How much each head writes into the residual stream at a token, relative to what is already there: ‖head output through W_O‖ / ‖residual stream it is added to‖.</p>
        <label class="residual-token">Token <input id="residual-token" type="range" min="0" max="0" value="0" aria-describedby="residual-token-label"> <span id="residual-token-label"></span></label>
        <div id="residual-wrap" class="canvas-wrap">
          <canvas id="residual" tabindex="0" role="img" aria-label="Each head's output norm over the residual stream's norm, layers by heads"></canvas>
        </div>
        <p id="residual-status" class="summary" aria-live="polite"></p>
        <ul id="residual-reasons" class="muted"></ul>
      </div>
    </vscode-panel-view>
  </vscode-panels>`;

/** The attention panel document: header, layer/head toolbar, Tokens / Heatmap / Model grid / Metrics views. */
export function renderPanelHtml(o: WebviewHtmlOptions): string {
  const attrs = ['data-view="panel"'];
  if (o.workerUri) attrs.push(`data-worker-uri="${escapeHtml(o.workerUri)}"`);
  if (o.wasmBase) attrs.push(`data-wasm-base="${escapeHtml(o.wasmBase)}"`);
  const body = o.progress === undefined ? PANEL_BODY : PANEL_BODY.replace(
    '<div id="progress" role="status" hidden><vscode-progress-ring></vscode-progress-ring><span id="progress-text"></span></div>',
    `<div id="progress" role="status"><vscode-progress-ring></vscode-progress-ring><span id="progress-text">${escapeHtml(o.progress)}</span></div>`);
  return page(o, true, attrs.join(' '), body);
}

const COMPARE_BODY = `  <header id="header">
    <h1>Compare heads</h1>
    <p id="compare-status" class="muted" role="status">Pin heads from the Attention Lens panel to compare them here.</p>
  </header>
  <section id="pinned" aria-label="Pinned heads"></section>
  <section id="difference" hidden>
    <h2 id="difference-title">Difference</h2>
    <div id="difference-pick" class="pick">
      <label for="diff-a">A</label><vscode-dropdown id="diff-a" aria-label="First head of the difference"></vscode-dropdown>
      <span>−</span>
      <label for="diff-b">B</label><vscode-dropdown id="diff-b" aria-label="Second head of the difference"></vscode-dropdown>
    </div>
    <div id="difference-legend" class="legend"></div>
    <canvas id="difference-canvas" role="img"></canvas>
  </section>
  <section id="divergence" hidden>
    <h2>Divergence</h2>
    <table id="divergence-table"></table>
  </section>`;

/** The compare view document: pinned heads side by side, their difference and divergences. */
export function renderCompareHtml(o: WebviewHtmlOptions): string {
  return page(o, false, 'data-view="compare"', COMPARE_BODY);
}
