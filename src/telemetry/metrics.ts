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

/** What the rollout controller shows telemetry (a subset of its /status snapshot). */
export interface RolloutMetricsView {
  readonly phase: string;
  readonly step: { readonly index: number };
  readonly evidence: {
    readonly lnE: number;
    readonly lnEThreshold: number;
    readonly lnSR: number;
    readonly lnSRThreshold: number;
    readonly advance: { readonly lnE: number; readonly lnThreshold: number };
    readonly budget: { readonly ratio: number; readonly limit: number };
  } | null;
  readonly abortsByReason: Readonly<Record<string, number>>;
  /** Every abort's time from the deciding request to canary weight 0, in seconds. */
  readonly abortCutSeconds: readonly number[];
}

export const ROLLOUT_PHASE_VALUES = ['idle', 'progressing', 'paused', 'aborted', 'completed'] as const;
export const ABORT_REASON_VALUES = ['failure-rate', 'absolute-rate', 'latency', 'budget', 'unhealthy-pods', 'manual'] as const;
const CUT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5] as const;

export interface MetricsSources {
  readonly dataPlane: DataPlaneStatusView;
  /** The rollout controller, when one runs. */
  readonly rollout?: () => RolloutMetricsView;
}

/** A log e-value for Prometheus: -Infinity (no evidence yet) as 0, i.e. e-value 1. */
function finiteOr0(x: number | undefined): number {
  return x !== undefined && Number.isFinite(x) ? x : 0;
}

function rolloutMetrics(read: () => RolloutMetricsView) {
  return [
    collected('glidepath_rollout_phase', 'Rollout phase: 1 for the current one.', 'gauge', () => {
      const phase = read().phase;
      return ROLLOUT_PHASE_VALUES.map((p) => ({ labels: { phase: p }, value: p === phase ? 1 : 0 }));
    }),
    collected('glidepath_rollout_step', 'Index of the rollout step in force (0 is the first).', 'gauge', () => [
      { labels: {}, value: read().step.index },
    ]),
    collected(
      'glidepath_budget_failure_ratio',
      "Client-visible failures the canary caused beyond stable's rate, over all client requests since the rollout began.",
      'gauge',
      () => [{ labels: {}, value: read().evidence?.budget.ratio ?? 0 }],
    ),
    collected('glidepath_budget_limit_ratio', 'The rollout failure budget (rollout.budget).', 'gauge', () => [
      { labels: {}, value: read().evidence?.budget.limit ?? 0 },
    ]),
    collected('glidepath_rollout_aborts_total', 'Rollouts aborted, by reason.', 'counter', () => {
      const by = read().abortsByReason;
      return ABORT_REASON_VALUES.map((r) => ({ labels: { reason: r }, value: by[r] ?? 0 }));
    }),
    collected(
      'glidepath_abort_decision_seconds',
      'Time from the request that crossed the abort bound to canary weight 0.',
      'histogram',
      () => {
        const times = read().abortCutSeconds;
        const out: Sample[] = CUT_BUCKETS.map((le) => ({
          metricName: 'glidepath_abort_decision_seconds_bucket',
          labels: { le: String(le) },
          value: times.filter((t) => t <= le).length,
        }));
        out.push({ metricName: 'glidepath_abort_decision_seconds_bucket', labels: { le: '+Inf' }, value: times.length });
        out.push({ metricName: 'glidepath_abort_decision_seconds_sum', labels: {}, value: times.reduce((a, b) => a + b, 0) });
        out.push({ metricName: 'glidepath_abort_decision_seconds_count', labels: {}, value: times.length });
        return out;
      },
    ),
    collected(
      'glidepath_rollout_log_evalue',
      'ln of the current e-values: abort (mixture), abort_sr (Shiryaev-Roberts), advance (non-inferiority, per step).',
      'gauge',
      () => {
        const e = read().evidence;
        return [
          { labels: { test: 'abort' }, value: finiteOr0(e?.lnE) },
          { labels: { test: 'abort_sr' }, value: finiteOr0(e?.lnSR) },
          { labels: { test: 'advance' }, value: finiteOr0(e?.advance.lnE) },
        ];
      },
    ),
    collected('glidepath_rollout_log_evalue_threshold', 'ln of the bound each e-value is compared with.', 'gauge', () => {
      const e = read().evidence;
      return [
        { labels: { test: 'abort' }, value: finiteOr0(e?.lnEThreshold) },
        { labels: { test: 'abort_sr' }, value: finiteOr0(e?.lnSRThreshold) },
        { labels: { test: 'advance' }, value: finiteOr0(e?.advance.lnThreshold) },
      ];
    }),
  ];
}

/** Builds the registry with glidepath_ metrics and Node process metrics. */
export function createMetricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  const dp = sources.dataPlane;
  const allStats = (): VersionStatsView[] => [...dp.versionStatus().map((v) => v.stats), dp.unrouted];

  const metrics = [
    collected('glidepath_requests_total', 'Client requests by version and status class (final outcome, once per request).', 'counter', () =>
      allStats().flatMap((s) =>
        CLASSES.map((cls, i) => ({ labels: { version: s.version, class: cls }, value: s.statusClasses[i + 1] as number })),
      ),
    ),
    collected(
      'glidepath_request_failures_total',
      'Client requests that failed (5xx or a response aborted by an upstream fault), by version.',
      'counter',
      () => allStats().map((s) => ({ labels: { version: s.version }, value: s.failures })),
    ),
    collected('glidepath_client_aborts_total', 'Client requests that ended because the client went away, by version.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.clientAborts })),
    ),
    collected('glidepath_upstream_attempts_total', 'Upstream attempts by version and outcome.', 'counter', () =>
      allStats().flatMap((s) => OUTCOMES.map((o, i) => ({ labels: { version: s.version, outcome: o }, value: s.attempts[i] as number }))),
    ),
    collected('glidepath_retries_total', 'Replays triggered by failed attempts on this version.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.retries })),
    ),
    collected('glidepath_failovers_total', 'Replays that left this version for another (canary to stable).', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.failovers })),
    ),
    collected('glidepath_ejections_total', 'Pods of this version ejected by outlier detection.', 'counter', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.ejections })),
    ),
    collected('glidepath_websocket_tunnels', 'WebSocket tunnels open, by version.', 'gauge', () =>
      allStats().map((s) => ({ labels: { version: s.version }, value: s.tunnelsOpen })),
    ),
    collected('glidepath_retry_budget_exhausted_total', 'Replays refused because the retry budget was spent.', 'counter', () => [
      { labels: {}, value: dp.retryBudget.exhausted },
    ]),
    collected(
      'glidepath_request_duration_seconds',
      'Client request duration by version (first byte in to last byte out).',
      'histogram',
      () =>
        allStats().flatMap((s) => {
          const out: Sample[] = [];
          let cumulative = 0;
          DURATION_BUCKETS.forEach((le, i) => {
            cumulative += s.durationCounts[i] as number;
            out.push({
              metricName: 'glidepath_request_duration_seconds_bucket',
              labels: { version: s.version, le: String(le) },
              value: cumulative,
            });
          });
          cumulative += s.durationCounts[DURATION_BUCKETS.length] as number;
          out.push({
            metricName: 'glidepath_request_duration_seconds_bucket',
            labels: { version: s.version, le: '+Inf' },
            value: cumulative,
          });
          out.push({ metricName: 'glidepath_request_duration_seconds_sum', labels: { version: s.version }, value: s.durationSumSeconds });
          out.push({ metricName: 'glidepath_request_duration_seconds_count', labels: { version: s.version }, value: cumulative });
          return out;
        }),
    ),
    collected('glidepath_endpoints', 'Endpoints by version and state.', 'gauge', () =>
      dp.versionStatus().flatMap((v) =>
        (['ready', 'not-ready', 'terminating', 'ejected'] as const).map((state) => ({
          labels: { version: v.name, state },
          value: v.endpoints.filter((e) => e.state === state).length,
        })),
      ),
    ),
    collected('glidepath_version_weight', 'Weight asked for, in basis points of 10000, by version.', 'gauge', () =>
      dp.versionStatus().map((v) => ({ labels: { version: v.name }, value: v.weight })),
    ),
    collected(
      'glidepath_version_effective_weight',
      'Weight in force (versions without usable endpoints give theirs away), in basis points.',
      'gauge',
      () => dp.versionStatus().map((v) => ({ labels: { version: v.name }, value: v.effectiveWeight })),
    ),
    collected('glidepath_rejected_requests_total', 'Requests refused before routing, by reason.', 'counter', () =>
      REJECT_REASONS.map((r) => ({ labels: { reason: r }, value: dp.rejects.counts[r] })),
    ),
    collected('glidepath_inflight_requests', 'Client requests in flight.', 'gauge', () => [{ labels: {}, value: dp.inFlight }]),
  ];
  if (sources.rollout !== undefined) metrics.push(...rolloutMetrics(sources.rollout));
  for (const m of metrics) registry.registerMetric(m as never);
  collectDefaultMetrics({ register: registry, prefix: 'glidepath_' });
  return registry;
}
