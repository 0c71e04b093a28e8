// The accept stage: the client-facing node:http server with strict parser settings, and the
// answers for what never becomes a request (parse errors, timeouts, CONNECT).

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { DataPlane } from './dataplane.ts';
import { rejectCode, writeRawProxyError } from './rescue.ts';
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
      // Never the lenient parser: it re-enables CL+TE, obs-fold, bare LF (research §3.1).
      insecureHTTPParser: false,
      requireHostHeader: true,
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
  // Node silently truncates past maxHeadersCount; one more than our limit lets us see the excess and answer 431.
  server.maxHeadersCount = options.maxHeaderCount + 1;
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
  const reason = clientErrorReason(err.code);
  dataPlane.rejects.record(reason);
  // A response already under way on this connection cannot be followed by ours.
  if ((socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  writeRawProxyError(socket, rejectCode(reason), reason.replaceAll('_', ' '));
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
