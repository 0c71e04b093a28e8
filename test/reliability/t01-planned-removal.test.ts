// Issue 3, test 1 (scenario T1 of docs/reliability-notes.md): planned removal. The endpoint is marked terminating first, then
// its process gets SIGTERM. glidepath stops sending to it the moment the snapshot applies, lets
// its in-flight requests finish and closes its idle sockets, so no request of any method fails.

import t from 'tap';
import { runLoad } from '../../testkit/ledger.ts';
import { assertReconciled, failed, figures, log, oneVersion, pods, proxy, waitForState } from './harness.ts';
import { sleep } from '../../testkit/wait.ts';

t.test('an endpoint marked terminating, then SIGTERMed, costs no request of any method', async (t) => {
  const list = await pods(t, 3, { LATENCY_MS: '5', ON_SIGTERM: 'drain', DRAIN_MS: '200' });
  const [leaving] = list;
  if (leaving === undefined) throw new Error('no pod');
  const gp = await proxy(t, oneVersion(list), { 'upstream.slowStartWindow': '0s' });

  let appliedAt = 0;
  let exitCode: unknown;
  const load = runLoad({ url: gp.url, connections: 8, durationMs: 2_500, postRatio: 0.3, bodyBytes: 1024, requestTimeoutMs: 5_000 });
  const fault = (async () => {
    await sleep(700);
    gp.writeEndpoints({
      versions: [{ name: 'v1', revision: 1 }],
      endpoints: list.map((p) => ({ address: p.address, version: 'v1', name: p.name, terminating: p === leaving })),
    });
    await waitForState(gp, leaving.address, 'terminating');
    appliedAt = Date.now();
    // Let in-flight requests to it finish, then the kubelet's SIGTERM.
    await sleep(100);
    leaving.kill('SIGTERM');
    exitCode = await leaving.exited;
  })();
  const ledger = await load;
  await fault;

  const f = await figures(ledger, list);
  log('t01 planned removal', { ...f, failures: undefined });
  t.equal(exitCode, 0, 'the pod drained and exited 0');
  t.ok(ledger.sent > 500, `enough traffic to mean something (${ledger.sent} requests)`);
  t.equal(failed(ledger, 'GET'), 0, '0 failed GETs', { figures: f });
  t.equal(failed(ledger, 'POST'), 0, '0 failed POSTs', { figures: f });
  assertReconciled(t, f);
  // Nothing new reached the pod once glidepath knew it was terminating. The pod stamps its ledger
  // in another process: 50 ms of slack for a request dispatched just before the change and still
  // on its way (the SIGTERM follows 100 ms later, the pod serves 200 ms more).
  const late = leaving.ledger().filter((e) => e.ev === 'recv' && e.t > appliedAt + 50);
  t.same(
    late.map((e) => e.id),
    [],
    'no request reached the terminating pod after the snapshot applied',
  );
  const before = leaving.ledger().filter((e) => e.ev === 'recv').length;
  t.ok(before > 0, `the pod took traffic before it left (${before} requests)`);
});
