// The seams the control plane talks through: a clock, the per-request outcome stream, and the
// small control surface of the data plane. Interfaces only; the data plane implements them.

import type { WeightTable } from './types.ts';

/** Time as the data plane and the controller read it, so decisions can be tested tick by tick. */
export interface Clock {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (Date.now() in production), for records and Kubernetes. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export interface ClockTimer {
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/**
 * How a first attempt counts as evidence about the version that served it:
 * OK (a response below 500), FAILED (a 5xx, a transport error, a timeout), or EXCLUDED (not the
 * version's doing: the client went away, the pod was draining, a keep-alive race on a reused socket).
 */
export const ATTEMPT_OK = 0;
export const ATTEMPT_FAILED = 1;
export const ATTEMPT_EXCLUDED = 2;
export type AttemptVerdict = typeof ATTEMPT_OK | typeof ATTEMPT_FAILED | typeof ATTEMPT_EXCLUDED;

/**
 * Receives every request's outcome on the request path, synchronously: implementations must be
 * O(1), allocation-free in the steady state, and never throw. Two calls per client request.
 */
export interface OutcomeObserver {
  /**
   * The first attempt of a request ended. `canaryShare` is the share (0..1) of first attempts the
   * snapshot routed to the newest version when this request was routed (ρ of the sequential tests);
   * replays never reach this method, so a replay on stable never hides a broken canary.
   */
  firstAttempt(version: string, canaryShare: number, verdict: AttemptVerdict, latencyMs: number): void;
  /** The client request ended; `version` is the version of its first attempt (the budget's unit). */
  requestDone(version: string, clientFailed: boolean, clientGone: boolean): void;
}

/** Counters of one version, read-only, as the control plane and telemetry see them. */
export interface VersionCountersView {
  readonly version: string;
  readonly requests: number;
  readonly failures: number;
  readonly clientAborts: number;
}

/** What the controller may do to the data plane; nothing else crosses from control to data. */
export interface DataPlaneControl {
  /** Replaces the weights (basis points per version name); takes effect for the next request. */
  setWeights(weights: WeightTable): void;
  readonly weights: WeightTable;
  /** Per-version counters since start. */
  versionCounters(): readonly VersionCountersView[];
  /** Installs (or with null removes) the outcome stream's single observer. */
  setOutcomeObserver(observer: OutcomeObserver | null): void;
}
