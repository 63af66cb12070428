// A local HTTP + WebSocket proxy that puts code-server behind the headers desktop VS Code sends when it is started
// with --enable-coi: every response gets `Cross-Origin-Opener-Policy: same-origin` and
// `Cross-Origin-Embedder-Policy: require-corp`, so the workbench (opened with ?vscode-coi=3) and the webview
// frames it loads from the same server are cross-origin isolated. code-server 4.139 does not send them itself.
// Requests and WebSocket upgrades pass through unchanged (the Host header too, so code-server's origin check
// sees the proxy's own origin). Test harness only.
//
//   startCoiProxy(targetPort, { port? }) -> { port, base, close() }
import http from 'node:http';
import net from 'node:net';

/** The headers --enable-coi adds (VS Code's COI.CoopAndCoep). */
export const COI_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** Starts the proxy on 127.0.0.1 at `port` (default: a free one), forwarding to 127.0.0.1:targetPort. */
export async function startCoiProxy(targetPort, { host = '127.0.0.1', port: listenPort = 0 } = {}) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host, port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      const headers = { ...up.headers };
      // A header of the same name from code-server would be a second value; --enable-coi's win.
      for (const k of Object.keys(COI_HEADERS)) delete headers[k];
      res.writeHead(up.statusCode ?? 502, up.statusMessage, { ...headers, ...COI_HEADERS });
      up.pipe(res);
    });
    upstream.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`coi-proxy: ${e.message}`);
    });
    req.pipe(upstream);
  });
  // WebSockets (the workbench's connection to the server): replay the upgrade request upstream, then splice the sockets.
  server.on('upgrade', (req, client, head) => {
    const up = net.connect(targetPort, host, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head?.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    for (const s of [up, client]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { up.destroy(); client.destroy(); });
    }
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, resolve);
  });
  const { port } = server.address();
  return {
    port,
    base: `http://${host}:${port}`,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
