// The concrete → endpoint stage: picks a pod inside a version by power of two choices on
// outstanding requests, which keeps load even without global state; slow start and
// saturation limits bend the choice, and pods already tried for this request are avoided.

import { systemClock, type Clock } from '../core/control.ts';
import type { Random } from '../core/random.ts';
import type { UpstreamEndpoint } from './upstream.ts';

/**
 * A pod for one request, or undefined when every pod is saturated or excluded.
 * The clock is read only when the version has pods in slow start (`slowStart` true).
 */
export function pickEndpoint(
  endpoints: readonly UpstreamEndpoint[],
  random: Random,
  slowStart: boolean,
  exclude?: readonly UpstreamEndpoint[],
  clock: Clock = systemClock,
): UpstreamEndpoint | undefined {
  const n = endpoints.length;
  if (n === 0) return undefined;
  if (n === 1) {
    const only = endpoints[0] as UpstreamEndpoint;
    return only.saturated || exclude?.includes(only) ? undefined : only;
  }
  const i = random.int(n);
  let j = random.int(n - 1);
  if (j >= i) j++;
  const a = endpoints[i] as UpstreamEndpoint;
  const b = endpoints[j] as UpstreamEndpoint;
  let pick = b.outstanding < a.outstanding ? b : a;
  let other = pick === a ? b : a;
  if (slowStart) {
    // A pod in slow start keeps its pick with probability equal to its ramp (0..1), so its
    // share grows linearly over the window (Envoy's slow_start_config, linear aggression).
    const now = clock.now();
    const ramp = rampOf(pick, now);
    if (ramp < 1 && random.int(1_000) >= ramp * 1_000 && rampOf(other, now) >= ramp) [pick, other] = [other, pick];
  }
  if (usable(pick, exclude)) return pick;
  if (usable(other, exclude)) return other;
  // Both choices full or tried: any pod that is neither (rare; a scan is fine here).
  for (const ep of endpoints) if (usable(ep, exclude)) return ep;
  return undefined;
}

function usable(ep: UpstreamEndpoint, exclude: readonly UpstreamEndpoint[] | undefined): boolean {
  return !ep.saturated && (exclude === undefined || !exclude.includes(ep));
}

function rampOf(ep: UpstreamEndpoint, now: number): number {
  if (ep.slowStartUntil === 0 || now >= ep.slowStartUntil) return 1;
  const window = ep.slowStartUntil - ep.readySince;
  return Math.max(0.05, (now - ep.readySince) / window);
}
