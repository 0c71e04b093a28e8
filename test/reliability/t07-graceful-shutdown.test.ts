// Issue 3, test 7 (scenario T7 of docs/reliability-notes.md): glidepath's own graceful shutdown, as a real process. On SIGTERM
// /readyz turns 503 at once; for the drain delay glidepath keeps serving (with Connection: close),
// then stops accepting, lets the requests in flight finish and exits 0. A second signal exits at
// once.

import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { runLoad, Ledger } from '../../testkit/ledger.ts';
import { spawnProxy, type ChildProxy } from '../../testkit/proxy.ts';
import { rawRequest } from '../../testkit/raw.ts';
import { assertReconciled, failed, figures, log, oneVersion, pods } from './harness.ts';
import { sleep, waitFor, within } from '../../testkit/wait.ts';

const DRAIN_DELAY = 800;

async function spawned(t: Test, doc: Parameters<typeof spawnProxy>[0], env: Record<string, string>): Promise<ChildProxy> {
  // Without tap's NODE_OPTIONS: its process-info hook runs on exit (source-map lookups, a file
  // write) and would be measured as glidepath's own exit time.
  const gp = await spawnProxy(doc, { NODE_OPTIONS: '', ...env });
  t.teardown(() => gp.stop());
  return gp;
}

async function readyz(gp: ChildProxy): Promise<number> {
  const res = await request(`${gp.adminUrl}/readyz`, { headersTimeout: 2_000 });
  await res.body.text();
  return res.statusCode;
}

t.test('SIGTERM under load: /readyz 503 at once, the drain delay is served, in-flight requests finish, exit 0', async (t) => {
  const list = await pods(t, 2, { LATENCY_MS: '2' });
  const gp = await spawned(t, oneVersion(list), {
    GLIDEPATH_SHUTDOWN_DRAIN_DELAY: `${DRAIN_DELAY}ms`,
    GLIDEPATH_SHUTDOWN_GRACE_PERIOD: '5s',
    GLIDEPATH_UPSTREAM_SLOW_START_WINDOW: '0s',
  });
  t.equal(await readyz(gp), 200, 'ready before the signal');

  // Six slow requests (GET and POST with bodies), all received by the pods before the signal.
  const slow = Promise.all([
    runLoad({ url: gp.url, path: '/slow/1500', connections: 3, total: 3, requestTimeoutMs: 8_000 }),
    runLoad({ url: gp.url, path: '/slow/1500', connections: 3, total: 3, postRatio: 1, bodyBytes: 1024, requestTimeoutMs: 8_000 }),
  ]);
  await waitFor(
    'the slow requests to reach the pods',
    () => list.reduce((n, p) => n + p.ledger().filter((e) => e.ev === 'recv' && e.path === '/slow/1500').length, 0) === 6,
    3_000,
    10,
  );

  const signalAt = performance.now();
  gp.kill('SIGTERM');
  let readyzFlippedMs = -1;
  const flipped = waitFor('/readyz to answer 503', async () => (await readyz(gp)) === 503, 1_000, 10).then(
    () => {
      readyzFlippedMs = performance.now() - signalAt;
    },
    () => undefined,
  );
  // Clients that keep sending during the drain delay (they have not noticed yet).
  const during = runLoad({
    url: gp.url,
    connections: 4,
    durationMs: DRAIN_DELAY - 300,
    postRatio: 0.3,
    bodyBytes: 1024,
    requestTimeoutMs: 5_000,
  });
  const closeHeader = rawRequest(gp.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { waitMs: 1_000 });
  await flipped;
  const drainLedger = await during;
  const drainClose = await closeHeader;
  // Past the drain delay, while the slow requests still run: the listener is closed.
  await sleep(Math.max(0, signalAt + DRAIN_DELAY + 200 - performance.now()));
  const refusedAt = performance.now() - signalAt;
  const refused = await request(`${gp.url}/`, { headersTimeout: 1_000 }).then(
    (r) => {
      void r.body.text();
      return `status ${r.statusCode}`;
    },
    (err: { code?: string }) => err.code ?? 'error',
  );
  const [slowGets, slowPosts] = await slow;
  const exitCode = await within(gp.exited, 6_000, 'no exit');
  const exitedAt = performance.now() - signalAt;

  const slowAll = new Ledger();
  for (const l of [slowGets, slowPosts]) for (const [id, r] of l.records) slowAll.records.set(id, r);
  const slowLast = Math.max(...[...slowAll.records.values()].map((r) => r.endedAt));
  const everything = new Ledger();
  for (const l of [slowAll, drainLedger]) for (const [id, r] of l.records) everything.records.set(id, r);
  const fa = await figures(everything, list);
  const fs = await figures(slowAll, list);
  const fd = await figures(drainLedger, list);
  log('t07 graceful shutdown', {
    readyzFlippedMs: Math.round(readyzFlippedMs),
    drain: { ...fd, failures: fd.failures },
    slow: fs.byMethod,
    refusedAfterDrainAt: Math.round(refusedAt),
    refused,
    exitCode,
    exitedAtMs: Math.round(exitedAt),
  });

  t.ok(readyzFlippedMs >= 0 && readyzFlippedMs < 500, `/readyz answered 503 ${Math.round(readyzFlippedMs)} ms after SIGTERM`);
  t.ok(drainLedger.sent > 20, `clients kept sending during the drain delay (${drainLedger.sent} requests)`);
  t.equal(failed(drainLedger), 0, '0 failed during the drain delay', { figures: fd, output: gp.output().slice(-2_000) });
  t.equal(drainClose.status, 200, 'a request during the drain delay is served...');
  t.equal(drainClose.headers.connection, 'close', '...with Connection: close');
  t.equal(refused, 'ECONNREFUSED', `after the drain delay new connections are refused (at ${Math.round(refusedAt)} ms)`);
  t.equal(failed(slowAll), 0, 'the 6 requests in flight at SIGTERM completed', { figures: fs });
  t.equal(slowAll.count('ok'), 6, 'all 6 answered 200');
  assertReconciled(t, fa);
  t.equal(exitCode, 0, 'glidepath exited 0', { output: gp.output().slice(-2_000) });
  t.ok(Date.now() >= slowLast, 'after the in-flight requests finished');
  t.ok(exitedAt < DRAIN_DELAY + 5_000, `within drain delay + grace period (${Math.round(exitedAt)} ms)`);
});

t.test('a second SIGTERM exits at once', async (t) => {
  const list = await pods(t, 1);
  const gp = await spawned(t, oneVersion(list), { GLIDEPATH_SHUTDOWN_DRAIN_DELAY: '10s', GLIDEPATH_SHUTDOWN_GRACE_PERIOD: '10s' });
  gp.kill('SIGTERM');
  await waitFor('/readyz to answer 503', async () => (await readyz(gp)) === 503, 2_000, 10);
  const second = performance.now();
  gp.child.kill('SIGTERM');
  const code = await within(gp.exited, 3_000, 'no exit');
  const ms = Math.round(performance.now() - second);
  log('t07 second signal', { code, ms });
  // On a failure, what the kernel says about the process (state, pending and caught signals).
  let proc = '';
  if (code === 'no exit') {
    try {
      proc = readFileSync(`/proc/${gp.child.pid}/status`, 'utf8')
        .split('\n')
        .filter((l) => /^(State|SigQ|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt|Threads):/.test(l))
        .join('; ');
    } catch (err) {
      proc = String(err);
    }
  }
  t.not(code, 'no exit', 'it exited', { output: gp.output().slice(-3_000), proc });
  t.ok(ms < 500, `within ${ms} ms of the second signal (the drain delay was 10 s)`);
  t.equal(code, 1, 'with code 1 (a forced exit, not a clean stop)');
});
