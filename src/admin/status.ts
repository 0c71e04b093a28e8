// The /status document: plain JSON built from the data plane's counters and discovery state.

import type { DataPlane } from '../dataplane/dataplane.ts';
import { OUTCOMES, type VersionStats } from '../dataplane/stats.ts';

export interface StatusInputs {
  readonly dataPlane: DataPlane;
  readonly startedAt: number;
  readonly version: string;
  readonly discovery: { readonly source: string; readonly lastError: Error | undefined; readonly updatedAt: Date | undefined; readonly updates: number; readonly watches?: readonly unknown[] | undefined };
}

function counters(s: VersionStats) {
  return {
    requests: s.requests,
    failures: s.failures,
    clientAborts: s.clientAborts,
    statusClasses: { '1xx': s.statusClasses[1], '2xx': s.statusClasses[2], '3xx': s.statusClasses[3], '4xx': s.statusClasses[4], '5xx': s.statusClasses[5] },
    attempts: Object.fromEntries(OUTCOMES.map((o, i) => [o, s.attempts[i]])),
    retries: s.retries,
    failovers: s.failovers,
    ejections: s.ejections,
    tunnels: { open: s.tunnelsOpen, total: s.tunnelsTotal },
  };
}

export function buildStatus(inputs: StatusInputs) {
  const dp = inputs.dataPlane;
  return {
    glidepath: inputs.version,
    uptimeSeconds: Math.round((Date.now() - inputs.startedAt) / 1000),
    inFlight: dp.inFlight,
    discovery: {
      source: inputs.discovery.source,
      updates: inputs.discovery.updates,
      updatedAt: inputs.discovery.updatedAt?.toISOString() ?? null,
      lastError: inputs.discovery.lastError ? { code: (inputs.discovery.lastError as { code?: string }).code ?? null, message: inputs.discovery.lastError.message } : null,
      ...(inputs.discovery.watches ? { watches: inputs.discovery.watches } : {}),
    },
    versions: dp.versionStatus().map((v) => ({
      name: v.name,
      revision: v.revision,
      weight: v.weight,
      effectiveWeight: v.effectiveWeight,
      endpoints: v.endpoints.map((e) => ({ address: e.address, ...(e.name ? { name: e.name } : {}), state: e.state, outstanding: e.outstanding })),
      ...counters(v.stats),
    })),
    unrouted: counters(dp.unrouted),
    rejected: { ...dp.rejects.counts },
    retryBudgetExhausted: dp.retryBudget.exhausted,
    fallback: dp.snapshot.fallback,
    panic: dp.snapshot.panic,
  };
}
