// Prometheus metrics, read at scrape time from the counters the data plane keeps: prom-client is
// never called on the request path (collect-on-scrape, like Envoy's stats sinks).

import { Registry, collectDefaultMetrics } from 'prom-client';
import { OUTCOMES, DURATION_BUCKETS, REJECT_REASONS } from '../core/outcomes.ts';
import type { DataPlaneStatusView, VersionStatsView } from '../core/status-view.ts';

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** A metric whose samples are computed when scraped. */
function collected(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[]) {
  return {
    name,
    help,
    type,
    // Summed across node:cluster workers by prom-client's AggregatorRegistry.
    aggregator: 'sum',
    get: () => ({ name, help, type, values: read(), aggregator: 'sum' as const }),
    reset: () => undefined,
  };
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export interface MetricsSources {
  readonly dataPlane: DataPlaneStatusView;
}

/** Builds the registry with glidepath_ metrics and Node process metrics. */
export function createMetricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  const dp = sources.dataPlane;
  const allStats = (): VersionStatsView[] => [...dp.versionStatus().map((v) => v.stats), dp.unrouted];

  const metrics = [
    collected('glidepath_requests_total', 'Client requests by version and status class (final outcome, once per request).', 'counter', () =>
      allStats().flatMap((s) => CLASSES.map((cls, i) => ({ labels: { version: s.version, class: cls }, value: s.statusClasses[i + 1] as number })))),
    collected('glidepath_request_failures_total', 'Client requests that failed (5xx or a response aborted by an upstream fault), by version.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.failures }))),
    collected('glidepath_client_aborts_total', 'Client requests that ended because the client went away, by version.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.clientAborts }))),
    collected('glidepath_upstream_attempts_total', 'Upstream attempts by version and outcome.', 'counter', () =>
      allStats().flatMap((s) => OUTCOMES.map((o, i) => ({ labels: { version: s.version, outcome: o }, value: s.attempts[i] as number })))),
    collected('glidepath_retries_total', 'Replays triggered by failed attempts on this version.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.retries }))),
    collected('glidepath_failovers_total', 'Replays that left this version for another (canary to stable).', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.failovers }))),
    collected('glidepath_ejections_total', 'Pods of this version ejected by outlier detection.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.ejections }))),
    collected('glidepath_websocket_tunnels', 'WebSocket tunnels open, by version.', 'gauge', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.tunnelsOpen }))),
    collected('glidepath_retry_budget_exhausted_total', 'Replays refused because the retry budget was spent.', 'counter', () =>
      [{ labels: {}, value: dp.retryBudget.exhausted }]),
    collected('glidepath_request_duration_seconds', 'Client request duration by version (first byte in to last byte out).', 'histogram', () =>
      allStats().flatMap((s) => {
        const out: Sample[] = [];
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.durationCounts[i] as number;
          out.push({ metricName: 'glidepath_request_duration_seconds_bucket', labels: { version: s.version, le: String(le) }, value: cumulative });
        });
        cumulative += s.durationCounts[DURATION_BUCKETS.length] as number;
        out.push({ metricName: 'glidepath_request_duration_seconds_bucket', labels: { version: s.version, le: '+Inf' }, value: cumulative });
        out.push({ metricName: 'glidepath_request_duration_seconds_sum', labels: { version: s.version }, value: s.durationSumSeconds });
        out.push({ metricName: 'glidepath_request_duration_seconds_count', labels: { version: s.version }, value: cumulative });
        return out;
      })),
    collected('glidepath_endpoints', 'Endpoints by version and state.', 'gauge', () =>
      dp.versionStatus().flatMap((v) => (['ready', 'not-ready', 'terminating', 'ejected'] as const).map((state) => ({
        labels: { version: v.name, state },
        value: v.endpoints.filter((e) => e.state === state).length,
      })))),
    collected('glidepath_version_weight', 'Weight asked for, in basis points of 10000, by version.', 'gauge', () =>
      dp.versionStatus().map((v) => ({ labels: { version: v.name }, value: v.weight }))),
    collected('glidepath_version_effective_weight', 'Weight in force (versions without usable endpoints give theirs away), in basis points.', 'gauge', () =>
      dp.versionStatus().map((v) => ({ labels: { version: v.name }, value: v.effectiveWeight }))),
    collected('glidepath_rejected_requests_total', 'Requests refused before routing, by reason.', 'counter', () =>
      REJECT_REASONS.map((r) => ({ labels: { reason: r }, value: dp.rejects.counts[r] }))),
    collected('glidepath_inflight_requests', 'Client requests in flight.', 'gauge', () => [{ labels: {}, value: dp.inFlight }]),
  ];
  for (const m of metrics) registry.registerMetric(m as never);
  collectDefaultMetrics({ register: registry, prefix: 'glidepath_' });
  return registry;
}
