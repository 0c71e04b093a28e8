// WebSocket tunnels: validated upgrades proxied with http-proxy (its only importer), tunnelled only
// after a 101 whose Sec-WebSocket-Accept matches the key, counted per version, closed on drain.

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import type { Logger } from '../core/log.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { RequestFacts } from './headers.ts';
import { classifyUpstreamError, rejectCode, writeRawProxyError } from './rescue.ts';
import { OUTCOME_INDEX, type RejectReason, type RejectStats } from './stats.ts';
import type { Target } from './forward.ts';
import type { UpstreamEndpoint } from './upstream.ts';
import type { VersionRoute } from './snapshot.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/** What the upgrade path needs from the data plane. */
export interface UpgradeOwner {
  readonly rejects: RejectStats;
  readonly shuttingDown: boolean;
  /** A target, or the error code that says why there is none. */
  pickTarget(): Target | ErrorCode;
  /** The checks every request gets before routing; fills `facts`, returns headers or a refusal. */
  inspect(req: IncomingMessage, facts: RequestFacts): string[] | RejectReason;
  endpointResult(endpoint: UpstreamEndpoint, failed: boolean): void;
}

interface TunnelContext {
  readonly expectedAccept: string;
  readonly version: VersionRoute;
  readonly endpoint: UpstreamEndpoint;
  /** Set once we refused the pod's 101; http-proxy's own writes after that must go nowhere. */
  refused: boolean;
  upgraded: boolean;
}

const kTunnel = Symbol('glidepath.tunnel');
type TunnelRequest = IncomingMessage & { [kTunnel]?: TunnelContext };

export class UpgradeProxy {
  readonly #proxy: httpProxy;
  readonly #idleTimeout: number;
  readonly #logger: Logger;

  constructor(options: { idleTimeout: number; logger: Logger }) {
    this.#idleTimeout = options.idleTimeout;
    this.#logger = options.logger;
    this.#proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: false });
    // The hook runs before http-proxy registers its own 'upgrade' listener; prepending ours
    // lets us inspect the pod's 101 before anything reaches the client.
    this.#proxy.on('proxyReqWs', (proxyReq, req, socket) => {
      const ctx = (req as TunnelRequest)[kTunnel];
      if (ctx === undefined) return;
      proxyReq.prependListener('upgrade', (proxyRes: IncomingMessage, proxySocket: Duplex) =>
        this.#onUpstreamUpgrade(ctx, socket as Duplex, proxyRes, proxySocket),
      );
      proxyReq.prependListener('response', (res: IncomingMessage) => {
        // Not a 101: http-proxy relays it as plain HTTP. The attempt still counts for the version.
        ctx.version.stats.recordAttempt((res.statusCode ?? 0) >= 500 ? OUTCOME_INDEX.http_5xx : OUTCOME_INDEX.success);
      });
    });
    this.#proxy.on('error', () => undefined);
  }

  handle(req: IncomingMessage, socket: Duplex, head: Buffer, owner: UpgradeOwner): void {
    socket.on('error', () => socket.destroy());
    const reject = (reason: RejectReason, detail: string): void => {
      owner.rejects.record(reason);
      writeRawProxyError(socket, rejectCode(reason), detail);
    };
    if (owner.shuttingDown) return reject('shutting_down', 'glidepath is shutting down');
    // RFC 6455 §4.1: GET on HTTP/1.1, Upgrade: websocket, version 13, a 16-byte base64 nonce.
    const key = single(req, 'sec-websocket-key');
    if (
      req.method !== 'GET' ||
      req.httpVersion !== '1.1' ||
      single(req, 'upgrade')?.toLowerCase() !== 'websocket' ||
      single(req, 'sec-websocket-version') !== '13' ||
      key === undefined ||
      !KEY_RE.test(key) ||
      Buffer.from(key, 'base64').length !== 16
    ) {
      return reject(
        'bad_websocket',
        'a WebSocket upgrade needs GET over HTTP/1.1, Upgrade: websocket, Sec-WebSocket-Version: 13 and a 16-byte base64 Sec-WebSocket-Key',
      );
    }
    const facts: RequestFacts = {
      host: undefined,
      path: '/',
      requestId: '',
      chunked: false,
      contentLength: -1,
      replayMarked: false,
      replayForbidden: false,
    };
    const headers = owner.inspect(req, facts);
    if (typeof headers === 'string') return reject(headers, headers.replaceAll('_', ' '));
    const target = owner.pickTarget();
    if (typeof target === 'string') {
      writeRawProxyError(socket, 'GP_NO_ENDPOINT', 'no usable endpoint for this WebSocket');
      return;
    }
    // http-proxy copies req.headers; give it the cleaned set plus the upgrade pair it must carry.
    const outgoing: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      outgoing[name] = outgoing[name] === undefined ? (headers[i + 1] as string) : `${outgoing[name]}, ${headers[i + 1] as string}`;
    }
    outgoing.connection = 'Upgrade';
    outgoing.upgrade = 'websocket';
    req.headers = outgoing;
    req.url = facts.path;
    const ctx: TunnelContext = {
      expectedAccept: createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64'),
      version: target.version,
      endpoint: target.endpoint,
      refused: false,
      upgraded: false,
    };
    (req as TunnelRequest)[kTunnel] = ctx;
    this.#proxy.ws(req, socket, head, { target: `http://${target.endpoint.key}` }, (err: Error) => {
      if (ctx.upgraded || ctx.refused) return;
      const failure = classifyUpstreamError(err);
      if (failure.outcome >= 0) {
        target.version.stats.recordAttempt(failure.outcome);
        owner.endpointResult(target.endpoint, true);
      }
      if (socket.writable) writeRawProxyError(socket, failure.code, 'the WebSocket upgrade failed upstream');
    });
  }

  #onUpstreamUpgrade(ctx: TunnelContext, client: Duplex, proxyRes: IncomingMessage, upstream: Duplex): void {
    const accept = proxyRes.headers['sec-websocket-accept'];
    if ((proxyRes.headers.upgrade ?? '').toLowerCase() !== 'websocket' || accept !== ctx.expectedAccept) {
      // A 101 without the right accept is how WebSocket smuggling starts (github.com/0ang3el/websocket-smuggle): never tunnel.
      ctx.refused = true;
      upstream.destroy();
      ctx.version.stats.recordAttempt(OUTCOME_INDEX.protocol_error);
      writeRawProxyError(client, 'GP_UPSTREAM_BAD_RESPONSE', 'the pod answered 101 without a matching Sec-WebSocket-Accept');
      this.#logger.warn(
        { endpoint: ctx.endpoint.key, version: ctx.version.name },
        'refused a WebSocket 101 with a wrong Sec-WebSocket-Accept',
      );
      return;
    }
    ctx.upgraded = true;
    const stats = ctx.version.stats;
    stats.recordAttempt(OUTCOME_INDEX.success);
    stats.tunnelsOpen++;
    stats.tunnelsTotal++;
    const tunnel = { client, upstream };
    ctx.endpoint.tunnels.add(tunnel);
    // Node's request timeouts stop applying once the socket is ours: idle tunnels need their own.
    const idle = (): void => {
      client.destroy();
      upstream.destroy();
    };
    if (this.#idleTimeout > 0) {
      (client as Socket).setTimeout(this.#idleTimeout, idle);
      (upstream as Socket).setTimeout(this.#idleTimeout, idle);
    }
    client.once('close', () => {
      ctx.endpoint.tunnels.delete(tunnel);
      stats.tunnelsOpen--;
      upstream.destroy();
    });
    upstream.once('close', () => client.destroy());
  }
}

function single(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? undefined : v;
}
