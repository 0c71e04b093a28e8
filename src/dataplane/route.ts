// Routing choices against one snapshot: the first attempt's target (split, then balance), and a
// replay's target, which leaves a failed canary for the stable version.

import type { Clock } from '../core/control.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Random } from '../core/random.ts';
import type { RoutingSnapshot, VersionRoute } from './snapshot.ts';
import type { UpstreamEndpoint } from './upstream.ts';
import type { Target } from './exchange-owner.ts';
import { pickVersion } from './split.ts';
import { pickEndpoint } from './balancer.ts';

/** Split, then balance: a target, or why there is none (no allocation for the error). */
export function pickTarget(snapshot: RoutingSnapshot, random: Random, clock: Clock): Target | ErrorCode {
  const version = pickVersion(snapshot, random);
  if (version === undefined) return 'GP_NO_ENDPOINT';
  const endpoint = pickEndpoint(version.endpoints, random, version.slowStart, undefined, clock);
  if (endpoint === undefined) return 'GP_OVERLOADED';
  return { version, endpoint };
}

/**
 * Where a failed attempt goes next. When the newest version failed and an older one takes
 * traffic, the replay goes to the older (stable) one: a broken canary should cost clients
 * nothing while the evidence against it accumulates. Otherwise another pod of the same
 * version, then of any version.
 */
export function pickRetryTarget(
  snapshot: RoutingSnapshot,
  random: Random,
  clock: Clock,
  failed: string | undefined,
  exclude: readonly UpstreamEndpoint[] | undefined,
): Target | undefined {
  const routable = snapshot.routable;
  const newest = routable[0];
  const firstPod = (versions: readonly VersionRoute[]): Target | undefined => {
    for (const version of versions) {
      const endpoint = pickEndpoint(version.endpoints, random, version.slowStart, exclude, clock);
      if (endpoint !== undefined) return { version, endpoint };
    }
    return undefined;
  };
  if (newest !== undefined && newest.name === failed && routable.length > 1) {
    const older = routable.filter((v) => v.revision < newest.revision).sort((a, b) => b.effectiveWeight - a.effectiveWeight);
    const target = firstPod(older);
    if (target !== undefined) return target;
  }
  return firstPod(routable.filter((v) => v.name === failed)) ?? firstPod(routable.filter((v) => v.name !== failed));
}

/**
 * `name` is newer than a version that takes traffic: the canary of a rollout, and also a canary an
 * abort just cut to weight 0. Its requests still in flight at the cut are the ones most likely to
 * fail, and they must still replay on stable (a canary failing 30 % let one GET's 500 through to
 * the client in test/rollout/e2e-bad-failures.test.ts when only the routable versions counted).
 * Once a rollout completes the old version takes no traffic and the new one is no canary.
 * Called on failed attempts only; no allocation.
 */
export function isNewestInRollout(snapshot: RoutingSnapshot, name: string): boolean {
  const versions = snapshot.versions; // newest first
  let i = 0;
  while (i < versions.length && (versions[i] as VersionRoute).name !== name) i++;
  if (i === versions.length) return false;
  const revision = (versions[i] as VersionRoute).revision;
  for (let j = i + 1; j < versions.length; j++) {
    const older = versions[j] as VersionRoute;
    if (older.effectiveWeight > 0 && older.revision < revision) return true;
  }
  return false;
}
