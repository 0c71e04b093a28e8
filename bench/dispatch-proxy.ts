// Opt-in reference (--with-dispatch), run as its own process: a minimal undici Pool.dispatch
// proxy (raw header arrays, no per-request promises) on undici's current handler API, i.e. the
// floor glidepath's own logic sits on.
// Usage: dispatch-proxy.ts UPSTREAM_PORT; prints {"port":N} once bound.

import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

function filterRaw(raw: readonly (string | Buffer)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = String(raw[i]);
    if (!HOP.has(k.toLowerCase())) out.push(k, String(raw[i + 1]));
  }
  return out;
}

const origin = `http://127.0.0.1:${Number(process.argv[2])}`;
const pool = new Pool(origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });

class Handler implements Dispatcher.DispatchHandler {
  readonly res: http.ServerResponse;
  controller: Dispatcher.DispatchController | null = null;
  constructor(res: http.ServerResponse) {
    this.res = res;
  }
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode >= 200) this.res.writeHead(statusCode, filterRaw(controller.rawHeaders as (string | Buffer)[]));
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_controller: Dispatcher.DispatchController | null, _err: Error): void {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

const server = http.createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const handler = new Handler(res);
  res.on('close', () => {
    if (!res.writableFinished) handler.controller?.abort(new Error('client closed'));
  });
  pool.dispatch(
    {
      origin,
      path: req.url as string,
      method: req.method as Dispatcher.HttpMethod,
      headers: filterRaw(req.rawHeaders),
      body: hasBody ? req : null,
    },
    handler,
  );
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
