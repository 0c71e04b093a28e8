// Issue 3, test 5 (scenario T5 of docs/reliability-notes.md): a pod that accepts requests and never answers. An idempotent
// request stuck on it is replayed on a healthy pod after retry.perTryTimeout; one that cannot be
// replayed gets a 504 at its timeout; the hung pod is ejected; traffic the healthy pod serves
// directly keeps its latency.

import t from 'tap';
import { request } from 'undici';
import { runLoad, Ledger } from '../../testkit/ledger.ts';
import {
  assertReconciled,
  figures,
  latencies,
  log,
  oneVersion,
  percentile,
  pod,
  proxy,
  status,
  versionOf,
  endpointState,
} from './harness.ts';
import { sleep } from '../../testkit/wait.ts';

const PER_TRY = 300;
const RESPONSE = 1_000;
const flags = { 'retry.perTryTimeout': PER_TRY, 'upstream.responseTimeout': RESPONSE, 'upstream.slowStartWindow': '0s' };

t.test('next to a healthy pod, a hung pod costs GETs one per-try timeout and POSTs a 504; other traffic is unaffected', async (t) => {
  // 20 ms per request keeps a few requests outstanding on the healthy pod, so the balancer (P2C
  // on outstanding requests) still sends the hung pod its share until it is ejected.
  const healthy = await pod(t, { LATENCY_MS: '20' });
  const hung = await pod(t, { HANG: '1' });

  // Baseline: the healthy pod alone.
  const gp = await proxy(t, oneVersion([healthy]), flags);
  const base = await runLoad({ url: gp.url, connections: 6, durationMs: 800, postRatio: 0.3, bodyBytes: 1024, requestTimeoutMs: 5_000 });
  const baseP99 = percentile(latencies(base.records.values()), 99);

  const generation = gp.app.dataPlane.snapshot.generation;
  gp.writeEndpoints(oneVersion([healthy, hung]));
  const started = performance.now();
  while (gp.app.dataPlane.snapshot.generation === generation && performance.now() - started < 2_000) await sleep(10);
  // GETs and POSTs side by side from the start (runLoad sends its POSTs in blocks).
  const [gets, posts] = await Promise.all([
    runLoad({ url: gp.url, connections: 4, durationMs: 2_000, bodyBytes: 1024, requestTimeoutMs: 5_000 }),
    runLoad({ url: gp.url, connections: 2, durationMs: 2_000, postRatio: 1, bodyBytes: 1024, requestTimeoutMs: 5_000 }),
  ]);
  const ledger = new Ledger();
  for (const l of [gets, posts]) for (const [id, r] of l.records) ledger.records.set(id, r);

  const all = new Ledger();
  for (const l of [base, ledger]) for (const [id, r] of l.records) all.records.set(id, r);
  const f = await figures(all, [healthy, hung]);
  const atHung = new Set(
    hung
      .ledger()
      .filter((e) => e.ev === 'recv')
      .map((e) => e.id),
  );
  const records = [...ledger.records.values()];
  const direct = records.filter((r) => !atHung.has(r.id));
  const viaHungGet = records.filter((r) => atHung.has(r.id) && r.method === 'GET');
  const viaHungPost = records.filter((r) => atHung.has(r.id) && r.method === 'POST');
  const directP99 = percentile(latencies(direct), 99);
  const doc = await status(gp);
  const v1 = versionOf(doc, 'v1');
  log('t05 hung pod', {
    ...f,
    baselineP99: baseP99,
    directP99,
    hungGets: viaHungGet.length,
    hungGetLatency: latencies(viaHungGet),
    hungPosts: viaHungPost.length,
    hungPostLatency: latencies(viaHungPost),
    attempts: v1.attempts,
    retries: v1.retries,
    ejections: v1.ejections,
    hungState: endpointState(doc, hung.address),
  });

  t.ok(atHung.size > 0, `the hung pod was tried (${atHung.size} requests)`);
  t.ok(viaHungGet.length > 0, `some GETs went to the hung pod first (${viaHungGet.length})`);
  for (const r of viaHungGet) {
    t.equal(r.outcome, 'ok', `GET ${r.id} stuck on the hung pod succeeded by a replay`);
    const ms = r.endedAt - r.startedAt;
    t.ok(ms >= PER_TRY - 5 && ms < PER_TRY + 400, `... after the per-try timeout (${ms} ms)`);
  }
  for (const r of viaHungPost) {
    t.same([r.status, r.code], [504, 'GP_UPSTREAM_TIMEOUT'], `POST ${r.id} stuck on the hung pod got a 504 (not replayable)`);
    const ms = r.endedAt - r.startedAt;
    t.ok(ms >= RESPONSE - 5 && ms < RESPONSE + 900, `... at upstream.responseTimeout (undici ticks: +0-0.5 s) (${ms} ms)`);
  }
  const unexplained = ledger.failures().filter((r) => !(r.method === 'POST' && atHung.has(r.id)));
  t.same(unexplained, [], 'every failure is a POST the hung pod held');
  t.equal(f.client.lost ?? 0, 0, 'no client hung');
  t.ok(directP99 < Math.max(150, 3 * baseP99), `healthy-pod latency bounded: p99 ${directP99} ms (baseline ${baseP99} ms)`);
  t.equal(endpointState(doc, hung.address), 'ejected', 'the hung pod is ejected');
  t.equal(v1.ejections, 1, 'one ejection counted');
  t.equal(v1.attempts.timeout, atHung.size, 'every attempt on the hung pod is counted as a timeout');
  t.equal(v1.retries, viaHungGet.length, 'one retry per GET replayed off the hung pod');
  assertReconciled(t, f);
});

t.test('alone, a hung pod answers a GET 504 at the per-try timeout and a POST 504 at the response timeout', async (t) => {
  const hung = await pod(t, { HANG: '1' });
  const gp = await proxy(t, oneVersion([hung]), flags);
  const timed = async (method: string) => {
    const start = performance.now();
    const res = await request(`${gp.url}/`, { method, body: method === 'POST' ? Buffer.alloc(1024, 0x61) : null, headersTimeout: 5_000 });
    await res.body.text();
    return { status: res.statusCode, code: res.headers['x-glidepath-error'], ms: Math.round(performance.now() - start) };
  };
  const [get, post] = await Promise.all([timed('GET'), timed('POST')]);
  log('t05 hung alone', { get, post });
  t.same([get.status, get.code], [504, 'GP_UPSTREAM_TIMEOUT'], 'GET: 504');
  t.ok(get.ms >= PER_TRY - 5 && get.ms < PER_TRY + 400, `GET answered at the per-try timeout (${get.ms} ms)`);
  t.same([post.status, post.code], [504, 'GP_UPSTREAM_TIMEOUT'], 'POST: 504');
  t.ok(post.ms >= RESPONSE - 5 && post.ms < RESPONSE + 900, `POST answered at upstream.responseTimeout (${post.ms} ms)`);
  const aborted = hung.ledger().filter((e) => e.ev === 'aborted').length;
  await sleep(50);
  t.ok(aborted >= 1, 'glidepath gave up on the pod (the pod saw the connection close)');
});
