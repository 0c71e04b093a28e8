// Focused checks of the arithmetic behind the zero-downtime scenarios (issue 3): the retry budget,
// slow start shares, the ejection cap, and the serving-but-terminating fallback. No network.

import t from 'tap';
import { RetryBudget } from '../../src/dataplane/retry-budget.ts';
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
  return new DataPlane({ server: config.server, upstream: { ...config.upstream, ...upstream }, retry: config.retry, outlier: { ...config.outlier, ...outlier }, websocket: config.websocket, random: new XorShiftRandom(7) });
}

t.test('retry budget: 20 % of the requests plus 10 per second, over a 10 s window', async (t) => {
  const budget = new RetryBudget(0.2, 10);
  const t0 = 100_000;
  // 10 requests in each second of the window: 100 requests → 0.2 × 100 + 10 × 10 = 120 retries.
  for (let s = 0; s < 10; s++) for (let i = 0; i < 10; i++) budget.recordRequest(t0 + s * 1_000 + i);
  let granted = 0;
  while (budget.tryAcquire(t0 + 9_500)) granted++;
  t.equal(granted, 120, '120 retries granted');
  t.equal(budget.exhausted, 1, 'the 121st is refused and counted');
  t.notOk(budget.available(t0 + 9_999), 'none left within the window');

  // At t0 + 10 s the first second's slot expires with its 10 requests; the 120 retries were all
  // taken in the last second's slot, so they still count.
  t.notOk(budget.available(t0 + 10_000), 'retries taken in the newest slot still count');
  // Once the slot holding the 120 retries (t0 + 9 s) expires, the floor comes back in full.
  t.ok(budget.available(t0 + 19_000), 'they expire 10 s later');
  let later = 0;
  while (budget.tryAcquire(t0 + 19_000)) later++;
  t.equal(later, 100, 'with no requests in the window only the floor (10/s × 10 s) is left');
});

t.test('retry budget: slots expire one by one', async (t) => {
  const budget = new RetryBudget(0, 1); // floor only: 10 retries per 10 s
  const t0 = 50_000;
  for (let s = 0; s < 10; s++) t.ok(budget.tryAcquire(t0 + s * 1_000), `retry at +${s} s granted`);
  t.notOk(budget.tryAcquire(t0 + 9_999), 'the 11th within 10 s is refused');
  t.ok(budget.tryAcquire(t0 + 10_000), 'at +10 s the first one expired: one more');
  t.notOk(budget.tryAcquire(t0 + 10_500), 'and only one');
  t.ok(budget.tryAcquire(t0 + 11_000), 'at +11 s the second expired');
  // A long pause expires everything at once.
  let granted = 0;
  while (budget.tryAcquire(t0 + 60_000)) granted++;
  t.equal(granted, 10, 'after a long pause the whole floor is back');
});

t.test('retry budget: the ratio part follows the requests', async (t) => {
  const budget = new RetryBudget(0.5, 0);
  const t0 = 10_000;
  t.notOk(budget.tryAcquire(t0), 'no requests, no floor: no retry');
  for (let i = 0; i < 10; i++) budget.recordRequest(t0);
  let granted = 0;
  while (budget.tryAcquire(t0)) granted++;
  t.equal(granted, 5, '50 % of 10 requests');
});

t.test('slow start: a new pod ramps its share linearly over the window', async (t) => {
  const window = 10_000;
  const shares: number[] = [];
  for (const fraction of [0, 0.1, 0.25, 0.5, 0.75, 1]) {
    const settled = [new UpstreamEndpoint(endpoint(1), config.upstream), new UpstreamEndpoint(endpoint(2), config.upstream)];
    const fresh = new UpstreamEndpoint(endpoint(3), config.upstream);
    const now = performance.now();
    if (fraction < 1) {
      fresh.readySince = now - fraction * window;
      fresh.slowStartUntil = fresh.readySince + window;
    }
    const random = new XorShiftRandom(1234);
    const n = 60_000;
    let picked = 0;
    for (let i = 0; i < n; i++) if (pickEndpoint([...settled, fresh], random, fraction < 1) === fresh) picked++;
    const share = picked / n;
    // P2C with equal load picks each pod a third of the time; a ramping pod keeps its pick with
    // probability ramp = max(0.05, elapsed / window).
    const expected = Math.max(0.05, fraction) / 3;
    shares.push(share);
    t.ok(Math.abs(share - expected) < 0.012, `at ${fraction * 100} % of the window: share ${share.toFixed(3)}, expected ${expected.toFixed(3)}`);
  }
  t.ok(shares.every((s, i) => i === 0 || s > (shares[i - 1] as number)), 'the share only grows');
});

t.test('slow start applies to a pod joining a settled version, not to a whole new version', async (t) => {
  const dp = dataPlane({}, { slowStartWindow: 10_000 });
  const versions = [{ name: 'v1', revision: 1 }, { name: 'v2', revision: 2 }];
  dp.applyDiscovery({ versions, endpoints: [endpoint(1), endpoint(2)], weights: { v1: 10_000, v2: 0 } });
  dp.applyDiscovery({ versions, endpoints: [endpoint(1), endpoint(2), endpoint(3), endpoint(4, { version: 'v2' })], weights: { v1: 9_000, v2: 1_000 } });
  const v1 = dp.snapshot.versions.find((v) => v.name === 'v1');
  const v2 = dp.snapshot.versions.find((v) => v.name === 'v2');
  t.equal(v1?.slowStart, true, 'v1 has a pod in slow start');
  t.same(v1?.endpoints.filter((e) => e.slowStartUntil > 0).map((e) => e.port), [3], 'the new pod 3');
  t.equal(v2?.slowStart, false, "v2's first pod takes its version's full share (weights govern it)");
  await dp.destroy();
});

t.test('ejection: at most maxEjectionPercent of a version while a healthy pod is left', async (t) => {
  const dp = dataPlane({ consecutiveFailures: 5, maxEjectionPercent: 50, baseEjectionTime: 60_000 });
  dp.applyDiscovery({ versions: [{ name: 'v1', revision: 1 }], endpoints: [endpoint(1), endpoint(2), endpoint(3), endpoint(4)] });
  const [a, b, c, d] = dp.snapshot.routable[0]?.endpoints ?? [];
  if (!a || !b || !c || !d) throw new Error('expected 4 endpoints');
  const fail = (ep: UpstreamEndpoint, times: number): void => { for (let i = 0; i < times; i++) dp.endpointResult(ep, true); };
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
  dp.applyDiscovery({ versions: [{ name: 'v1', revision: 1 }, { name: 'v2', revision: 2 }], weights: { v1: 5_000, v2: 5_000 }, endpoints: [endpoint(1), endpoint(2), endpoint(3, { version: 'v2' })] });
  const v1 = dp.snapshot.routable.find((v) => v.name === 'v1');
  const [a, b] = v1?.endpoints ?? [];
  if (!a || !b) throw new Error('expected 2 endpoints');
  for (let i = 0; i < 5; i++) dp.endpointResult(a, true);
  for (let i = 0; i < 4; i++) dp.endpointResult(b, true);
  t.equal(a.state, 'ejected', 'the first failing pod is ejected (cap: 1 of 2)');
  dp.endpointResult(b, true);
  t.equal(b.state, 'ejected', 'the second one too: its only peer is not healthy');
  t.same(dp.snapshot.routable.map((v) => v.name), ['v2'], 'v1 no longer takes traffic');
  const picked = new Set<string>();
  for (let i = 0; i < 50; i++) picked.add(targetOf(dp)?.version.name ?? '');
  t.same([...picked], ['v2'], "its share goes to the other version");
  await dp.destroy();
});

t.test('fallback: with nothing ready anywhere, serving-but-terminating pods take requests', async (t) => {
  const dp = dataPlane();
  const versions = [{ name: 'v1', revision: 1 }];
  dp.applyDiscovery({ versions, endpoints: [endpoint(1, { ready: false, terminating: true, serving: true }), endpoint(2, { ready: false, terminating: true, serving: false })] });
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
