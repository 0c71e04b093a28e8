// The endpoint registry: one UpstreamEndpoint per pod address across routing snapshots. It applies
// discovery's view as a diff (new pods created, known ones updated, vanished ones closed), retires
// pods the current snapshot no longer routes to, and runs slow start for pods that become ready.

import type { Clock, ClockTimer } from '../core/control.ts';
import type { Logger } from '../core/log.ts';
import { endpointKey, type Endpoint } from '../core/types.ts';
import type { RoutingSnapshot } from './snapshot.ts';
import { UpstreamEndpoint, type UpstreamOptions } from './upstream.ts';

export class EndpointRegistry {
  readonly #endpoints = new Map<string, UpstreamEndpoint>();
  readonly #options: UpstreamOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Routing must be rebuilt (a slow-start ramp ended). */
  readonly #changed: () => void;
  #slowStartTimer: ClockTimer | undefined;

  constructor(options: UpstreamOptions, clock: Clock, logger: Logger, changed: () => void) {
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
    this.#changed = changed;
  }

  values(): IterableIterator<UpstreamEndpoint> {
    return this.#endpoints.values();
  }

  /**
   * Applies discovery's endpoints. `initial` (the first snapshot) starts no slow start: at start-up
   * every pod is new and none has a settled peer to ramp against.
   */
  apply(endpoints: readonly Endpoint[], initial: boolean): void {
    const now = this.#clock.now();
    const seen = new Set<string>();
    const newlyReady: UpstreamEndpoint[] = [];
    for (const ep of endpoints) {
      const key = endpointKey(ep.host, ep.port);
      seen.add(key);
      const existing = this.#endpoints.get(key);
      if (existing === undefined) {
        const created = new UpstreamEndpoint(ep, this.#options, this.#clock);
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
  }

  /**
   * Pods that no longer take traffic under `snapshot` (state, weight 0, ejection) drain: in-flight
   * requests finish, idle sockets close at once, the rest is cut at the drain deadline.
   */
  retireUnused(snapshot: RoutingSnapshot): void {
    const inUse = new Set<UpstreamEndpoint>();
    for (const v of snapshot.routable) for (const ep of v.endpoints) inUse.add(ep);
    // Tunnels count too: a pod that only ever carried WebSockets has no pool, and was never
    // retired, so its tunnels outlived the drain (reliability test 9).
    for (const ep of this.#endpoints.values()) if ((ep.active || ep.tunnels.size > 0) && !inUse.has(ep)) ep.retire();
  }

  /**
   * A pod that becomes ready after start-up ramps up over the slow-start window, unless it is the
   * only kind its version has (a whole new ReplicaSet: weights, not slow start, govern its share).
   */
  #startSlowStart(newlyReady: readonly UpstreamEndpoint[], now: number): void {
    const window = this.#options.slowStartWindow;
    if (window <= 0 || newlyReady.length === 0) return;
    const fresh = new Set(newlyReady);
    for (const ep of newlyReady) {
      const hasSettledPeer = [...this.#endpoints.values()].some(
        (p) => p !== ep && p.version === ep.version && p.routable && !fresh.has(p) && p.slowStartUntil === 0,
      );
      if (!hasSettledPeer) continue;
      ep.readySince = now;
      ep.slowStartUntil = now + window;
    }
    this.#clock.clearTimeout(this.#slowStartTimer);
    this.#slowStartTimer = this.#clock.setTimeout(() => {
      const t = this.#clock.now();
      for (const ep of this.#endpoints.values()) if (ep.slowStartUntil !== 0 && ep.slowStartUntil <= t) ep.slowStartUntil = 0;
      this.#changed();
    }, window + 10);
    this.#slowStartTimer.unref?.();
  }

  /** Closes every WebSocket tunnel with 1001 "going away". */
  closeTunnels(): void {
    for (const ep of this.#endpoints.values()) ep.closeTunnels();
  }

  /** Graceful: pools finish their requests, then close. */
  async close(): Promise<void> {
    await Promise.all(this.#takeAll().map((ep) => ep.close()));
  }

  /** Forced: aborts whatever is still running. */
  async destroy(): Promise<void> {
    await Promise.all(this.#takeAll().map((ep) => ep.destroy()));
  }

  #takeAll(): UpstreamEndpoint[] {
    this.#clock.clearTimeout(this.#slowStartTimer);
    const all = [...this.#endpoints.values()];
    this.#endpoints.clear();
    return all;
  }
}
