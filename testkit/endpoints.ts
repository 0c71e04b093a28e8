// Upstream endpoints built directly, for unit tests of the routing snapshot and the split: one
// set of short timeouts and no limits, and a pod address on loopback by port.

import { UpstreamEndpoint } from '../src/dataplane/upstream.ts';

export const TEST_UPSTREAM = {
  connectTimeout: 1000,
  responseTimeout: 1000,
  bodyIdleTimeout: 1000,
  idleTimeout: 1000,
  maxConnectionsPerEndpoint: 0,
  maxPendingPerEndpoint: 0,
  drainTimeout: 1000,
  slowStartWindow: 0,
};

/** An endpoint on 127.0.0.1:`port`; serving follows the EndpointSlice rule (ready, or terminating). */
export function testEndpoint(port: number, version: string, ready = true, terminating = false): UpstreamEndpoint {
  return new UpstreamEndpoint({ host: '127.0.0.1', port, version, ready, serving: ready || terminating, terminating }, TEST_UPSTREAM);
}
