// The concrete → endpoint stage: picks a pod inside a version by power of two choices on
// outstanding requests, which keeps load even without global state or a sorted structure.

import type { Random } from '../core/random.ts';
import type { UpstreamEndpoint } from './upstream.ts';

export function pickEndpoint(endpoints: readonly UpstreamEndpoint[], random: Random): UpstreamEndpoint | undefined {
  const n = endpoints.length;
  if (n <= 1) return endpoints[0];
  const i = random.int(n);
  let j = random.int(n - 1);
  if (j >= i) j++;
  const a = endpoints[i] as UpstreamEndpoint;
  const b = endpoints[j] as UpstreamEndpoint;
  return b.outstanding < a.outstanding ? b : a;
}
