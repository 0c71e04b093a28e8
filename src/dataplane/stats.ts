// Counters the hot path increments (per version, per rejection reason); telemetry and the
// rollout controller read them off the request path. Plain numbers, preallocated, no calls out.

import { DURATION_BUCKETS, OUTCOMES, REJECT_REASONS, type RejectReason } from '../core/outcomes.ts';

// The vocabularies live in core (telemetry, admin and the rollout read them too); re-exported for
// the data plane's own modules.
export { DURATION_BUCKETS, OUTCOME_INDEX, OUTCOMES, REJECT_REASONS, type Outcome, type RejectReason } from '../core/outcomes.ts';

const BUCKET_MS = DURATION_BUCKETS.map((s) => s * 1000);

/**
 * Counters of one version since start. Client requests are counted once, with their final
 * status, against the version that answered last; attempts are counted each, against the
 * version that served them (a retried request adds one attempt per try).
 */
export class VersionStats {
  readonly version: string;
  /** Client requests by status class: index 0 unused, 1..5 = 1xx..5xx. */
  readonly statusClasses = new Float64Array(6);
  /** Client requests that failed: a 5xx, or a response aborted by an upstream fault. */
  failures = 0;
  /** Client requests that ended because the client went away (never charged as failures). */
  clientAborts = 0;
  /** Upstream attempts by Outcome. */
  readonly attempts = new Float64Array(OUTCOMES.length);
  /** Replays triggered by a failed attempt on this version. */
  retries = 0;
  /** Of those, replays that went to another version (canary → stable). */
  failovers = 0;
  /** Pods of this version ejected by outlier detection (since start). */
  ejections = 0;
  /** WebSocket tunnels to this version: open now, and opened since start. */
  tunnelsOpen = 0;
  tunnelsTotal = 0;
  /** Non-cumulative bucket counts, last slot is +Inf. */
  readonly durationCounts = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSumSeconds = 0;

  constructor(version: string) {
    this.version = version;
  }

  get requests(): number {
    const c = this.statusClasses;
    return (c[1] as number) + (c[2] as number) + (c[3] as number) + (c[4] as number) + (c[5] as number) + this.clientAborts;
  }

  recordAttempt(outcome: number): void {
    (this.attempts[outcome] as number)++;
  }

  /** Final outcome of one client request. `status` 0 means no status reached the client. */
  recordRequest(status: number, failed: boolean, durationMs: number): void {
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) (this.statusClasses[cls] as number)++;
    if (failed) this.failures++;
    let i = 0;
    while (i < BUCKET_MS.length && durationMs > (BUCKET_MS[i] as number)) i++;
    (this.durationCounts[i] as number)++;
    this.durationSumSeconds += durationMs / 1000;
  }

  recordClientAbort(): void {
    this.clientAborts++;
  }
}

export class RejectStats {
  readonly counts: Record<RejectReason, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;

  record(reason: RejectReason): void {
    this.counts[reason]++;
  }
}
