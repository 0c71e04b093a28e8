// The node-http-proxy anchor (run as its own process): http-proxy with a keep-alive agent, in its
// minimal form. Usage: http-proxy.ts UPSTREAM_PORT; prints {"port":N} once bound.

import http from 'node:http';
import httpProxy from 'http-proxy';

const upstream = Number(process.argv[2]);
// Without an agent http-proxy opens a connection per request (http-party/node-http-proxy#767);
// we compare against this stronger setup.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse) {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  } else {
    res.destroy();
  }
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
