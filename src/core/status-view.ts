// The read-only view of the data plane that telemetry, /status and the controller read off the
// request path; the data plane implements it, so none of them depends on the concrete class.

import type { VersionCountersView } from './control.ts';
import type { RejectReason } from './outcomes.ts';

/** The state of one pod as /status and the metrics show it. */
export type EndpointState = 'ready' | 'not-ready' | 'terminating' | 'ejected';

/** Every counter of one version since start (live arrays: read them, never write). */
export interface VersionStatsView extends VersionCountersView {
  /** Client requests by status class: index 0 unused, 1..5 = 1xx..5xx. */
  readonly statusClasses: ArrayLike<number>;
  /** Upstream attempts, indexed like OUTCOMES. */
  readonly attempts: ArrayLike<number>;
  readonly retries: number;
  readonly failovers: number;
  readonly ejections: number;
  readonly tunnelsOpen: number;
  readonly tunnelsTotal: number;
  /** Non-cumulative counts per DURATION_BUCKETS entry, last slot +Inf. */
  readonly durationCounts: ArrayLike<number>;
  readonly durationSumSeconds: number;
}

export interface EndpointStatus {
  readonly address: string;
  readonly name?: string | undefined;
  readonly state: EndpointState;
  readonly outstanding: number;
}

export interface VersionStatus {
  readonly name: string;
  readonly revision: number;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly endpoints: readonly EndpointStatus[];
  readonly stats: VersionStatsView;
}

/** What /status and the metrics read from the data plane. */
export interface DataPlaneStatusView {
  /** Requests in flight in this process. */
  readonly inFlight: number;
  /** Every version the data plane knows, newest first, with its endpoints and counters. */
  versionStatus(): readonly VersionStatus[];
  /** Requests answered without any version (no usable endpoint anywhere, overload, refusals). */
  readonly unrouted: VersionStatsView;
  readonly rejects: { readonly counts: Readonly<Record<RejectReason, number>> };
  readonly retryBudget: { readonly exhausted: number };
  /** The routing modes in force: serving-but-terminating pods stand in, or ejected pods do (panic). */
  readonly snapshot: { readonly fallback: boolean; readonly panic: boolean };
}
