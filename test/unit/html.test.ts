import assert from 'node:assert/strict';
import { contentSecurityPolicy, escapeHtml, isUsableCspSource, makeNonce, renderCompareHtml, renderPanelHtml } from '../../src/shared/html';

const base = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'abcdefABCDEF0123456789abcdefABCD',
  scriptUri: 'https://x.test/dist/panel.js',
  styleUri: 'https://x.test/media/panel.css',
  workerUri: 'https://x.test/dist/worker.js',
  wasmBase: 'https://x.test/dist/ort/',
  title: 'Attention <Lens>',
};

function cspOf(html: string): Map<string, string> {
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(m, 'has a CSP meta tag');
  const map = new Map<string, string>();
  for (const d of m[1].replace(/&#39;/g, "'").split(';').map((s) => s.trim()).filter(Boolean)) {
    const [name, ...rest] = d.split(/\s+/);
    map.set(name, rest.join(' '));
  }
  return map;
}

describe('html: nonce', () => {
  it('is 32 alphanumerics and differs each call', () => {
    const a = makeNonce();
    assert.match(a, /^[A-Za-z0-9]{32}$/);
    assert.notEqual(a, makeNonce());
  });
});

describe('html: panel document', () => {
  const html = renderPanelHtml(base);
  const csp = cspOf(html);
  it('has a strict CSP with wasm, blob workers and fetches from the CSP source only', () => {
    assert.equal(csp.get('default-src'), "'none'");
    assert.equal(csp.get('script-src'), `'nonce-${base.nonce}' 'wasm-unsafe-eval'`);
    assert.equal(csp.get('style-src'), `${base.cspSource} 'nonce-${base.nonce}'`);
    assert.equal(csp.get('img-src'), `${base.cspSource} blob: data:`);
    assert.equal(csp.get('font-src'), base.cspSource);
    assert.equal(csp.get('connect-src'), base.cspSource);
    assert.equal(csp.get('worker-src'), 'blob:');
    assert.ok(!html.includes('unsafe-inline') && !/'unsafe-eval'/.test(html));
  });
  it('tells the toolkit its style nonce', () => {
    assert.ok(html.includes(`<meta property="csp-nonce" content="${base.nonce}">`));
  });
  it('loads scripts only with the nonce and has no inline script or style', () => {
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.equal(scripts.length, 1);
    assert.ok(scripts.every((s) => s.includes(`nonce="${base.nonce}"`) && / src="/.test(s)));
    assert.ok(!/<style/.test(html) && !/ style="/.test(html));
  });
  it('carries resource URIs as data attributes and escapes the title', () => {
    assert.ok(html.includes(`data-worker-uri="${base.workerUri}"`));
    assert.ok(html.includes(`data-wasm-base="${base.wasmBase}"`));
    assert.ok(html.includes('<title>Attention &lt;Lens&gt;</title>'));
  });
  it('has the elements the panel script and tests rely on', () => {
    for (const id of ['backend', 'timings', 'notices', 'stale-banner', 'refusal-banner', 'error', 'progress', 'layer-select', 'head-select',
      'pin-head', 'change-model', 'tokens', 'heatmap', 'heatmap-tip', 'grid']) {
      assert.ok(html.includes(`id="${id}"`), id);
    }
    assert.match(html, /id="error"[^>]*role="alert"/);
  });
  it('shows a progress line from the first paint when a run is on its way, escaped; hidden otherwise', () => {
    const h = renderPanelHtml({ ...base, progress: 'Loading the model and tokenizing: <b>x</b>…' });
    assert.match(h, /<div id="progress" role="status"><vscode-progress-ring><\/vscode-progress-ring><span id="progress-text">Loading the model and tokenizing: &lt;b&gt;x&lt;\/b&gt;…<\/span>/);
    assert.match(html, /<div id="progress" role="status" hidden>/);
  });

  it('adds a separate toolkit script with the nonce when given', () => {
    const h = renderPanelHtml({ ...base, toolkitUri: 'https://x.test/toolkit.js' });
    assert.ok(h.includes(`<script type="module" nonce="${base.nonce}" src="https://x.test/toolkit.js"></script>`));
  });
  it('refuses a CSP source or nonce that could break the policy', () => {
    assert.throws(() => renderPanelHtml({ ...base, cspSource: "x; script-src 'unsafe-inline'" }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, cspSource: "'self' 'unsafe-inline'" }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, cspSource: "'self' 'nonce-abc'" }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, cspSource: 'https://a.test,https://b.test' }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, cspSource: 'https://a.test"><script>' }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, cspSource: '   ' }), /CSP source/);
    assert.throws(() => renderPanelHtml({ ...base, nonce: 'short' }), /nonce/);
    assert.throws(() => renderPanelHtml({ ...base, nonce: '"><script>alert(1)</script>xxxxxxxx' }), /nonce/);
  });
  it("accepts code-server's source list ('self' plus a wildcard host) and VS Code's single origin", () => {
    const list = "'self' https://*.vscode-cdn.net";
    const c = cspOf(renderPanelHtml({ ...base, cspSource: list }));
    assert.equal(c.get('style-src'), `${list} 'nonce-${base.nonce}'`);
    assert.equal(c.get('connect-src'), list);
    assert.equal(c.get('script-src'), `'nonce-${base.nonce}' 'wasm-unsafe-eval'`);
    for (const ok of ['vscode-resource:', 'https://file+.vscode-resource.vscode-cdn.net', 'http://127.0.0.1:8080', "'self'"]) {
      assert.ok(isUsableCspSource(ok), ok);
    }
  });
  it('escapes attribute values', () => {
    assert.equal(escapeHtml(`a"b<c>&'`), 'a&quot;b&lt;c&gt;&amp;&#39;');
    const h = renderPanelHtml({ ...base, workerUri: 'https://x.test/w.js?a="1"' });
    assert.ok(h.includes('data-worker-uri="https://x.test/w.js?a=&quot;1&quot;"'));
  });
});

describe('html: compare document', () => {
  const html = renderCompareHtml({ ...base, scriptUri: 'https://x.test/dist/compare.js', styleUri: 'https://x.test/media/compare.css' });
  const csp = cspOf(html);
  it('allows no wasm, workers or fetches', () => {
    assert.equal(csp.get('script-src'), `'nonce-${base.nonce}'`);
    assert.equal(csp.get('connect-src'), undefined);
    assert.equal(csp.get('worker-src'), undefined);
    assert.equal(csp.get('default-src'), "'none'");
    assert.equal(contentSecurityPolicy(base, false).includes('wasm'), false);
  });
  it('has the compare containers and no data attributes for the worker', () => {
    for (const id of ['pinned', 'difference-canvas', 'divergence-table', 'compare-status']) assert.ok(html.includes(`id="${id}"`), id);
    assert.ok(!html.includes('data-worker-uri'));
  });
});
