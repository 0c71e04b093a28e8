// Issue 3, test 2 (scenario T2 of docs/reliability-notes.md): the pod drains and exits on SIGTERM while glidepath still lists it
// as ready (the EndpointSlice update lags). Its idle sockets close under glidepath, then its
// listener is gone: connect-refused and resets on reused sockets before the pod answered are
// replayed for every method; only POSTs the pod had in flight on closing connections may fail.

import t from 'tap';
import { runLoad } from '../../testkit/ledger.ts';
import {
  assertReconciled,
  duplicates,
  failed,
  figures,
  log,
  oneVersion,
  podFigures,
  pods,
  proxy,
  status,
  endpointState,
} from './harness.ts';
import { sleep } from '../../testkit/wait.ts';

t.test('a pod that drains and exits before glidepath learns it is gone costs no GET', async (t) => {
  const list = await pods(t, 3, { LATENCY_MS: '5', ON_SIGTERM: 'drain', DRAIN_MS: '0' });
  const [leaving] = list;
  if (leaving === undefined) throw new Error('no pod');
  const gp = await proxy(t, oneVersion(list), { 'upstream.slowStartWindow': '0s' });

  let exitCode: unknown;
  let stateWhileListed = '';
  const load = runLoad({ url: gp.url, connections: 8, durationMs: 3_000, postRatio: 0.3, bodyBytes: 1024, requestTimeoutMs: 5_000 });
  const fault = (async () => {
    await sleep(700);
    leaving.kill('SIGTERM');
    exitCode = await leaving.exited;
    // Discovery lags by a second: meanwhile the pod is still "ready" in the endpoints file.
    await sleep(1_000);
    stateWhileListed = endpointState(await status(gp), leaving.address);
    gp.writeEndpoints(oneVersion(list.filter((p) => p !== leaving)));
  })();
  const ledger = await load;
  await fault;

  const f = await figures(ledger, list);
  const gone = podFigures(leaving.ledger(), (e) => e.id.startsWith('r'));
  const postInFlight = podFigures(leaving.ledger(), (e) => e.id.startsWith('r') && e.method === 'POST');
  const doc = await status(gp);
  const v1 = doc.versions.find((v) => v.name === 'v1');
  log('t02 graceful exit before removal', {
    ...f,
    failures: f.failures,
    stateWhileListed,
    attempts: v1?.attempts,
    retries: v1?.retries,
    ejections: v1?.ejections,
    postDuplicates: duplicates(
      list.map((p) => p.ledger()),
      'POST',
    ).length,
  });
  t.equal(exitCode, 0, 'the pod drained and exited 0');
  t.ok(ledger.sent > 500, `enough traffic to mean something (${ledger.sent} requests)`);
  t.equal(failed(ledger, 'GET'), 0, '0 failed GETs', { figures: f });
  // The pod's ledger: what it received and never finished (aborted, or open when it exited).
  const bound = postInFlight.open.length + postInFlight.aborted;
  t.ok(failed(ledger, 'POST') <= bound, `failed POSTs (${failed(ledger, 'POST')}) ≤ POSTs in flight on the closing pod (${bound})`, {
    figures: f,
    gone,
  });
  assertReconciled(t, f);
  t.ok(gone.recv > 0, `the pod took traffic before it left (${gone.recv} requests)`);
  t.equal(
    duplicates(
      list.map((p) => p.ledger()),
      'POST',
    ).length,
    0,
    'no POST was received by two pods',
  );
});
