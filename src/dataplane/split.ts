// The logical → concrete stage: picks the version a request goes to, by integer weight alone.

import type { Random } from '../core/random.ts';
import type { RoutingSnapshot, VersionRoute } from './snapshot.ts';

/** The version for one request, or undefined when no version can take traffic. */
export function pickVersion(snapshot: RoutingSnapshot, random: Random): VersionRoute | undefined {
  const routable = snapshot.routable;
  if (routable.length <= 1) return routable[0];
  const r = random.int(snapshot.totalWeight);
  const cumulative = snapshot.cumulative;
  // Versions are few (stable, canary, perhaps one draining); a scan beats a binary search.
  for (let i = 0; i < cumulative.length; i++) if (r < (cumulative[i] as number)) return routable[i];
  return routable[routable.length - 1];
}
