// The fixed backend every target forwards to (run as its own process): a plain node:http
// server with a ~100-byte JSON body, content-length and keep-alive. Prints {"port":N} once bound.

import http from 'node:http';

const body = Buffer.from('{"service":"backend","version":"v1","message":"hello from the fixed benchmark backend","ok":true}\n');

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
// Longer than any proxy's upstream idle timeout, so the proxy, not the backend, closes idle sockets.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port, bodyBytes: body.length }));
});
