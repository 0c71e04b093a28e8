// The contract between an Exchange and the data plane that owns it: the retry policy, the routing
// choices, the retry budget and replay buffer, and the per-attempt and per-request reports.

import type { Clock, OutcomeObserver } from '../core/control.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Exchange } from './forward.ts';
import type { VersionRoute } from './snapshot.ts';
import type { UpstreamEndpoint } from './upstream.ts';

export interface RetryPolicy {
  readonly maxRetries: number;
  readonly statuses: ReadonlySet<number>;
  /** Statuses of the newest version that replay on an older one during a rollout. */
  readonly canaryStatuses: ReadonlySet<number>;
  /** Response-header wait for an attempt that could be replayed; 0 = responseTimeout. */
  readonly perTryTimeout: number;
  readonly responseTimeout: number;
  readonly replayBufferBytes: number;
}

export interface Target {
  readonly version: VersionRoute;
  readonly endpoint: UpstreamEndpoint;
}

/** What an exchange needs from the data plane that owns it. */
export interface ExchangeOwner {
  readonly retryPolicy: RetryPolicy;
  readonly clock: Clock;
  /** The outcome stream, or null: then each attempt's end costs one null check. */
  readonly observer: OutcomeObserver | null;
  /** First attempt, by weight; sets `exchange.canaryShare`. An error code: nothing can take it. */
  pickTarget(exchange: Exchange): Target | ErrorCode;
  /** A replay target avoiding `exchange.tried`: on the stable version when the canary failed. */
  pickRetryTarget(exchange: Exchange): Target | undefined;
  /** The version is newer than one that takes traffic (a rollout is on, or its canary was just cut). */
  isCanary(version: VersionRoute): boolean;
  /** The retry budget has room (takes nothing); acquireRetry takes a slot; retryRefused counts a refusal. */
  retryAvailable(): boolean;
  acquireRetry(): boolean;
  retryRefused(): void;
  reserveReplayBytes(bytes: number): boolean;
  releaseReplayBytes(bytes: number): void;
  /** Outcome of one attempt against one pod, for outlier detection. */
  endpointResult(endpoint: UpstreamEndpoint, failed: boolean): void;
  /** Called exactly once per exchange, when it is over. */
  exchangeDone(exchange: Exchange): void;
}
