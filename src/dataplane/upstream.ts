// The endpoint stage: one UpstreamEndpoint per pod address, owning that pod's undici pool and
// the per-pod state the balancer reads (outstanding requests, health, lifecycle).

import { Pool, buildConnector, type Dispatcher } from 'undici';
import { endpointKey, type Endpoint } from '../core/types.ts';

export interface UpstreamOptions {
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly bodyIdleTimeout: number;
  readonly idleTimeout: number;
  readonly maxConnectionsPerEndpoint: number;
}

/** Set on socket errors: how many bytes the socket had read when it failed (> 0: it was reused). */
export const kBytesReadAtError = Symbol('glidepath.bytesReadAtError');

/** The state shown in /status and the metrics. */
export type EndpointState = 'ready' | 'not-ready' | 'terminating' | 'ejected';

/**
 * A pod as the data plane knows it. Lives across routing snapshots (keyed by address), so its
 * counters and pool survive weight changes; it is closed when discovery drops the address.
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
  readonly #pool: Pool;

  constructor(endpoint: Endpoint, options: UpstreamOptions) {
    this.key = endpointKey(endpoint.host, endpoint.port);
    this.host = endpoint.host;
    this.port = endpoint.port;
    this.version = endpoint.version;
    this.name = endpoint.name;
    this.ready = endpoint.ready;
    this.serving = endpoint.serving;
    this.terminating = endpoint.terminating;
    const connector = buildConnector({ timeout: options.connectTimeout });
    this.#pool = new Pool(`http://${this.key}`, {
      connections: options.maxConnectionsPerEndpoint > 0 ? options.maxConnectionsPerEndpoint : null,
      pipelining: 1,
      // Our idle timeout is the ceiling: a pod's Keep-Alive hint may only shorten it (minus 1 s),
      // so glidepath, not the pod, closes idle sockets (research §2.3: 0.9 % resets otherwise).
      keepAliveTimeout: options.idleTimeout,
      keepAliveMaxTimeout: options.idleTimeout,
      keepAliveTimeoutThreshold: 1_000,
      headersTimeout: options.responseTimeout,
      bodyTimeout: options.bodyIdleTimeout,
      connect: (opts, callback) => {
        connector(opts, (...args) => {
          // Registered before undici's own listener, so the error carries the socket's history
          // when the request sees it: bytes read before the failure mean a reused connection.
          if (args[1] !== null) args[1].on('error', markBytesRead);
          callback(...args);
        });
      },
    });
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
    return this.ready ? 'ready' : 'not-ready';
  }

  /** True when new requests may go here. */
  get routable(): boolean {
    return this.ready && !this.terminating && !this.removed;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#pool.dispatch(options, handler);
  }

  /** Graceful: in-flight and queued requests finish, idle sockets close, then the pool is gone. */
  close(): Promise<void> {
    this.removed = true;
    return this.#pool.close();
  }

  /** Forced: aborts whatever is still running. */
  destroy(): Promise<void> {
    this.removed = true;
    return this.#pool.destroy();
  }
}

function markBytesRead(this: { bytesRead: number }, err: Error & { [kBytesReadAtError]?: number }): void {
  err[kBytesReadAtError] = this.bytesRead;
}
