// The data plane: takes each request through validate → split → balance → forward against the
// current routing snapshot, and exposes the small control surface the control plane uses.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DiscoverySnapshot, Version, WeightTable } from '../core/types.ts';
import { endpointKey } from '../core/types.ts';
import { XorShiftRandom, type Random } from '../core/random.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { CidrSet } from '../core/cidr.ts';
import { buildSnapshot, EMPTY_SNAPSHOT, type RoutingSnapshot } from './snapshot.ts';
import { pickVersion } from './split.ts';
import { pickEndpoint } from './balancer.ts';
import { UpstreamEndpoint, type EndpointState, type UpstreamOptions } from './upstream.ts';
import { Exchange, type ExchangeOwner } from './forward.ts';
import { buildUpstreamHeaders } from './headers.ts';
import { checkRequestLine, originFormTarget } from './validate.ts';
import { rejectCode, writeProxyError } from './rescue.ts';
import { RejectStats, VersionStats, type RejectReason } from './stats.ts';

export interface DownstreamOptions {
  readonly maxHeaderCount: number;
  readonly maxUrlBytes: number;
  readonly maxInFlight: number;
  readonly trustedProxies: readonly string[];
}

/** One sampled request, for an optional access log. */
export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly version: string;
  readonly endpoint: string;
  readonly durationMs: number;
  readonly requestId: string;
  readonly failed: boolean;
}

export interface DataPlaneOptions {
  readonly server: DownstreamOptions;
  readonly upstream: UpstreamOptions;
  readonly random?: Random;
  readonly logger?: Logger;
  /** Share of requests (0..1) passed to onAccessLog. */
  readonly accessLogSampleRate?: number;
  readonly onAccessLog?: (entry: AccessLogEntry) => void;
}

/** Read-only view for /status and metrics. */
export interface VersionStatus {
  readonly name: string;
  readonly revision: number;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly endpoints: readonly { readonly address: string; readonly name?: string | undefined; readonly state: EndpointState; readonly outstanding: number }[];
  readonly stats: VersionStats;
}

/** Version label for requests no version could take. */
export const UNROUTED = '(none)';

export class DataPlane implements ExchangeOwner {
  /** Requests in flight in this process. */
  inFlight = 0;
  readonly rejects = new RejectStats();
  /** Requests answered without any version (no usable endpoint anywhere, overload). */
  readonly unrouted = new VersionStats(UNROUTED);
  #snapshot: RoutingSnapshot = EMPTY_SNAPSHOT;
  #generation = 0;
  #versions: readonly Version[] = [];
  #weights: WeightTable = {};
  readonly #endpoints = new Map<string, UpstreamEndpoint>();
  readonly #stats = new Map<string, VersionStats>();
  readonly #options: DataPlaneOptions;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #trusted: CidrSet;
  readonly #sampleRate: number;
  #discoveryLoaded = false;

  constructor(options: DataPlaneOptions) {
    this.#options = options;
    this.#random = options.random ?? new XorShiftRandom();
    this.#logger = options.logger ?? silentLogger;
    this.#trusted = new CidrSet(options.server.trustedProxies);
    this.#sampleRate = options.onAccessLog ? (options.accessLogSampleRate ?? 0) : 0;
  }

  get snapshot(): RoutingSnapshot {
    return this.#snapshot;
  }

  /** True once a first discovery snapshot was applied. */
  get loaded(): boolean {
    return this.#discoveryLoaded;
  }

  // ---- control surface (off the request path) ----

  /** Applies what discovery reports: versions and endpoints (and weights when the source has them). */
  applyDiscovery(discovery: DiscoverySnapshot): void {
    const seen = new Set<string>();
    for (const ep of discovery.endpoints) {
      const key = endpointKey(ep.host, ep.port);
      seen.add(key);
      const existing = this.#endpoints.get(key);
      if (existing === undefined) this.#endpoints.set(key, new UpstreamEndpoint(ep, this.#options.upstream));
      else existing.update(ep);
    }
    for (const [key, ep] of this.#endpoints) {
      if (seen.has(key)) continue;
      this.#endpoints.delete(key);
      // Gone from discovery: no new requests from this moment; what it has finishes, then it closes.
      ep.close().catch((err: unknown) => this.#logger.warn({ err, endpoint: key }, 'closing a removed endpoint failed'));
    }
    this.#versions = discovery.versions;
    if (discovery.weights !== undefined) this.#weights = discovery.weights;
    this.#discoveryLoaded = true;
    this.#rebuild();
  }

  /** Replaces the weights (basis points per version name); takes effect for the next request. */
  setWeights(weights: WeightTable): void {
    this.#weights = { ...weights };
    this.#rebuild();
  }

  get weights(): WeightTable {
    return this.#weights;
  }

  statsFor(version: string): VersionStats {
    let stats = this.#stats.get(version);
    if (stats === undefined) this.#stats.set(version, (stats = new VersionStats(version)));
    return stats;
  }

  /** Every version the data plane has seen, with its counters since start. */
  versionStatus(): VersionStatus[] {
    return this.#snapshot.versions.map((v) => ({
      name: v.name,
      revision: v.revision,
      weight: v.weight,
      effectiveWeight: v.effectiveWeight,
      endpoints: [...this.#endpoints.values()]
        .filter((ep) => ep.version === v.name)
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((ep) => ({ address: ep.key, name: ep.name, state: ep.state, outstanding: ep.outstanding })),
      stats: v.stats,
    }));
  }

  #rebuild(): void {
    this.#snapshot = buildSnapshot({
      versions: this.#versions,
      weights: this.#weights,
      endpoints: this.#endpoints.values(),
      statsFor: (v) => this.statsFor(v),
      generation: ++this.#generation,
    });
  }

  /** Graceful: pools finish their requests, then close. */
  async close(): Promise<void> {
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.all(all.map((ep) => ep.close()));
  }

  async destroy(): Promise<void> {
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.all(all.map((ep) => ep.destroy()));
  }

  // ---- the request path ----

  /** Entry point for every proxied request. Never awaits anything. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const exchange = new Exchange(this, req, res, performance.now());
    this.inFlight++;
    const max = this.#options.server.maxInFlight;
    if (max > 0 && this.inFlight > max) return this.#reject(exchange, 'overloaded');

    let reason = checkRequestLine(req, this.#options.server.maxUrlBytes);
    if (reason === null && req.rawHeaders.length > this.#options.server.maxHeaderCount * 2) reason = 'too_many_headers';
    if (reason !== null) return this.#reject(exchange, reason);
    const headers = buildUpstreamHeaders(req, this.#trusted.has(req.socket.remoteAddress), exchange);
    if (typeof headers === 'string') return this.#reject(exchange, headers);
    const target = originFormTarget(req.url as string, exchange.host);
    if (target.charCodeAt(0) !== 47 /* / */) return this.#reject(exchange, target as RejectReason);

    const snapshot = this.#snapshot;
    const version = pickVersion(snapshot, this.#random);
    const endpoint = version === undefined ? undefined : pickEndpoint(version.endpoints, this.#random);
    if (version === undefined || endpoint === undefined) {
      writeProxyError(res, 'GP_NO_ENDPOINT', { requestId: exchange.requestId });
      exchange.status = 503;
      exchange.failed = true;
      return exchange.finish();
    }
    exchange.version = version;
    exchange.dispatch(endpoint, target, headers);
  }

  #reject(exchange: Exchange, reason: RejectReason): void {
    this.rejects.record(reason);
    const overloaded = reason === 'overloaded';
    // A refused request may leave unread or ambiguous body bytes behind: close the connection.
    writeProxyError(exchange.res, rejectCode(reason), { close: !overloaded, retryAfter: overloaded ? 1 : undefined, detail: overloaded ? undefined : reason.replaceAll('_', ' ') });
    exchange.status = exchange.res.statusCode;
    exchange.failed = overloaded;
    exchange.finish();
  }

  exchangeDone(exchange: Exchange): void {
    this.inFlight--;
    const durationMs = performance.now() - exchange.startMs;
    const stats = exchange.version?.stats ?? this.unrouted;
    if (exchange.clientGone) stats.recordClientAbort();
    else stats.recordRequest(exchange.status, exchange.failed, durationMs);
    if (this.#sampleRate > 0 && this.#random.int(1_000_000) < this.#sampleRate * 1_000_000) {
      this.#options.onAccessLog?.({
        method: exchange.req.method ?? '',
        path: exchange.req.url ?? '',
        status: exchange.status,
        version: exchange.version?.name ?? UNROUTED,
        endpoint: exchange.endpoint?.key ?? '',
        durationMs,
        requestId: exchange.requestId,
        failed: exchange.failed,
      });
    }
  }
}
