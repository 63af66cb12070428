/**
 * A local HTTP server for the browser tests: serves the repository's dist/, media/, models/ and
 * test/models/ and the
 * webview documents made by renderPanelHtml/renderCompareHtml with cspSource = the server origin, like
 * VS Code serves a webview's resources from its own origin. Node only.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeNonce, renderCompareHtml, renderPanelHtml } from '../../src/shared/html';
import { THEME_CSS } from './theme';

/** A running test server. */
export interface TestServer {
  readonly origin: string;
  /** Every path requested, in order (to check what the webview fetched). */
  readonly requests: string[];
  /** Paths answered with 404. */
  readonly notFound: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.onnx': 'application/octet-stream', '.map': 'application/json', '.html': 'text/html',
};

const SERVED = ['dist', 'media', 'models', path.join('test', 'models')];

/** Adds the test theme stylesheet and a VS Code body class to a webview document. */
function withTestTheme(html: string, origin: string): string {
  return html
    .replace('</head>', `  <link rel="stylesheet" href="${origin}/test-theme.css">\n</head>`)
    .replace('<body ', '<body class="vscode-dark" ');
}

/** The headers that make a page cross-origin isolated, as desktop VS Code's `--enable-coi` sends them. */
export const COI_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } as const;

/**
 * Starts the server on 127.0.0.1 at a random port; `extraDirs` (relative to the root) are served too (the bench's
 * cached models). With `crossOriginIsolated` every answer carries COI_HEADERS, so the pages are isolated.
 */
export async function startServer(repoRoot: string, extraDirs: readonly string[] = [],
  opts: { crossOriginIsolated?: boolean } = {}): Promise<TestServer> {
  const requests: string[] = [];
  const notFound: string[] = [];
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    requests.push(p);
    const send = (status: number, type: string, body: string | Buffer): void => {
      if (status === 404) notFound.push(p);
      // onnxruntime's .wasm does not change during a run: cacheable, so Chromium keeps its compiled code
      // for the next page (as a webview's resources are cached). Everything else is fetched fresh.
      const cache = status === 200 && p.endsWith('.wasm') ? 'max-age=3600' : 'no-store';
      res.writeHead(status, { 'content-type': type, 'cache-control': cache, ...(opts.crossOriginIsolated ? COI_HEADERS : {}) });
      res.end(body);
    };
    const common = { cspSource: origin, nonce: makeNonce(), title: 'Attention Lens' };
    if (p === '/panel.html') {
      return send(200, 'text/html', withTestTheme(renderPanelHtml({
        ...common, scriptUri: `${origin}/dist/panel.js`, styleUri: `${origin}/media/panel.css`,
        workerUri: `${origin}/dist/worker.js`, wasmBase: `${origin}/dist/ort/`,
      }), origin));
    }
    if (p === '/compare.html') {
      return send(200, 'text/html', withTestTheme(renderCompareHtml({
        ...common, scriptUri: `${origin}/dist/compare.js`, styleUri: `${origin}/media/compare.css`,
      }), origin));
    }
    if (p === '/test-theme.css') return send(200, 'text/css', THEME_CSS);
    const rel = path.normalize(p).replace(/^[/\\]+/, '');
    if (![...SERVED, ...extraDirs].some((d) => rel === d || rel.startsWith(d + path.sep)) || rel.includes('..')) return send(404, 'text/plain', 'not found');
    const file = path.join(repoRoot, rel);
    fs.readFile(file, (err, data) => {
      if (err) return send(404, 'text/plain', 'not found');
      send(200, TYPES[path.extname(file)] ?? 'application/octet-stream', data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    notFound,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
