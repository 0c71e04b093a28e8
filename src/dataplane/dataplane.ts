// The data plane: takes each request through validate → split → balance → forward against the
// current routing snapshot, keeps the per-pod health that bends those choices (ejection, slow
// start, draining), and exposes the small control surface the control plane uses.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DiscoverySnapshot, Version, WeightTable } from '../core/types.ts';
import { endpointKey } from '../core/types.ts';
import type { ErrorCode } from '../core/errors.ts';
import { XorShiftRandom, type Random } from '../core/random.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { CidrSet } from '../core/cidr.ts';
import { buildSnapshot, EMPTY_SNAPSHOT, type RoutingSnapshot, type VersionRoute } from './snapshot.ts';
import { pickVersion } from './split.ts';
import { pickEndpoint } from './balancer.ts';
import { UpstreamEndpoint, type EndpointState, type UpstreamOptions } from './upstream.ts';
import { Exchange, type ExchangeOwner, type RetryPolicy, type Target } from './forward.ts';
import { buildUpstreamHeaders, type RequestFacts } from './headers.ts';
import { checkRequestLine, originFormTarget } from './validate.ts';
import { isRefused, markRefused, rejectCode, writeProxyError } from './rescue.ts';
import { RejectStats, VersionStats, type RejectReason } from './stats.ts';
import { RetryBudget } from './retry-budget.ts';
import { UpgradeProxy, type UpgradeOwner } from './upgrade.ts';

export interface DownstreamOptions {
  readonly maxHeaderCount: number;
  readonly maxUrlBytes: number;
  readonly maxInFlight: number;
  readonly trustedProxies: readonly string[];
}

export interface RetryOptions {
  readonly maxRetries: number;
  readonly statuses: readonly number[];
  readonly perTryTimeout: number;
  readonly replayBufferBytes: number;
  readonly replayBufferTotalBytes: number;
  readonly replayHeader: string;
  readonly budgetRatio: number;
  readonly budgetMinPerSecond: number;
}

export interface OutlierOptions {
  readonly consecutiveFailures: number;
  readonly baseEjectionTime: number;
  readonly maxEjectionTime: number;
  readonly maxEjectionPercent: number;
}

/** One sampled request, for an optional access log. */
export interface AccessLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly version: string;
  readonly endpoint: string;
  readonly attempts: number;
  readonly durationMs: number;
  readonly requestId: string;
  readonly failed: boolean;
}

export interface DataPlaneOptions {
  readonly server: DownstreamOptions;
  readonly upstream: UpstreamOptions;
  readonly retry: RetryOptions;
  readonly outlier: OutlierOptions;
  readonly websocket: { readonly idleTimeout: number };
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

export class DataPlane implements ExchangeOwner, UpgradeOwner {
  /** Requests in flight in this process. */
  inFlight = 0;
  readonly rejects = new RejectStats();
  /** Requests answered without any version (no usable endpoint anywhere, overload). */
  readonly unrouted = new VersionStats(UNROUTED);
  readonly retryPolicy: RetryPolicy;
  readonly retryBudget: RetryBudget;
  noTargetCode: ErrorCode = 'GP_NO_ENDPOINT';
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
  readonly #replayHeader: string;
  readonly #upgrade: UpgradeProxy;
  #replayBytesInUse = 0;
  #discoveryLoaded = false;
  #shuttingDown = false;
  #slowStartTimer: NodeJS.Timeout | undefined;

  constructor(options: DataPlaneOptions) {
    this.#options = options;
    this.#random = options.random ?? new XorShiftRandom();
    this.#logger = options.logger ?? silentLogger;
    this.#trusted = new CidrSet(options.server.trustedProxies);
    this.#sampleRate = options.onAccessLog ? (options.accessLogSampleRate ?? 0) : 0;
    this.#replayHeader = options.retry.replayHeader.toLowerCase();
    this.retryPolicy = {
      maxRetries: options.retry.maxRetries,
      statuses: new Set(options.retry.statuses),
      perTryTimeout: options.retry.perTryTimeout,
      responseTimeout: options.upstream.responseTimeout,
      replayBufferBytes: options.retry.replayBufferBytes,
    };
    this.retryBudget = new RetryBudget(options.retry.budgetRatio, options.retry.budgetMinPerSecond);
    this.#upgrade = new UpgradeProxy({ idleTimeout: options.websocket.idleTimeout, logger: this.#logger });
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
    const now = performance.now();
    const initial = !this.#discoveryLoaded;
    const seen = new Set<string>();
    const newlyReady: UpstreamEndpoint[] = [];
    for (const ep of discovery.endpoints) {
      const key = endpointKey(ep.host, ep.port);
      seen.add(key);
      const existing = this.#endpoints.get(key);
      if (existing === undefined) {
        const created = new UpstreamEndpoint(ep, this.#options.upstream);
        this.#endpoints.set(key, created);
        if (created.ready) newlyReady.push(created);
      } else {
        const wasReady = existing.ready && !existing.terminating;
        existing.update(ep);
        if (!wasReady && existing.ready && !existing.terminating) newlyReady.push(existing);
      }
    }
    for (const [key, ep] of this.#endpoints) {
      if (seen.has(key)) continue;
      this.#endpoints.delete(key);
      // Gone from discovery: no new requests from this moment; what it has finishes, then it closes.
      ep.close().catch((err: unknown) => this.#logger.warn({ err, endpoint: key }, 'closing a removed endpoint failed'));
    }
    if (!initial) this.#startSlowStart(newlyReady, now);
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

  /** Starts the shutdown drain: from now on every response carries Connection: close. */
  beginShutdown(): void {
    this.#shuttingDown = true;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Every check before routing, shared by plain requests and WebSocket upgrades: the request
   * line, the header count, the header pass (which fills `facts`) and the target form (into
   * `facts.path`). Returns the headers for the pod, or why the request is refused.
   */
  inspect(req: IncomingMessage, facts: RequestFacts): string[] | RejectReason {
    const line = checkRequestLine(req, this.#options.server.maxUrlBytes);
    if (line !== null) return line;
    if (req.rawHeaders.length > this.#options.server.maxHeaderCount * 2) return 'too_many_headers';
    const headers = buildUpstreamHeaders(req, this.#trusted.has(req.socket.remoteAddress), this.#replayHeader, facts);
    if (typeof headers === 'string') return headers;
    const target = originFormTarget(req.url as string, facts.host);
    if (target.charCodeAt(0) !== 47 /* / */) return target as RejectReason;
    facts.path = target;
    return headers;
  }

  /** Closes every WebSocket tunnel with 1001 "going away". */
  closeTunnels(): void {
    for (const ep of this.#endpoints.values()) ep.closeTunnels();
  }

  #rebuild(): void {
    const previous = this.#snapshot;
    this.#snapshot = buildSnapshot({
      versions: this.#versions,
      weights: this.#weights,
      endpoints: this.#endpoints.values(),
      statsFor: (v) => this.statsFor(v),
      generation: ++this.#generation,
    });
    // Pods that no longer take traffic (state, weight 0, ejection) drain: in-flight requests
    // finish, idle sockets close at once, the rest is cut at the drain deadline.
    const inUse = new Set<UpstreamEndpoint>();
    for (const v of this.#snapshot.routable) for (const ep of v.endpoints) inUse.add(ep);
    // Tunnels count too: a pod that only ever carried WebSockets has no pool, and was never
    // retired, so its tunnels outlived the drain (reliability test 9).
    for (const ep of this.#endpoints.values()) if ((ep.active || ep.tunnels.size > 0) && !inUse.has(ep)) ep.retire();
    if (previous.fallback !== this.#snapshot.fallback) {
      this.#logger.warn({ fallback: this.#snapshot.fallback }, this.#snapshot.fallback ? 'no ready endpoint anywhere: serving-but-terminating endpoints take traffic' : 'ready endpoints are back');
    }
    if (previous.panic !== this.#snapshot.panic) {
      this.#logger.warn({ panic: this.#snapshot.panic }, this.#snapshot.panic ? 'every ready endpoint is ejected: routing to them anyway (panic mode)' : 'panic mode over');
    }
  }

  /**
   * A pod that becomes ready after start-up ramps up over the slow-start window, unless it is the
   * only kind its version has (a whole new ReplicaSet: weights, not slow start, govern its share).
   */
  #startSlowStart(newlyReady: readonly UpstreamEndpoint[], now: number): void {
    const window = this.#options.upstream.slowStartWindow;
    if (window <= 0 || newlyReady.length === 0) return;
    const fresh = new Set(newlyReady);
    for (const ep of newlyReady) {
      const hasSettledPeer = [...this.#endpoints.values()].some((p) => p !== ep && p.version === ep.version && p.routable && !fresh.has(p) && p.slowStartUntil === 0);
      if (!hasSettledPeer) continue;
      ep.readySince = now;
      ep.slowStartUntil = now + window;
    }
    clearTimeout(this.#slowStartTimer);
    this.#slowStartTimer = setTimeout(() => {
      const t = performance.now();
      for (const ep of this.#endpoints.values()) if (ep.slowStartUntil !== 0 && ep.slowStartUntil <= t) ep.slowStartUntil = 0;
      this.#rebuild();
    }, window + 10);
    this.#slowStartTimer.unref();
  }

  /** Graceful: pools finish their requests, then close. */
  async close(): Promise<void> {
    clearTimeout(this.#slowStartTimer);
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.all(all.map((ep) => ep.close()));
  }

  async destroy(): Promise<void> {
    clearTimeout(this.#slowStartTimer);
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    await Promise.all(all.map((ep) => ep.destroy()));
  }

  // ---- the request path ----

  /** Entry point for every proxied request. Never awaits anything. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    // Behind a refusal the connection only closes: a request Node parsed after it (pipelined) never runs.
    if (isRefused(req.socket)) return;
    const exchange = new Exchange(this, req, res, performance.now());
    this.inFlight++;
    this.retryBudget.recordRequest(exchange.startMs);
    // While glidepath drains, answer but let the client reconnect (to a replica that stays).
    if (this.#shuttingDown) res.shouldKeepAlive = false;
    const max = this.#options.server.maxInFlight;
    if (max > 0 && this.inFlight > max) return this.#reject(exchange, 'overloaded');

    const headers = this.inspect(req, exchange);
    if (typeof headers === 'string') return this.#reject(exchange, headers);
    exchange.start(headers);
  }

  /** Entry point for WebSocket upgrades (the server routes only `Upgrade: websocket` here). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (isRefused(socket)) return void socket.end();
    this.#upgrade.handle(req, socket, head, this);
  }

  /** Split, then balance; sets noTargetCode when it returns undefined. */
  pickTarget(_exchange?: Exchange): Target | undefined {
    const version = pickVersion(this.#snapshot, this.#random);
    if (version === undefined) {
      this.noTargetCode = 'GP_NO_ENDPOINT';
      return undefined;
    }
    const endpoint = pickEndpoint(version.endpoints, this.#random, version.slowStart);
    if (endpoint === undefined) {
      this.noTargetCode = 'GP_OVERLOADED';
      return undefined;
    }
    return { version, endpoint };
  }

  /**
   * Where a failed attempt goes next. When the newest version failed and an older one takes
   * traffic, the replay goes to the older (stable) one: a broken canary should cost clients
   * nothing while the evidence against it accumulates. Otherwise another pod of the same
   * version, then of any version.
   */
  pickRetryTarget(exchange: Exchange): Target | undefined {
    const routable = this.#snapshot.routable;
    const failed = exchange.version?.name;
    const exclude = exchange.tried ?? undefined;
    const newest = routable[0];
    if (newest !== undefined && newest.name === failed && routable.length > 1) {
      const older = routable.filter((v) => v.revision < newest.revision).sort((a, b) => b.effectiveWeight - a.effectiveWeight);
      const target = this.#firstPod(older, exclude);
      if (target !== undefined) return target;
    }
    const same = routable.filter((v) => v.name === failed);
    return this.#firstPod(same, exclude) ?? this.#firstPod(routable.filter((v) => v.name !== failed), exclude);
  }

  #firstPod(versions: readonly VersionRoute[], exclude: readonly UpstreamEndpoint[] | undefined): Target | undefined {
    for (const version of versions) {
      const endpoint = pickEndpoint(version.endpoints, this.#random, version.slowStart, exclude);
      if (endpoint !== undefined) return { version, endpoint };
    }
    return undefined;
  }

  acquireRetry(): boolean {
    return this.retryBudget.tryAcquire(performance.now());
  }

  reserveReplayBytes(bytes: number): boolean {
    if (this.#replayBytesInUse + bytes > this.#options.retry.replayBufferTotalBytes) return false;
    this.#replayBytesInUse += bytes;
    return true;
  }

  releaseReplayBytes(bytes: number): void {
    this.#replayBytesInUse -= bytes;
  }

  /** Passive outlier detection: consecutive failures eject a pod for a time that grows on repeats. */
  endpointResult(endpoint: UpstreamEndpoint, failed: boolean): void {
    if (!failed) {
      endpoint.consecutiveFailures = 0;
      return;
    }
    const o = this.#options.outlier;
    if (++endpoint.consecutiveFailures < o.consecutiveFailures || o.consecutiveFailures === 0 || endpoint.ejectedUntil !== 0 || endpoint.removed) return;
    const peers = [...this.#endpoints.values()].filter((ep) => ep.version === endpoint.version && ep.ready && !ep.terminating && !ep.removed);
    const ejected = peers.filter((ep) => ep.ejectedUntil !== 0).length;
    const cap = Math.max(1, Math.floor((peers.length * o.maxEjectionPercent) / 100));
    const healthyLeft = peers.some((ep) => ep !== endpoint && ep.ejectedUntil === 0 && ep.consecutiveFailures === 0);
    if (ejected + 1 > cap && healthyLeft) return;
    const now = performance.now();
    // Ejections are forgiven one per base period spent healthy since the last one ended.
    if (endpoint.lastEjectionEnd > 0) endpoint.ejections = Math.max(0, endpoint.ejections - Math.floor((now - endpoint.lastEjectionEnd) / o.baseEjectionTime));
    endpoint.ejections++;
    const duration = Math.min(o.baseEjectionTime * endpoint.ejections, o.maxEjectionTime);
    endpoint.ejectedUntil = now + duration;
    this.statsFor(endpoint.version).ejections++;
    this.#logger.warn({ endpoint: endpoint.key, version: endpoint.version, consecutiveFailures: endpoint.consecutiveFailures, ejectionMs: duration }, 'endpoint ejected');
    setTimeout(() => {
      endpoint.ejectedUntil = 0;
      endpoint.consecutiveFailures = 0;
      endpoint.lastEjectionEnd = performance.now();
      if (!endpoint.removed) {
        this.#logger.info({ endpoint: endpoint.key, version: endpoint.version }, 'endpoint re-admitted');
        this.#rebuild();
      }
    }, duration).unref();
    this.#rebuild();
  }

  #reject(exchange: Exchange, reason: RejectReason): void {
    this.rejects.record(reason);
    const overloaded = reason === 'overloaded';
    if (!overloaded) markRefused(exchange.req.socket);
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
        attempts: exchange.attempts,
        durationMs,
        requestId: exchange.requestId,
        failed: exchange.failed,
      });
    }
  }
}
