// The routing snapshot: an immutable view (versions, weights, routable endpoints) that every
// request reads once; the control side builds the next one and swaps it by reference.

import { WEIGHT_TOTAL, type Version, type WeightTable } from '../core/types.ts';
import type { UpstreamEndpoint } from './upstream.ts';
import type { VersionStats } from './stats.ts';

/** One version as the request path sees it. */
export interface VersionRoute {
  readonly name: string;
  readonly revision: number;
  /** Weight asked for (basis points). */
  readonly weight: number;
  /** Weight in force after versions without usable endpoints gave their share away. */
  readonly effectiveWeight: number;
  /** Endpoints that may take new requests, in a stable order. */
  readonly endpoints: readonly UpstreamEndpoint[];
  /** True while one of its endpoints ramps up (the balancer then reads the clock). */
  readonly slowStart: boolean;
  readonly stats: VersionStats;
}

export interface RoutingSnapshot {
  /** Every known version, newest first. */
  readonly versions: readonly VersionRoute[];
  /** Versions that take traffic, with cumulative effective weights for the split. */
  readonly routable: readonly VersionRoute[];
  readonly cumulative: Int32Array;
  readonly totalWeight: number;
  /** True when no endpoint was ready anywhere and serving-but-terminating ones stand in. */
  readonly fallback: boolean;
  /** True when every ready endpoint is ejected and they take traffic anyway (Envoy's panic mode). */
  readonly panic: boolean;
  /**
   * ρ: the share (0..1) of first attempts routed to the newest routable version (the highest
   * revision); 1 with a single version, 0 with none. Kept on each request for the outcome stream.
   */
  readonly canaryShare: number;
  /** Increments with every swap; lets observers notice change cheaply. */
  readonly generation: number;
}

export const EMPTY_SNAPSHOT: RoutingSnapshot = Object.freeze({
  versions: [],
  routable: [],
  cumulative: new Int32Array(0),
  totalWeight: 0,
  fallback: false,
  panic: false,
  canaryShare: 0,
  generation: 0,
});

export interface SnapshotInput {
  readonly versions: readonly Version[];
  readonly weights: WeightTable;
  /** All endpoints the data plane knows, whatever their state. */
  readonly endpoints: Iterable<UpstreamEndpoint>;
  readonly statsFor: (version: string) => VersionStats;
  readonly generation: number;
}

/**
 * Builds the next snapshot. A version with no usable endpoint gives its share to the others
 * (in proportion to their weights, or evenly when they all have weight 0) so that a missing
 * version never turns into failed requests while another could answer.
 */
export function buildSnapshot(input: SnapshotInput): RoutingSnapshot {
  const all = [...input.endpoints];
  let byVersion = groupByVersion(all, (ep) => ep.routable);
  // kube-proxy's rule (KEP-1669): with nothing ready anywhere, serving-but-terminating pods answer
  // rather than every request failing.
  const fallback = byVersion.size === 0;
  if (fallback) byVersion = groupByVersion(all, (ep) => ep.lastResort);
  // Outlier ejection must never be what takes a service down: if it ejected every ready pod,
  // they answer anyway (failing pods still beat a certain 503 for everyone).
  const panic = byVersion.size === 0;
  if (panic) byVersion = groupByVersion(all, (ep) => ep.ready && !ep.terminating && !ep.removed);
  for (const list of byVersion.values()) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const known = [...input.versions].sort((a, b) => b.revision - a.revision);
  const usable = known.filter((v) => (byVersion.get(v.name)?.length ?? 0) > 0);
  const usableWeight = usable.reduce((sum, v) => sum + (input.weights[v.name] ?? 0), 0);
  const effective = new Map<string, number>();
  if (usableWeight > 0) for (const v of usable) effective.set(v.name, input.weights[v.name] ?? 0);
  else for (const v of usable) effective.set(v.name, Math.floor(WEIGHT_TOTAL / usable.length));

  const versions = known.map((v): VersionRoute => ({
    name: v.name,
    revision: v.revision,
    weight: input.weights[v.name] ?? 0,
    effectiveWeight: effective.get(v.name) ?? 0,
    endpoints: byVersion.get(v.name) ?? [],
    slowStart: (byVersion.get(v.name) ?? []).some((ep) => ep.slowStartUntil > 0),
    stats: input.statsFor(v.name),
  }));
  const routable = versions.filter((v) => v.effectiveWeight > 0);
  const cumulative = new Int32Array(routable.length);
  let total = 0;
  routable.forEach((v, i) => {
    total += v.effectiveWeight;
    cumulative[i] = total;
  });
  // Routable versions keep the newest-first order, so the newest routable one is the first.
  const canaryShare = total > 0 ? (routable[0] as VersionRoute).effectiveWeight / total : 0;
  return Object.freeze({
    versions,
    routable,
    cumulative,
    totalWeight: total,
    fallback: fallback && !panic,
    panic,
    canaryShare,
    generation: input.generation,
  });
}

function groupByVersion(endpoints: readonly UpstreamEndpoint[], keep: (ep: UpstreamEndpoint) => boolean): Map<string, UpstreamEndpoint[]> {
  const byVersion = new Map<string, UpstreamEndpoint[]>();
  for (const ep of endpoints) {
    if (!keep(ep)) continue;
    let list = byVersion.get(ep.version);
    if (list === undefined) byVersion.set(ep.version, (list = []));
    list.push(ep);
  }
  return byVersion;
}
