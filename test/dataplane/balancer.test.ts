// Target choice without a network: the balancer's slow-start shares, slow start in the data plane,
// the ejection cap, and the serving-but-terminating fallback and panic modes (issue 3).

import t from 'tap';
import { pickEndpoint } from '../../src/dataplane/balancer.ts';
import { UpstreamEndpoint } from '../../src/dataplane/upstream.ts';
import { DataPlane } from '../../src/dataplane/dataplane.ts';
import type { Target } from '../../src/dataplane/forward.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Endpoint } from '../../src/core/types.ts';

const config = loadConfig({ flags: {} });

function endpoint(port: number, extra: Partial<Endpoint> = {}): Endpoint {
  return { host: '127.0.0.1', port, version: 'v1', ready: true, serving: true, terminating: false, ...extra };
}

/** The data plane's first-attempt pick, or undefined when it names an error code instead. */
function targetOf(dp: DataPlane): Target | undefined {
  const target = dp.pickTarget();
  return typeof target === 'string' ? undefined : target;
}

function dataPlane(outlier: Partial<typeof config.outlier> = {}, upstream: Partial<typeof config.upstream> = {}): DataPlane {
  return new DataPlane({
    server: config.server,
    upstream: { ...config.upstream, ...upstream },
    retry: config.retry,
    outlier: { ...config.outlier, ...outlier },
    websocket: config.websocket,
    random: new XorShiftRandom(7),
  });
}

t.test('slow start: a new pod ramps its share linearly over the window', async (t) => {
  const window = 10_000;
  const shares: number[] = [];
  for (const fraction of [0, 0.1, 0.25, 0.5, 0.75, 1]) {
    const settled = [new UpstreamEndpoint(endpoint(1), config.upstream), new UpstreamEndpoint(endpoint(2), config.upstream)];
    const fresh = new UpstreamEndpoint(endpoint(3), config.upstream);
    // pickEndpoint reads performance.now(): the pod's window is re-anchored before each pick so that
    // its ramp stays at `fraction` however long the loop takes on a loaded machine.
    const anchor = (): void => {
      fresh.readySince = performance.now() - fraction * window;
      fresh.slowStartUntil = fresh.readySince + window;
    };
    const random = new XorShiftRandom(1234);
    const n = 60_000;
    let picked = 0;
    for (let i = 0; i < n; i++) {
      if (fraction < 1) anchor();
      if (pickEndpoint([...settled, fresh], random, fraction < 1) === fresh) picked++;
    }
    const share = picked / n;
    // P2C with equal load picks each pod a third of the time; a ramping pod keeps its pick with
    // probability ramp = max(0.05, elapsed / window).
    const expected = Math.max(0.05, fraction) / 3;
    shares.push(share);
    t.ok(
      Math.abs(share - expected) < 0.012,
      `at ${fraction * 100} % of the window: share ${share.toFixed(3)}, expected ${expected.toFixed(3)}`,
    );
  }
  t.ok(
    shares.every((s, i) => i === 0 || s > (shares[i - 1] as number)),
    'the share only grows',
  );
});

t.test('slow start applies to a pod joining a settled version, not to a whole new version', async (t) => {
  const dp = dataPlane({}, { slowStartWindow: 10_000 });
  const versions = [
    { name: 'v1', revision: 1 },
    { name: 'v2', revision: 2 },
  ];
  dp.applyDiscovery({ versions, endpoints: [endpoint(1), endpoint(2)], weights: { v1: 10_000, v2: 0 } });
  dp.applyDiscovery({
    versions,
    endpoints: [endpoint(1), endpoint(2), endpoint(3), endpoint(4, { version: 'v2' })],
    weights: { v1: 9_000, v2: 1_000 },
  });
  const v1 = dp.snapshot.versions.find((v) => v.name === 'v1');
  const v2 = dp.snapshot.versions.find((v) => v.name === 'v2');
  t.equal(v1?.slowStart, true, 'v1 has a pod in slow start');
  t.same(
    v1?.endpoints.filter((e) => e.slowStartUntil > 0).map((e) => e.port),
    [3],
    'the new pod 3',
  );
  t.equal(v2?.slowStart, false, "v2's first pod takes its version's full share (weights govern it)");
  await dp.destroy();
});

t.test('ejection: at most maxEjectionPercent of a version while a healthy pod is left', async (t) => {
  const dp = dataPlane({ consecutiveFailures: 5, maxEjectionPercent: 50, baseEjectionTime: 60_000 });
  dp.applyDiscovery({ versions: [{ name: 'v1', revision: 1 }], endpoints: [endpoint(1), endpoint(2), endpoint(3), endpoint(4)] });
  const [a, b, c, d] = dp.snapshot.routable[0]?.endpoints ?? [];
  if (!a || !b || !c || !d) throw new Error('expected 4 endpoints');
  const fail = (ep: UpstreamEndpoint, times: number): void => {
    for (let i = 0; i < times; i++) dp.endpointResult(ep, true);
  };
  const states = (): string[] => dp.versionStatus()[0]?.endpoints.map((e) => e.state) ?? [];

  fail(a, 4);
  t.same(states(), ['ready', 'ready', 'ready', 'ready'], '4 consecutive failures: not yet');
  dp.endpointResult(a, false);
  fail(a, 4);
  t.same(states(), ['ready', 'ready', 'ready', 'ready'], 'a success in between resets the count');
  fail(a, 1);
  t.same(states(), ['ejected', 'ready', 'ready', 'ready'], 'the 5th consecutive failure ejects');
  fail(b, 5);
  t.same(states(), ['ejected', 'ejected', 'ready', 'ready'], 'a second pod: 2 of 4 = 50 %');
  fail(c, 5);
  t.same(states(), ['ejected', 'ejected', 'ready', 'ready'], 'a third would pass the cap while pod 4 is healthy: kept');
  t.equal(dp.snapshot.routable[0]?.endpoints.length, 2, 'the two left take the traffic');
  t.equal(dp.statsFor('v1').ejections, 2, 'two ejections counted');
  await dp.destroy();
});

t.test('ejection: past the cap when nothing healthy is left in the version', async (t) => {
  const dp = dataPlane({ consecutiveFailures: 5, maxEjectionPercent: 50, baseEjectionTime: 60_000 });
  dp.applyDiscovery({
    versions: [
      { name: 'v1', revision: 1 },
      { name: 'v2', revision: 2 },
    ],
    weights: { v1: 5_000, v2: 5_000 },
    endpoints: [endpoint(1), endpoint(2), endpoint(3, { version: 'v2' })],
  });
  const v1 = dp.snapshot.routable.find((v) => v.name === 'v1');
  const [a, b] = v1?.endpoints ?? [];
  if (!a || !b) throw new Error('expected 2 endpoints');
  for (let i = 0; i < 5; i++) dp.endpointResult(a, true);
  for (let i = 0; i < 4; i++) dp.endpointResult(b, true);
  t.equal(a.state, 'ejected', 'the first failing pod is ejected (cap: 1 of 2)');
  dp.endpointResult(b, true);
  t.equal(b.state, 'ejected', 'the second one too: its only peer is not healthy');
  t.same(
    dp.snapshot.routable.map((v) => v.name),
    ['v2'],
    'v1 no longer takes traffic',
  );
  const picked = new Set<string>();
  for (let i = 0; i < 50; i++) picked.add(targetOf(dp)?.version.name ?? '');
  t.same([...picked], ['v2'], 'its share goes to the other version');
  await dp.destroy();
});

t.test('fallback: with nothing ready anywhere, serving-but-terminating pods take requests', async (t) => {
  const dp = dataPlane();
  const versions = [{ name: 'v1', revision: 1 }];
  dp.applyDiscovery({
    versions,
    endpoints: [
      endpoint(1, { ready: false, terminating: true, serving: true }),
      endpoint(2, { ready: false, terminating: true, serving: false }),
    ],
  });
  t.equal(dp.snapshot.fallback, true, 'the snapshot is in fallback');
  const picks = new Set<number>();
  for (let i = 0; i < 50; i++) picks.add(targetOf(dp)?.endpoint.port ?? 0);
  t.same([...picks], [1], 'only the serving one answers');

  dp.applyDiscovery({ versions, endpoints: [endpoint(1, { ready: false, terminating: true, serving: true }), endpoint(3)] });
  t.equal(dp.snapshot.fallback, false, 'a ready pod ends the fallback');
  picks.clear();
  for (let i = 0; i < 50; i++) picks.add(targetOf(dp)?.endpoint.port ?? 0);
  t.same([...picks], [3], 'and takes every request');

  dp.applyDiscovery({ versions, endpoints: [endpoint(1, { ready: false, terminating: true, serving: false })] });
  t.equal(dp.pickTarget(), 'GP_NO_ENDPOINT', 'nothing serving: no target, answered GP_NO_ENDPOINT');
  await dp.destroy();
});

t.test('panic: when ejection took every ready pod, they take requests anyway rather than a 503 for all', async (t) => {
  const dp = dataPlane({ consecutiveFailures: 2, maxEjectionPercent: 50, baseEjectionTime: 60_000 });
  dp.applyDiscovery({ versions: [{ name: 'v1', revision: 1 }], endpoints: [endpoint(1), endpoint(2)] });
  const [a, b] = dp.snapshot.routable[0]?.endpoints ?? [];
  if (!a || !b) throw new Error('expected 2 endpoints');
  for (let i = 0; i < 2; i++) dp.endpointResult(a, true);
  dp.endpointResult(b, true);
  dp.endpointResult(b, true);
  t.same([a.state, b.state], ['ejected', 'ejected'], 'both ejected: nothing healthy was left');
  t.equal(dp.snapshot.panic, true, 'the snapshot is in panic mode');
  const picks = new Set<number>();
  for (let i = 0; i < 50; i++) picks.add(targetOf(dp)?.endpoint.port ?? 0);
  t.same([...picks].sort(), [1, 2], 'both still take requests');
  await dp.destroy();
});
