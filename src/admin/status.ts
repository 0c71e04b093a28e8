// The /status document: plain JSON built from the data plane's read-only view and discovery
// state. StatusDocument is its one type, for tests, the CLI and whoever adds a section.

import type { WatchStatus } from '../discovery/kubernetes/informer.ts';
import type { RolloutSnapshot } from '../rollout/controller.ts';
import { OUTCOMES, type Outcome, type RejectReason } from '../core/outcomes.ts';
import type { DataPlaneStatusView, EndpointState, VersionStatsView } from '../core/status-view.ts';

export interface StatusInputs {
  readonly dataPlane: DataPlaneStatusView;
  readonly startedAt: number;
  readonly version: string;
  readonly discovery: {
    readonly source: string;
    readonly lastError: Error | undefined;
    readonly updatedAt: Date | undefined;
    readonly updates: number;
    readonly watches?: StatusDiscovery['watches'] | undefined;
  };
  /** The rollout controller's view, when one runs. */
  readonly rollout?: RolloutSnapshot | undefined;
}

/** Counters of one version (or of unrouted requests) since start. */
export interface StatusCounters {
  readonly requests: number;
  readonly failures: number;
  readonly clientAborts: number;
  readonly statusClasses: Readonly<Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>>;
  readonly attempts: Readonly<Record<Outcome, number>>;
  readonly retries: number;
  readonly failovers: number;
  readonly ejections: number;
  readonly tunnels: { readonly open: number; readonly total: number };
}

export interface StatusEndpoint {
  readonly address: string;
  readonly name?: string;
  readonly state: EndpointState;
  readonly outstanding: number;
}

export interface StatusVersion extends StatusCounters {
  readonly name: string;
  readonly revision: number;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly endpoints: readonly StatusEndpoint[];
}

export interface StatusDiscovery {
  readonly source: string;
  readonly updates: number;
  /** ISO time of the last applied snapshot, or null before the first. */
  readonly updatedAt: string | null;
  readonly lastError: { readonly code: string | null; readonly message: string } | null;
  /** Per watch (Kubernetes discovery): what it watches and when it last saw an event. */
  readonly watches?: readonly StatusWatch[];
}

/** One Kubernetes watch as /status shows it: what the informer reports of itself. */
export type StatusWatch = WatchStatus;

/** GET /status. Optional sections are added by the parts that own them (rollout, watches). */
export interface StatusDocument {
  /** glidepath's own version. */
  readonly glidepath: string;
  readonly uptimeSeconds: number;
  readonly inFlight: number;
  readonly discovery: StatusDiscovery;
  /** Every known version, newest first. */
  readonly versions: readonly StatusVersion[];
  readonly unrouted: StatusCounters;
  readonly rejected: Readonly<Record<RejectReason, number>>;
  readonly retryBudgetExhausted: number;
  /** No pod ready anywhere: serving-but-terminating pods stand in. */
  readonly fallback: boolean;
  /** Every ready pod ejected: they take traffic anyway. */
  readonly panic: boolean;
  /** The rollout controller's view (phase, step, weights, evidence, decisions, abort), when one runs. */
  readonly rollout?: RolloutSnapshot;
}

function counters(s: VersionStatsView): StatusCounters {
  const c = s.statusClasses;
  return {
    requests: s.requests,
    failures: s.failures,
    clientAborts: s.clientAborts,
    statusClasses: { '1xx': c[1] as number, '2xx': c[2] as number, '3xx': c[3] as number, '4xx': c[4] as number, '5xx': c[5] as number },
    attempts: Object.fromEntries(OUTCOMES.map((o, i) => [o, s.attempts[i]])) as Record<Outcome, number>,
    retries: s.retries,
    failovers: s.failovers,
    ejections: s.ejections,
    tunnels: { open: s.tunnelsOpen, total: s.tunnelsTotal },
  };
}

export function buildStatus(inputs: StatusInputs): StatusDocument {
  const dp = inputs.dataPlane;
  return {
    glidepath: inputs.version,
    uptimeSeconds: Math.round((Date.now() - inputs.startedAt) / 1000),
    inFlight: dp.inFlight,
    discovery: {
      source: inputs.discovery.source,
      updates: inputs.discovery.updates,
      updatedAt: inputs.discovery.updatedAt?.toISOString() ?? null,
      lastError: inputs.discovery.lastError
        ? { code: (inputs.discovery.lastError as { code?: string }).code ?? null, message: inputs.discovery.lastError.message }
        : null,
      ...(inputs.discovery.watches ? { watches: inputs.discovery.watches } : {}),
    },
    versions: dp.versionStatus().map((v) => ({
      name: v.name,
      revision: v.revision,
      weight: v.weight,
      effectiveWeight: v.effectiveWeight,
      endpoints: v.endpoints.map((e) => ({
        address: e.address,
        ...(e.name ? { name: e.name } : {}),
        state: e.state,
        outstanding: e.outstanding,
      })),
      ...counters(v.stats),
    })),
    unrouted: counters(dp.unrouted),
    rejected: { ...dp.rejects.counts },
    retryBudgetExhausted: dp.retryBudget.exhausted,
    fallback: dp.snapshot.fallback,
    panic: dp.snapshot.panic,
    ...(inputs.rollout ? { rollout: inputs.rollout } : {}),
  };
}
