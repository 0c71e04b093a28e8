// The outcome stream (core/control.ts OutcomeObserver) through a real data plane and real pods:
// one firstAttempt per request with ρ of the snapshot that routed it and a verdict that matches
// what the pod did, never one for a replay; one requestDone per client request.

import t, { type Test } from 'tap';
import { startPod, type Pod } from '../../testkit/pods.ts';
import { startProxy, type InProcessProxy } from '../../testkit/proxy.ts';
import { runLoad } from '../../testkit/ledger.ts';
import { unusedPort } from '../../testkit/wait.ts';
import { ATTEMPT_EXCLUDED, ATTEMPT_FAILED, ATTEMPT_OK, type AttemptVerdict, type OutcomeObserver } from '../../src/core/control.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

interface First {
  version: string;
  rho: number;
  verdict: AttemptVerdict;
  latencyMs: number;
}
interface Done {
  version: string;
  clientFailed: boolean;
  clientGone: boolean;
}

/** The consumer a rollout analysis would be: it records what it is told. */
class Recorder implements OutcomeObserver {
  readonly first: First[] = [];
  readonly done: Done[] = [];
  firstAttempt(version: string, rho: number, verdict: AttemptVerdict, latencyMs: number): void {
    this.first.push({ version, rho, verdict, latencyMs });
  }
  requestDone(version: string, clientFailed: boolean, clientGone: boolean): void {
    this.done.push({ version, clientFailed, clientGone });
  }
  count(version: string, verdict: AttemptVerdict): number {
    return this.first.filter((e) => e.version === version && e.verdict === verdict).length;
  }
}

async function pod(t: Test, env: Parameters<typeof startPod>[0]): Promise<Pod> {
  const p = await startPod(env);
  t.teardown(() => p.stop());
  return p;
}

async function proxy(t: Test, doc: Parameters<typeof startProxy>[0], flags: Record<string, unknown> = {}): Promise<InProcessProxy> {
  const p = await startProxy(doc, { 'outlier.consecutiveFailures': 0, 'upstream.slowStartWindow': '0s', ...flags });
  t.teardown(() => p.stop());
  return p;
}

async function statusOf(p: InProcessProxy): Promise<StatusDocument> {
  return (await (await fetch(`${p.adminUrl}/status`)).json()) as StatusDocument;
}

/** Requests the pod finished for the load generator (its ledger), by status. */
function answered(p: Pod): { total: number; s500: number; get500: number; post500: number } {
  const done = p.ledger().filter((e) => e.ev === 'done' && e.id.startsWith('r'));
  const s500 = done.filter((e) => e.status === 500);
  return {
    total: done.length,
    s500: s500.length,
    get500: s500.filter((e) => e.method === 'GET').length,
    post500: s500.filter((e) => e.method === 'POST').length,
  };
}

t.test('a rollout at 30 %: verdicts per version match the pods, ρ is the canary share, replays are not reported', async (t) => {
  const stable = await pod(t, { APP_VERSION: 'v1' });
  const canary = await pod(t, { APP_VERSION: 'v2', FAIL_RATE: '0.3', FAIL_STATUS: '500' });
  const gp = await proxy(t, {
    versions: [
      { name: 'v1', revision: 1, weight: 7_000 },
      { name: 'v2', revision: 2, weight: 3_000 },
    ],
    endpoints: [
      { address: stable.address, version: 'v1' },
      { address: canary.address, version: 'v2' },
    ],
  });
  const rec = new Recorder();
  gp.app.dataPlane.setOutcomeObserver(rec);
  const ledger = await runLoad({ url: gp.url, connections: 4, total: 300, postRatio: 0.3, bodyBytes: 256, requestTimeoutMs: 5_000 });

  const c = answered(canary);
  const s = answered(stable);
  const doc = await statusOf(gp);
  const v2 = doc.versions.find((v) => v.name === 'v2');
  t.ok(c.get500 > 5 && c.post500 > 0, `the canary failed GETs (${c.get500}) and POSTs (${c.post500})`);
  t.equal(rec.first.length, 300, 'one firstAttempt per client request');
  t.equal(rec.done.length, 300, 'one requestDone per client request');
  t.ok(
    rec.first.every((e) => e.rho === 0.3),
    'ρ = 0.3 on every first attempt',
  );
  t.equal(rec.count('v2', ATTEMPT_FAILED), c.s500, 'canary FAILED = the 500s it answered');
  t.equal(rec.count('v2', ATTEMPT_OK), c.total - c.s500, 'canary OK = the rest it answered');
  t.equal(v2?.retries, c.get500, 'each failed canary GET was replayed (retry.canaryStatuses)');
  t.equal(rec.count('v1', ATTEMPT_OK), s.total - c.get500, 'stable OK = what it answered, less the replays it took');
  t.equal(rec.count('v1', ATTEMPT_FAILED) + rec.count('v1', ATTEMPT_EXCLUDED) + rec.count('v2', ATTEMPT_EXCLUDED), 0, 'nothing else');
  t.ok(
    rec.first.every((e) => e.latencyMs >= 0 && e.latencyMs < 5_000),
    'latencies are durations in ms',
  );
  t.equal(rec.done.filter((d) => d.clientFailed).length, c.post500, 'clients saw only the POST 500s');
  t.equal(ledger.failures().length, c.post500, '(the load generator agrees)');
  t.equal(
    rec.done.filter((d) => d.version === 'v2').length,
    rec.first.filter((e) => e.version === 'v2').length,
    'requestDone names the first version',
  );

  // The canary at weight 0: one routable version left, the newest routable one is v1 itself.
  gp.app.dataPlane.setWeights({ v1: 10_000, v2: 0 });
  const before = rec.first.length;
  for (let i = 0; i < 10; i++) await (await fetch(`${gp.url}/`)).text();
  const after = rec.first.slice(before);
  t.same([after.length, new Set(after.map((e) => `${e.version} ρ=${e.rho}`))], [10, new Set(['v1 ρ=1'])], 'after the cut: v1, ρ = 1');

  gp.app.dataPlane.setOutcomeObserver(null);
  for (let i = 0; i < 5; i++) await (await fetch(`${gp.url}/`)).text();
  t.equal(rec.first.length, before + 10, 'with the observer removed nothing is reported');
});

t.test('a refused connection is a FAILED first attempt; its replay is not reported; the client sees success', async (t) => {
  const live = await pod(t, { APP_VERSION: 'v1' });
  const dead = `127.0.0.1:${await unusedPort()}`;
  const gp = await proxy(t, {
    versions: [{ name: 'v1', revision: 1 }],
    endpoints: [
      { address: live.address, version: 'v1' },
      { address: dead, version: 'v1' },
    ],
  });
  const rec = new Recorder();
  gp.app.dataPlane.setOutcomeObserver(rec);
  const ledger = await runLoad({ url: gp.url, connections: 2, total: 60, postRatio: 0.5, bodyBytes: 64, requestTimeoutMs: 5_000 });
  const doc = await statusOf(gp);
  const v1 = doc.versions[0];
  t.equal(ledger.failures().length, 0, 'connect failures are replayed for any method');
  t.ok((v1?.attempts.connect_error ?? 0) > 5, `some first attempts went to the dead pod (${v1?.attempts.connect_error})`);
  t.equal(rec.count('v1', ATTEMPT_FAILED), v1?.attempts.connect_error, 'FAILED = connect errors');
  t.equal(rec.count('v1', ATTEMPT_OK), 60 - (v1?.attempts.connect_error ?? 0), 'OK = the rest');
  t.ok(
    rec.first.every((e) => e.rho === 1),
    'one version: ρ = 1',
  );
  t.equal(rec.done.filter((d) => d.clientFailed || d.clientGone).length, 0, 'no request failed or was abandoned');
});

t.test('a client that goes away: EXCLUDED, and requestDone says clientGone', async (t) => {
  const slow = await pod(t, { APP_VERSION: 'v1', LATENCY_MS: '3000' });
  const gp = await proxy(t, { versions: [{ name: 'v1', revision: 1 }], endpoints: [{ address: slow.address, version: 'v1' }] });
  const rec = new Recorder();
  gp.app.dataPlane.setOutcomeObserver(rec);
  const client = new AbortController();
  const pending = fetch(`${gp.url}/gone`, { signal: client.signal });
  // Abort once the pod holds the request (so the attempt really was under way).
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const deadline = Date.now() + 5_000;
      const poll = (): void => void (done() || Date.now() > deadline ? resolve() : setTimeout(poll, 20));
      poll();
    });
  await until(() => slow.ledger().some((e) => e.ev === 'recv'));
  client.abort();
  await t.rejects(pending);
  await until(() => rec.done.length > 0);
  t.same(
    rec.first.map((e) => e.verdict),
    [ATTEMPT_EXCLUDED],
    'the attempt is not evidence',
  );
  t.same(rec.done, [{ version: 'v1', clientFailed: false, clientGone: true }], 'the request ended with the client gone');
});

t.test('no target at all: requestDone for the unrouted request, no firstAttempt', async (t) => {
  const gp = await proxy(t, { versions: [{ name: 'v1', revision: 1 }], endpoints: [] });
  const rec = new Recorder();
  gp.app.dataPlane.setOutcomeObserver(rec);
  t.equal((await fetch(`${gp.url}/`)).status, 503);
  t.equal(rec.first.length, 0, 'no attempt was made');
  t.same(rec.done, [{ version: '(none)', clientFailed: true, clientGone: false }], 'a failed, unrouted request');
});
