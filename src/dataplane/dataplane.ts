// The data plane: takes each request through validate → split → balance → forward against the
// current routing snapshot, and exposes the control surface (weights, counters, the outcome
// stream) and the read-only status view. Pod health lives in endpoints.ts and outlier.ts.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DiscoverySnapshot, Version, WeightTable } from '../core/types.ts';
import type { ErrorCode } from '../core/errors.ts';
import { systemClock, type Clock, type DataPlaneControl, type OutcomeObserver, type VersionCountersView } from '../core/control.ts';
import type { DataPlaneStatusView, VersionStatus } from '../core/status-view.ts';
import { XorShiftRandom, type Random } from '../core/random.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { CidrSet } from '../core/cidr.ts';
import { buildSnapshot, EMPTY_SNAPSHOT, type RoutingSnapshot, type VersionRoute } from './snapshot.ts';
import { isNewestInRollout, pickRetryTarget, pickTarget } from './route.ts';
import type { UpstreamEndpoint } from './upstream.ts';
import { Exchange, type ExchangeOwner, type RetryPolicy, type Target } from './forward.ts';
import { buildUpstreamHeaders, type RequestFacts } from './headers.ts';
import { checkRequestLine, originFormTarget } from './validate.ts';
import { isRefused, markRefused, rejectCode, writeProxyError } from './rescue.ts';
import { RejectStats, VersionStats, type RejectReason } from './stats.ts';
import { RetryBudget } from './retry-budget.ts';
import { UpgradeProxy, type UpgradeOwner } from './upgrade.ts';
import { ReplayBytes } from './replay-body.ts';
import { EndpointRegistry } from './endpoints.ts';
import { OutlierDetector } from './outlier.ts';
import type { DataPlaneOptions } from './options.ts';

export type { AccessLogEntry, DataPlaneOptions, DownstreamOptions, OutlierOptions, RetryOptions } from './options.ts';
export type { VersionStatus } from '../core/status-view.ts';

/** Version label for requests no version could take. */
export const UNROUTED = '(none)';

const ALL_5XX: readonly number[] = Array.from({ length: 100 }, (_, i) => 500 + i); // retry.canaryStatuses' default

export class DataPlane implements ExchangeOwner, UpgradeOwner, DataPlaneControl, DataPlaneStatusView {
  /** Requests in flight in this process. */
  inFlight = 0;
  readonly rejects = new RejectStats();
  /** Requests answered without any version (no usable endpoint anywhere, overload). */
  readonly unrouted = new VersionStats(UNROUTED);
  readonly retryPolicy: RetryPolicy;
  readonly retryBudget: RetryBudget;
  /** All time the data plane reads, request path included: a call through it measured the same as
   * performance.now() (~60 ns each), and one time base keeps stamps, socket ages and timers comparable. */
  readonly clock: Clock;
  observer: OutcomeObserver | null = null;
  #snapshot: RoutingSnapshot = EMPTY_SNAPSHOT;
  #generation = 0;
  #versions: readonly Version[] = [];
  #weights: WeightTable = {};
  readonly #registry: EndpointRegistry;
  readonly #outlier: OutlierDetector;
  readonly #stats = new Map<string, VersionStats>();
  readonly #options: DataPlaneOptions;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #trusted: CidrSet;
  readonly #sampleRate: number;
  readonly #replayHeader: string;
  readonly #upgrade: UpgradeProxy;
  readonly #replayBytes: ReplayBytes;
  #discoveryLoaded = false;
  #shuttingDown = false;

  constructor(options: DataPlaneOptions) {
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.#random = options.random ?? new XorShiftRandom();
    this.#logger = options.logger ?? silentLogger;
    this.#trusted = new CidrSet(options.server.trustedProxies);
    this.#sampleRate = options.onAccessLog ? (options.accessLogSampleRate ?? 0) : 0;
    this.#replayHeader = options.retry.replayHeader.toLowerCase();
    this.retryPolicy = {
      maxRetries: options.retry.maxRetries,
      statuses: new Set(options.retry.statuses),
      canaryStatuses: new Set(options.retry.canaryStatuses ?? ALL_5XX),
      perTryTimeout: options.retry.perTryTimeout,
      responseTimeout: options.upstream.responseTimeout,
      replayBufferBytes: options.retry.replayBufferBytes,
    };
    this.retryBudget = new RetryBudget(options.retry.budgetRatio, options.retry.budgetMinPerSecond);
    this.#replayBytes = new ReplayBytes(options.retry.replayBufferTotalBytes);
    this.#upgrade = new UpgradeProxy({ idleTimeout: options.websocket.idleTimeout, logger: this.#logger });
    const rebuild = (): void => this.#rebuild();
    this.#registry = new EndpointRegistry(options.upstream, this.clock, this.#logger, rebuild);
    this.#outlier = new OutlierDetector(options.outlier, this.clock, this.#logger, {
      endpoints: () => this.#registry.values(),
      ejected: (ep) => this.statsFor(ep.version).ejections++,
      changed: rebuild,
    });
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
    this.#registry.apply(discovery.endpoints, !this.#discoveryLoaded);
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

  /** Installs (or with null removes) the single observer of every request's outcome. */
  setOutcomeObserver(observer: OutcomeObserver | null): void {
    this.observer = observer;
  }

  versionCounters(): readonly VersionCountersView[] {
    return [...this.#stats.values()];
  }

  statsFor(version: string): VersionStats {
    let stats = this.#stats.get(version);
    if (stats === undefined) this.#stats.set(version, (stats = new VersionStats(version)));
    return stats;
  }

  /** Every version the data plane has seen, with its counters since start. */
  versionStatus(): VersionStatus[] {
    const all = [...this.#registry.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    return this.#snapshot.versions.map((v) => ({
      name: v.name,
      revision: v.revision,
      weight: v.weight,
      effectiveWeight: v.effectiveWeight,
      endpoints: all
        .filter((ep) => ep.version === v.name)
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
    this.#registry.closeTunnels();
  }

  #rebuild(): void {
    const previous = this.#snapshot;
    this.#snapshot = buildSnapshot({
      versions: this.#versions,
      weights: this.#weights,
      endpoints: this.#registry.values(),
      statsFor: (v) => this.statsFor(v),
      generation: ++this.#generation,
    });
    this.#registry.retireUnused(this.#snapshot);
    if (previous.fallback !== this.#snapshot.fallback) {
      this.#logger.warn(
        { fallback: this.#snapshot.fallback },
        this.#snapshot.fallback ? 'no ready endpoint anywhere: serving-but-terminating endpoints take traffic' : 'ready endpoints are back',
      );
    }
    if (previous.panic !== this.#snapshot.panic) {
      this.#logger.warn(
        { panic: this.#snapshot.panic },
        this.#snapshot.panic ? 'every ready endpoint is ejected: routing to them anyway (panic mode)' : 'panic mode over',
      );
    }
  }

  /** Graceful: pools finish their requests, then close (destroy: at once). */
  close(): Promise<void> {
    return this.#registry.close();
  }
  destroy(): Promise<void> {
    return this.#registry.destroy();
  }

  // ---- the request path ----

  /** Entry point for every proxied request. Never awaits anything. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    // Behind a refusal the connection only closes: a request Node parsed after it (pipelined) never runs.
    if (isRefused(req.socket)) return;
    const exchange = new Exchange(this, req, res, this.clock.now());
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

  /** Split, then balance: a target, or why there is none. Keeps ρ on the exchange. */
  pickTarget(exchange?: Exchange): Target | ErrorCode {
    if (exchange !== undefined) exchange.canaryShare = this.#snapshot.canaryShare;
    return pickTarget(this.#snapshot, this.#random, this.clock);
  }

  pickRetryTarget(exchange: Exchange): Target | undefined {
    return pickRetryTarget(this.#snapshot, this.#random, this.clock, exchange.version?.name, exchange.tried ?? undefined);
  }

  isCanary(version: VersionRoute): boolean {
    return isNewestInRollout(this.#snapshot, version.name);
  }

  retryAvailable(): boolean {
    return this.retryBudget.available(this.clock.now());
  }
  acquireRetry(): boolean {
    return this.retryBudget.tryAcquire(this.clock.now());
  }
  retryRefused(): void {
    this.retryBudget.exhausted++;
  }
  reserveReplayBytes(bytes: number): boolean {
    return this.#replayBytes.reserve(bytes);
  }
  releaseReplayBytes(bytes: number): void {
    this.#replayBytes.release(bytes);
  }

  /** Passive outlier detection: consecutive failures eject a pod for a time that grows on repeats. */
  endpointResult(endpoint: UpstreamEndpoint, failed: boolean): void {
    this.#outlier.result(endpoint, failed);
  }

  #reject(exchange: Exchange, reason: RejectReason): void {
    this.rejects.record(reason);
    const overloaded = reason === 'overloaded';
    if (!overloaded) markRefused(exchange.req.socket);
    // A refused request may leave unread or ambiguous body bytes behind: close the connection.
    writeProxyError(exchange.res, rejectCode(reason), {
      close: !overloaded,
      retryAfter: overloaded ? 1 : undefined,
      detail: overloaded ? undefined : reason.replaceAll('_', ' '),
    });
    exchange.status = exchange.res.statusCode;
    exchange.failed = overloaded;
    exchange.finish();
  }

  exchangeDone(exchange: Exchange): void {
    this.inFlight--;
    const durationMs = this.clock.now() - exchange.startMs;
    const stats = exchange.version?.stats ?? this.unrouted;
    if (exchange.clientGone) stats.recordClientAbort();
    else stats.recordRequest(exchange.status, exchange.failed, durationMs);
    const observer = this.observer;
    if (observer !== null)
      observer.requestDone(exchange.firstVersion?.name ?? UNROUTED, exchange.failed && !exchange.clientGone, exchange.clientGone);
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
