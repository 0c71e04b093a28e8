// The accept stage: the client-facing node:http server with strict parser settings, and the
// answers for what never becomes a request (parse errors, timeouts, CONNECT).

import http, { type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DataPlane } from './dataplane.ts';
import { isRefused, markRefused, rejectCode, writeRawProxyError } from './rescue.ts';
import type { RejectReason } from './stats.ts';

export interface ServerOptions {
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly keepAliveTimeout: number;
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
}

/** Creates (does not start) the proxy listener for a data plane. */
export function createProxyServer(dataPlane: DataPlane, options: ServerOptions): http.Server {
  const server = http.createServer(
    {
      // Never the lenient parser: it re-enables CL+TE, obs-fold, bare LF (docs/reliability-notes.md).
      insecureHTTPParser: false,
      // Checked in the header pass, so that the 400 carries x-glidepath-error and is counted.
      requireHostHeader: false,
      maxHeaderSize: options.maxHeaderBytes,
      headersTimeout: options.headersTimeout,
      requestTimeout: options.requestTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      // Timeouts are enforced at this granularity; 1 s reaps slowloris close to headersTimeout.
      connectionsCheckingInterval: 1_000,
      noDelay: true,
      // Only WebSocket upgrades leave the HTTP path; any other Upgrade is served as plain HTTP
      // with the header stripped (h2c is refused there). Node < 24.9 ignores this option and
      // sends every upgrade to the handler below, which refuses the non-WebSocket ones.
      shouldUpgradeCallback: (req: http.IncomingMessage) => (req.headers.upgrade ?? '').trim().toLowerCase() === 'websocket',
    } as http.ServerOptions,
    (req, res) => dataPlane.handle(req, res),
  );
  // No count limit in Node (Node 20 truncated silently, Node 24 fails with a generic overflow): the data
  // plane counts rawHeaders itself, bounded by maxHeaderSize, and answers 431 too_many_headers.
  server.maxHeadersCount = 0;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => dataPlane.handleUpgrade(req, socket, head));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(dataPlane, err, socket));
  // A reverse proxy does not tunnel CONNECT; say so rather than drop the socket silently.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    dataPlane.rejects.record('connect_method');
    writeRawProxyError(socket, rejectCode('connect_method'), 'CONNECT is not proxied');
  });
  return server;
}

function onClientError(dataPlane: DataPlane, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Already refused and closing: what the parser trips over next belongs to that request.
  if (isRefused(socket)) return;
  const reason = clientErrorReason(err.code);
  dataPlane.rejects.record(reason);
  markRefused(socket);
  const answer = (): void => writeRawProxyError(socket, rejectCode(reason), reason.replaceAll('_', ' '));
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current == null) return answer();
  if (!current.req.complete) {
    // The error is in the body of the request being answered (or its body timed out). If no byte of
    // its answer went out, the refusal is its answer; the exchange is abandoned as the socket closes.
    if (current.headersSent) return void socket.destroy();
    answer();
    (socket as Socket).destroySoon();
    return;
  }
  // The error is in a request pipelined behind the one being answered: that answer goes out first.
  current.once('finish', () => (socket.writable ? answer() : socket.destroy()));
  current.once('close', () => {
    if (!current.writableFinished) socket.destroy();
  });
}

function clientErrorReason(code: string | undefined): RejectReason {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'header_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return 'request_timeout';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'chunk_extension_too_large';
    default:
      return 'parse_error';
  }
}
