// Weighted split and endpoint states through the real proxy: shares within tolerance, and pods
// that are not ready or terminating get nothing (checked on the pods' own ledgers).

import t from 'tap';
import { startPod } from '../../testkit/pods.ts';
import { startProxy } from '../../testkit/proxy.ts';
import { runLoad, reconcile } from '../../testkit/ledger.ts';
import { buildSnapshot } from '../../src/dataplane/snapshot.ts';
import { pickVersion } from '../../src/dataplane/split.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { testEndpoint } from '../../testkit/endpoints.ts';
import { VersionStats } from '../../src/dataplane/stats.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

const endpoint = testEndpoint;

t.test('pickVersion follows integer weights exactly in the long run (seeded)', async (t) => {
  const snapshot = buildSnapshot({
    versions: [
      { name: 'a', revision: 1 },
      { name: 'b', revision: 2 },
      { name: 'c', revision: 3 },
    ],
    weights: { a: 7000, b: 2500, c: 500 },
    endpoints: [endpoint(1, 'a'), endpoint(2, 'b'), endpoint(3, 'c')],
    statsFor: (v) => new VersionStats(v),
    generation: 1,
  });
  const random = new XorShiftRandom(42);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  const n = 200_000;
  for (let i = 0; i < n; i++) (counts[pickVersion(snapshot, random)?.name as string] as number)++;
  t.ok(Math.abs((counts.a as number) / n - 0.7) < 0.005, `a ${counts.a}`);
  t.ok(Math.abs((counts.b as number) / n - 0.25) < 0.005, `b ${counts.b}`);
  t.ok(Math.abs((counts.c as number) / n - 0.05) < 0.003, `c ${counts.c}`);
});

t.test('a version without usable endpoints gives its share away; all-zero weights split evenly', async (t) => {
  const stats = (v: string): VersionStats => new VersionStats(v);
  const s1 = buildSnapshot({
    versions: [
      { name: 'a', revision: 1 },
      { name: 'b', revision: 2 },
    ],
    weights: { a: 9000, b: 1000 },
    endpoints: [endpoint(1, 'a', false), endpoint(2, 'b')],
    statsFor: stats,
    generation: 1,
  });
  t.same(
    s1.routable.map((v) => [v.name, v.effectiveWeight]),
    [['b', 1000]],
  );
  t.equal(s1.totalWeight, 1000);
  const s2 = buildSnapshot({
    versions: [
      { name: 'a', revision: 1 },
      { name: 'b', revision: 2 },
    ],
    weights: { a: 10000, b: 0 },
    endpoints: [endpoint(1, 'a', true, true), endpoint(2, 'b')],
    statsFor: stats,
    generation: 2,
  });
  t.same(
    s2.routable.map((v) => v.name),
    ['b'],
    'weight-0 version takes traffic when it is the only one with pods',
  );
  const s3 = buildSnapshot({
    versions: [{ name: 'a', revision: 1 }],
    weights: { a: 10000 },
    endpoints: [endpoint(1, 'a', false, true)],
    statsFor: stats,
    generation: 3,
  });
  t.ok(s3.fallback, 'nothing ready: serving-but-terminating endpoints stand in');
  t.equal(s3.routable[0]?.endpoints.length, 1);
});

t.test('90/10 split through the proxy stays within tolerance and every request reconciles', async (t) => {
  const v1 = await startPod({ APP_VERSION: 'v1' });
  const v2 = await startPod({ APP_VERSION: 'v2' });
  t.teardown(() => Promise.all([v1.stop(), v2.stop()]));
  const proxy = await startProxy({
    versions: [
      { name: 'v1', revision: 1, weight: 9000 },
      { name: 'v2', revision: 2, weight: 1000 },
    ],
    endpoints: [
      { address: v1.address, version: 'v1' },
      { address: v2.address, version: 'v2' },
    ],
  });
  t.teardown(() => proxy.stop());
  const ledger = await runLoad({ url: proxy.url, total: 3000, connections: 8, postRatio: 0.2 });
  t.same(ledger.summary(), { sent: 3000, ok: 3000 });
  const share = (ledger.byVersion().v2 ?? 0) / 3000;
  // Binomial sd at n=3000, p=0.1 is 0.55 %; ±2.5 % is over 4 sd.
  t.ok(share > 0.075 && share < 0.125, `v2 share ${(share * 100).toFixed(2)} %`);
  const r = reconcile(ledger, [v1.ledger(), v2.ledger()]);
  t.same([r.okWithoutPod.length, r.statusMismatch.length, r.podWithoutClient.length], [0, 0, 0], 'client and pod ledgers agree');
  const status = (await (await fetch(`${proxy.adminUrl}/status`)).json()) as StatusDocument;
  const counted = Object.fromEntries(status.versions.map((v) => [v.name, v.requests]));
  t.same(counted, ledger.byVersion(), '/status counts each request once, against its version');
});

t.test('not-ready and terminating endpoints get nothing', async (t) => {
  const [live, notReady, terminating] = await Promise.all([startPod(), startPod(), startPod()]);
  t.teardown(() => Promise.all([live.stop(), notReady.stop(), terminating.stop()]));
  const proxy = await startProxy({
    versions: [{ name: 'v1', revision: 1 }],
    endpoints: [
      { address: live.address, version: 'v1' },
      { address: notReady.address, version: 'v1', ready: false },
      { address: terminating.address, version: 'v1', terminating: true },
    ],
  });
  t.teardown(() => proxy.stop());
  const ledger = await runLoad({ url: proxy.url, total: 600, connections: 6, postRatio: 0.3 });
  t.equal(ledger.count('ok'), 600);
  t.equal(live.ledger().filter((e) => e.ev === 'done').length, 600, 'the ready pod served everything');
  t.equal(notReady.ledger().length, 0, 'the not-ready pod saw no request');
  t.equal(terminating.ledger().length, 0, 'the terminating pod saw no request');
  const status = (await (await fetch(`${proxy.adminUrl}/status`)).json()) as StatusDocument;
  const states = Object.fromEntries((status.versions[0]?.endpoints ?? []).map((e) => [e.address, e.state]));
  t.same(states, { [live.address]: 'ready', [notReady.address]: 'not-ready', [terminating.address]: 'terminating' });
});
