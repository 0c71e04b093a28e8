// Issue 3, test 4 (scenario T4 of docs/reliability-notes.md): endpoint flaps. Every second for 20 s, endpoints are removed
// from and added back to the endpoints file (the same addresses come back); the pods stay up and
// at least one is always listed. No request fails, none reaches a pod while it is out of the
// file, and a removed pod's upstream connections close.

import t from 'tap';
import { runLoad } from '../../testkit/ledger.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { assertReconciled, connectionsTo, failed, figures, log, pods, proxy, waitForGeneration, type Pod } from './harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

t.test('endpoints added and removed every second for 20 s cost no request', async (t) => {
  const list = await pods(t, 4, { LATENCY_MS: '2' });
  const docFor = (listed: readonly Pod[]) => ({
    versions: [{ name: 'v1', revision: 1 }],
    endpoints: listed.map((p) => ({ address: p.address, version: 'v1', name: p.name })),
  });
  const gp = await proxy(t, docFor(list));

  // Per pod, the intervals during which it was out of the file: [removal applied, re-add written).
  const outSince = new Map<Pod, number>();
  const outIntervals: { pod: Pod; from: number; to: number }[] = [];
  let listed = new Set<Pod>(list);
  let readds = 0;
  let removals = 0;
  const random = new XorShiftRandom(20_260_301);

  const load = runLoad({
    url: gp.url,
    connections: 6,
    durationMs: 20_000,
    gapMs: 2,
    postRatio: 0.3,
    bodyBytes: 1024,
    requestTimeoutMs: 5_000,
  });
  const flaps = (async () => {
    for (let step = 0; step < 19; step++) {
      await sleep(1_000);
      const next = new Set(listed);
      // Toggle one or two pods; never leave the file empty.
      const toggles = 1 + random.int(2);
      for (let k = 0; k < toggles; k++) {
        const p = list[random.int(list.length)] as Pod;
        if (next.has(p)) {
          if (next.size > 1) next.delete(p);
        } else next.add(p);
      }
      const writtenAt = Date.now();
      for (const p of list)
        if (!listed.has(p) && next.has(p)) {
          outIntervals.push({ pod: p, from: outSince.get(p) as number, to: writtenAt });
          outSince.delete(p);
          readds++;
        }
      const generation = gp.app.dataPlane.snapshot.generation;
      gp.writeEndpoints(docFor(list.filter((p) => next.has(p))));
      if (next.size !== listed.size || [...next].some((p) => !listed.has(p))) await waitForGeneration(gp, generation, 2_000);
      const appliedAt = Date.now();
      for (const p of list)
        if (listed.has(p) && !next.has(p)) {
          outSince.set(p, appliedAt);
          removals++;
        }
      listed = next;
    }
  })();
  const ledger = await load;
  await flaps;
  const end = Date.now();
  for (const [p, from] of outSince) outIntervals.push({ pod: p, from, to: end });

  // Removed pods' sockets close once their last request is done (here: at once, they are idle).
  // The probe must see the listed pods' pooled keep-alive sockets, or it proves nothing.
  const removed = list.filter((p) => !listed.has(p));
  const pooled = [...listed].reduce((n, p) => n + connectionsTo(p.port), 0);
  let socketsLeft = -1;
  await waitFor(
    'removed pods to have no upstream connection',
    () => {
      socketsLeft = removed.reduce((n, p) => n + connectionsTo(p.port), 0);
      return socketsLeft === 0;
    },
    2_000,
    10,
  ).catch(() => undefined);

  const f = await figures(ledger, list);
  // 50 ms of slack after a removal applied: a request dispatched just before may still be in
  // transit to a pod stamping its ledger in another process.
  const strays = outIntervals.flatMap(({ pod, from, to }) =>
    pod
      .ledger()
      .filter((e) => e.ev === 'recv' && e.t > from + 50 && e.t < to)
      .map((e) => ({ pod: pod.name, id: e.id, t: e.t, from, to })),
  );
  log('t04 flaps', { ...f, removals, readds, strays: strays.length, removedAtEnd: removed.length, socketsLeft, pooled });
  t.ok(ledger.sent > 2_000, `enough traffic to mean something (${ledger.sent} requests)`);
  t.ok(removals >= 8 && readds >= 6, `the file flapped (${removals} removals, ${readds} re-adds of the same address)`);
  t.equal(failed(ledger, 'GET'), 0, '0 failed GETs', { figures: f });
  t.equal(failed(ledger, 'POST'), 0, '0 failed POSTs', { figures: f });
  assertReconciled(t, f);
  t.same(strays.slice(0, 10), [], 'no request reached a pod while it was out of the file');
  t.ok(pooled > 0, `the socket probe sees the listed pods' pooled connections (${pooled})`);
  if (removed.length > 0) t.equal(socketsLeft, 0, `no upstream connection left to the ${removed.length} removed pod(s)`);
});
