// Passive outlier detection (Envoy's outlier_detection, consecutive-failure form): every attempt's
// result against a pod feeds it; consecutive failures eject the pod for a time that grows on repeats.

import type { Clock } from '../core/control.ts';
import type { Logger } from '../core/log.ts';
import type { OutlierOptions } from './options.ts';
import type { UpstreamEndpoint } from './upstream.ts';

export interface OutlierHooks {
  /** Every pod the data plane knows (the peers a cap is computed over). */
  endpoints(): Iterable<UpstreamEndpoint>;
  /** A pod was ejected (counted against its version). */
  ejected(endpoint: UpstreamEndpoint): void;
  /** Routing must be rebuilt: a pod left or came back. */
  changed(): void;
}

export class OutlierDetector {
  readonly #options: OutlierOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #hooks: OutlierHooks;

  constructor(options: OutlierOptions, clock: Clock, logger: Logger, hooks: OutlierHooks) {
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
    this.#hooks = hooks;
  }

  /** Outcome of one attempt against one pod. A success is one store; a failure may eject. */
  result(endpoint: UpstreamEndpoint, failed: boolean): void {
    if (!failed) {
      endpoint.consecutiveFailures = 0;
      return;
    }
    const o = this.#options;
    if (
      ++endpoint.consecutiveFailures < o.consecutiveFailures ||
      o.consecutiveFailures === 0 ||
      endpoint.ejectedUntil !== 0 ||
      endpoint.removed
    )
      return;
    const peers = [...this.#hooks.endpoints()].filter(
      (ep) => ep.version === endpoint.version && ep.ready && !ep.terminating && !ep.removed,
    );
    const ejected = peers.filter((ep) => ep.ejectedUntil !== 0).length;
    const cap = Math.max(1, Math.floor((peers.length * o.maxEjectionPercent) / 100));
    const healthyLeft = peers.some((ep) => ep !== endpoint && ep.ejectedUntil === 0 && ep.consecutiveFailures === 0);
    if (ejected + 1 > cap && healthyLeft) return;
    const now = this.#clock.now();
    // Ejections are forgiven one per base period spent healthy since the last one ended.
    if (endpoint.lastEjectionEnd > 0)
      endpoint.ejections = Math.max(0, endpoint.ejections - Math.floor((now - endpoint.lastEjectionEnd) / o.baseEjectionTime));
    endpoint.ejections++;
    const duration = Math.min(o.baseEjectionTime * endpoint.ejections, o.maxEjectionTime);
    endpoint.ejectedUntil = now + duration;
    this.#hooks.ejected(endpoint);
    this.#logger.warn(
      { endpoint: endpoint.key, version: endpoint.version, consecutiveFailures: endpoint.consecutiveFailures, ejectionMs: duration },
      'endpoint ejected',
    );
    this.#clock.setTimeout(() => this.#readmit(endpoint), duration).unref?.();
    this.#hooks.changed();
  }

  #readmit(endpoint: UpstreamEndpoint): void {
    endpoint.ejectedUntil = 0;
    endpoint.consecutiveFailures = 0;
    endpoint.lastEjectionEnd = this.#clock.now();
    if (endpoint.removed) return;
    this.#logger.info({ endpoint: endpoint.key, version: endpoint.version }, 'endpoint re-admitted');
    this.#hooks.changed();
  }
}
