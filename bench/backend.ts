// The fixed backend every target forwards to (run as its own process): a plain node:http
// server with a ~100-byte JSON body, content-length and keep-alive. Prints {"port":N} once bound.
// Usage: backend.ts [ALSO_HOST]: ALSO_HOST (e.g. 127.0.0.2) is a second loopback address served on
// the same port by the same process, so that two "pods" (two endpoint addresses) are one backend.

import http from 'node:http';

const body = Buffer.from('{"service":"backend","version":"v1","message":"hello from the fixed benchmark backend","ok":true}\n');

const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  if (req.method !== 'GET' && req.method !== 'HEAD') req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
};
const serve = (): http.Server => {
  const server = http.createServer(handler);
  // Longer than any proxy's upstream idle timeout, so the proxy, not the backend, closes idle sockets.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
};

const also = process.argv[2];
const server = serve();
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  const ready = (): void => console.log(JSON.stringify({ port, bodyBytes: body.length, ...(also ? { alsoHost: also } : {}) }));
  if (also === undefined) return ready();
  const second = serve();
  second.once('error', (err) => {
    console.error(`backend: cannot also listen on ${also}:${port}: ${err.message}`);
    process.exit(1);
  });
  second.listen(port, also, ready);
});
