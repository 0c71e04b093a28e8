// The data plane's settings as it receives them: resolved config sections (durations in ms) plus
// the injectable parts (clock, randomness, logger, access-log sink) that tests replace.

import type { Clock } from '../core/control.ts';
import type { Random } from '../core/random.ts';
import type { Logger } from '../core/log.ts';
import type { UpstreamOptions } from './upstream.ts';

export interface DownstreamOptions {
  readonly maxHeaderCount: number;
  readonly maxUrlBytes: number;
  readonly maxInFlight: number;
  readonly trustedProxies: readonly string[];
}

export interface RetryOptions {
  readonly maxRetries: number;
  readonly statuses: readonly number[];
  /**
   * During a rollout, statuses of the newest version that make an idempotent request replay on an
   * older one (default every 5xx); absent: none beyond `statuses`.
   */
  readonly canaryStatuses?: readonly number[];
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
  /** Time for every decision and timer of the data plane; systemClock when absent. */
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  /** Share of requests (0..1) passed to onAccessLog. */
  readonly accessLogSampleRate?: number;
  readonly onAccessLog?: (entry: AccessLogEntry) => void;
}
