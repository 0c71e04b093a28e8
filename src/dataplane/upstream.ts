// The endpoint stage: one UpstreamEndpoint per pod address, owning that pod's undici pools and
// the per-pod state the balancer reads (outstanding requests, health, slow start, draining).

import { Pool, buildConnector, type Dispatcher } from 'undici';
import type { Duplex } from 'node:stream';
import { endpointKey, type Endpoint } from '../core/types.ts';
import { systemClock, type Clock } from '../core/control.ts';
import type { EndpointState } from '../core/status-view.ts';

export type { EndpointState } from '../core/status-view.ts';

export interface UpstreamOptions {
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly bodyIdleTimeout: number;
  readonly idleTimeout: number;
  readonly maxConnectionsPerEndpoint: number;
  readonly maxPendingPerEndpoint: number;
  readonly drainTimeout: number;
  readonly slowStartWindow: number;
}

/** Set on socket errors: how many bytes the socket had read when it failed (> 0: it was reused). */
export const kBytesReadAtError = Symbol('glidepath.bytesReadAtError');
/** Set on upstream sockets when they connect, and copied onto their errors (the data plane's clock). */
const kOpenedAt = Symbol('glidepath.openedAt');

/** Close code 1001 "going away", as a server-to-client frame. */
const WS_GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/**
 * A pod as the data plane knows it. Lives across routing snapshots (keyed by address), so its
 * counters survive weight changes. It has at most one active pool; a pool it stops using is
 * retired: closed gracefully (in-flight requests finish, idle sockets close at once) and
 * destroyed at the drain deadline.
 */
export class UpstreamEndpoint {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  version: string;
  name: string | undefined;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** Requests dispatched and not yet finished: the balancer's load signal. */
  outstanding = 0;
  /** Set once discovery removed it; it only finishes what it has. */
  removed = false;
  // Outlier detection.
  consecutiveFailures = 0;
  ejectedUntil = 0;
  ejections = 0;
  lastEjectionEnd = 0;
  /** When it last became ready (clock ms); slow start ramps from here. */
  readySince = 0;
  /** End of its slow-start ramp; 0 when it takes a full share. */
  slowStartUntil = 0;
  /** Open WebSocket tunnels (client side, upstream side) through this pod. */
  readonly tunnels = new Set<{ client: Duplex; upstream: Duplex }>();
  #pool: Pool | null = null;
  /** Pools on their way out, with the promise of their graceful close. */
  readonly #retiring = new Map<Pool, Promise<void>>();
  readonly #options: UpstreamOptions;
  readonly #connector: ReturnType<typeof buildConnector>;
  readonly #clock: Clock;

  constructor(endpoint: Endpoint, options: UpstreamOptions, clock: Clock = systemClock) {
    this.key = endpointKey(endpoint.host, endpoint.port);
    this.host = endpoint.host;
    this.port = endpoint.port;
    this.version = endpoint.version;
    this.name = endpoint.name;
    this.ready = endpoint.ready;
    this.serving = endpoint.serving;
    this.terminating = endpoint.terminating;
    this.#options = options;
    this.#clock = clock;
    this.#connector = buildConnector({ timeout: options.connectTimeout });
  }

  /** Applies a newer view of the same address from discovery. */
  update(endpoint: Endpoint): void {
    this.version = endpoint.version;
    this.name = endpoint.name;
    this.ready = endpoint.ready;
    this.serving = endpoint.serving;
    this.terminating = endpoint.terminating;
  }

  get state(): EndpointState {
    if (this.terminating) return 'terminating';
    if (!this.ready) return 'not-ready';
    return this.ejectedUntil > 0 ? 'ejected' : 'ready';
  }

  /** True when new requests may go here in normal operation. */
  get routable(): boolean {
    return this.ready && !this.terminating && !this.removed && this.ejectedUntil === 0;
  }

  /**
   * True when it may take requests as a last resort, while no pod is ready anywhere (kube-proxy's
   * terminating fallback, KEP-1669); the snapshot is then in `fallback` mode.
   */
  get lastResort(): boolean {
    return this.serving && this.terminating && !this.removed;
  }

  /** True when both its connections and its wait queue are full. */
  get saturated(): boolean {
    const o = this.#options;
    return o.maxConnectionsPerEndpoint > 0 && this.outstanding >= o.maxConnectionsPerEndpoint + o.maxPendingPerEndpoint;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return (this.#pool ??= this.#createPool()).dispatch(options, handler);
  }

  #createPool(): Pool {
    const connector = this.#connector;
    const clock = this.#clock;
    const o = this.#options;
    return new Pool(`http://${this.key}`, {
      connections: o.maxConnectionsPerEndpoint > 0 ? o.maxConnectionsPerEndpoint : null,
      pipelining: 1,
      // Our idle timeout is the ceiling: a pod's Keep-Alive hint may only shorten it (minus 1 s),
      // so glidepath, not the pod, closes idle sockets (measured: 0.9 % resets otherwise, see
      // docs/reliability-notes.md, "The upstream keep-alive race").
      keepAliveTimeout: o.idleTimeout,
      keepAliveMaxTimeout: o.idleTimeout,
      keepAliveTimeoutThreshold: 1_000,
      headersTimeout: o.responseTimeout,
      bodyTimeout: o.bodyIdleTimeout,
      connect: (opts, callback) => {
        connector(opts, (...args) => {
          // Registered before undici's own listener, so the error carries the socket's history
          // when the request sees it: bytes read before the failure mean a reused connection.
          // A failed connect calls back with the error alone (args[1] is undefined, not null):
          // `!= null` keeps a refused connection from throwing out of the connector and killing
          // the process (reliability test 2: the first ECONNREFUSED crashed glidepath).
          if (args[1] != null) {
            (args[1] as { [kOpenedAt]?: number })[kOpenedAt] = clock.now();
            args[1].on('error', markBytesRead);
          }
          callback(...args);
        });
      },
    });
  }

  /**
   * Stops using the current pool: no new requests, in-flight ones finish, idle sockets close now,
   * and whatever is left at the drain deadline is cut. WebSocket tunnels are told "going away".
   */
  retire(): void {
    this.closeTunnels();
    const pool = this.#pool;
    if (pool === null) return;
    this.#pool = null;
    const deadline = setTimeout(() => void pool.destroy().catch(() => undefined), this.#options.drainTimeout);
    deadline.unref();
    const closed = pool
      .close()
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(deadline);
        this.#retiring.delete(pool);
      });
    this.#retiring.set(pool, closed);
  }

  /** True while it holds a pool that can take requests. */
  get active(): boolean {
    return this.#pool !== null;
  }

  closeTunnels(): void {
    for (const t of this.tunnels) {
      // Already told (every rebuild retires an unused pod that still has tunnels): no second frame.
      if (t.client.writableEnded) continue;
      t.client.end(WS_GOING_AWAY);
      t.upstream.end();
      setTimeout(() => {
        t.client.destroy();
        t.upstream.destroy();
      }, 1_000).unref();
    }
  }

  /** Graceful: retire, then wait for the retired pools to finish (up to the drain deadline). */
  async close(): Promise<void> {
    this.removed = true;
    this.retire();
    await Promise.all(this.#retiring.values());
  }

  /** Forced: aborts whatever is still running. */
  async destroy(): Promise<void> {
    this.removed = true;
    const pools = [...this.#retiring.keys()];
    if (this.#pool) pools.push(this.#pool);
    this.#pool = null;
    for (const t of this.tunnels) {
      t.client.destroy();
      t.upstream.destroy();
    }
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

function markBytesRead(
  this: { bytesRead: number; [kOpenedAt]?: number },
  err: Error & { [kBytesReadAtError]?: number; [kOpenedAt]?: number },
): void {
  err[kBytesReadAtError] = this.bytesRead;
  err[kOpenedAt] = this[kOpenedAt];
}

/** Bytes the failed socket had read before the error: > 0 means it carried earlier responses. */
export function bytesReadBeforeError(err: unknown): number {
  const e = err as { socket?: { bytesRead?: number }; [kBytesReadAtError]?: number } | null;
  return e?.socket?.bytesRead ?? e?.[kBytesReadAtError] ?? 0;
}

/**
 * The failed socket was open before the attempt began (`attemptAt`, on the same clock): it
 * carried earlier responses, or it sat unused in the pool (opened for a request another socket
 * took). Either way the pod may have closed it as idle while we wrote: the idle-close race.
 * Bytes read alone miss the second kind (reliability test 6 saw resets with 0 bytes read).
 */
export function socketPredates(err: unknown, attemptAt: number): boolean {
  if (bytesReadBeforeError(err) > 0) return true;
  const openedAt = (err as { [kOpenedAt]?: number } | null)?.[kOpenedAt];
  return openedAt !== undefined && openedAt < attemptAt;
}
