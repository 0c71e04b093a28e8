// Issue 3, test 8: a canary answering 500 to every idempotent request (FAIL_METHODS=GET,HEAD)
// next to a healthy stable version. 500 is not among the default retry statuses (502, 503, 504);
// these tests list it in retry.statuses (retry.canaryStatuses, every 5xx by default, would replay
// it too: test/dataplane/canary-statuses.test.ts); the last case turns both off and shows the 500s
// passed on. While the retry budget allows,
// each failed GET is replayed on the stable version and clients see nothing; every failed attempt
// is counted against the canary. With the budget spent, failures reach clients, exactly as many
// as the budget arithmetic says.

import t from 'tap';
import { runLoad } from '../../testkit/ledger.ts';
import { assertReconciled, failed, figures, log, pods, pod, proxy, status, versionOf, type Pod, type EndpointsDoc } from './harness.ts';

const STATUSES = [500, 502, 503, 504];

function split(stable: readonly Pod[], canary: Pod, canaryWeight: number): EndpointsDoc {
  return {
    versions: [
      { name: 'stable', revision: 1, weight: 10_000 - canaryWeight },
      { name: 'canary', revision: 2, weight: canaryWeight },
    ],
    endpoints: [
      ...stable.map((p) => ({ address: p.address, version: 'stable', name: p.name })),
      { address: canary.address, version: 'canary', name: canary.name },
    ],
  };
}

const canaryEnv = { APP_VERSION: 'canary', FAIL_RATE: '1', FAIL_STATUS: '500', FAIL_METHODS: 'GET,HEAD' } as const;

/** What the canary pod answered, by method and status (its own ledger). */
function canaryAnswers(canary: Pod): { get500: number; getOther: number; post: number } {
  const done = canary.ledger().filter((e) => e.ev === 'done' && e.id.startsWith('r'));
  return {
    get500: done.filter((e) => e.method === 'GET' && e.status === 500).length,
    getOther: done.filter((e) => e.method === 'GET' && e.status !== 500).length,
    post: done.filter((e) => e.method === 'POST').length,
  };
}

t.test('within the retry budget, a canary failing every GET with 500 costs clients nothing, and is charged for it', async (t) => {
  const stable = await pods(t, 2, { APP_VERSION: 'stable' });
  const canary = await pod(t, canaryEnv);
  // Ejection off here: it would stop the canary's traffic after 5 failures (the third case).
  const gp = await proxy(t, split(stable, canary, 2_000), {
    'retry.statuses': STATUSES,
    'outlier.consecutiveFailures': 0,
    'upstream.slowStartWindow': '0s',
  });
  const ledger = await runLoad({
    url: gp.url,
    connections: 6,
    durationMs: 1_000,
    postRatio: 0.3,
    bodyBytes: 1024,
    requestTimeoutMs: 5_000,
  });

  const f = await figures(ledger, [...stable, canary]);
  const doc = await status(gp);
  const c = versionOf(doc, 'canary');
  const s = versionOf(doc, 'stable');
  const answers = canaryAnswers(canary);
  log('t08 canary 500 within budget', {
    ...f,
    canaryAnswers: answers,
    canary: { attempts: c.attempts, retries: c.retries, failovers: c.failovers, failures: c.failures, statusClasses: c.statusClasses },
    stable: { attempts: s.attempts, retries: s.retries, failures: s.failures },
    budgetExhausted: gp.app.dataPlane.retryBudget.exhausted,
  });

  t.ok(answers.get500 > 20, `the canary failed GETs (${answers.get500})`);
  t.equal(answers.getOther, 0, 'and answered no GET otherwise');
  t.ok(answers.post > 0, `it served POSTs (${answers.post})`);
  t.equal(failed(ledger), 0, 'clients saw 0 failures', { figures: f });
  assertReconciled(t, f);
  t.equal(c.attempts.http_5xx, answers.get500, '/status: every 500 attempt is counted against the canary');
  t.equal(c.retries, answers.get500, '/status: one retry per failed canary attempt');
  t.equal(c.failovers, answers.get500, '/status: each one a failover to the stable version');
  t.equal(c.failures, 0, '/status: no client-visible failure on the canary');
  t.equal(s.attempts.http_5xx, 0, '/status: nothing charged to the stable version');
  t.equal(s.retries, 0, '/status: no retry from the stable version');
  t.equal(gp.app.dataPlane.retryBudget.exhausted, 0, 'the budget was never exhausted');
  // Every client request that the canary failed was answered by the stable version.
  const failedAtCanary = new Set(
    canary
      .ledger()
      .filter((e) => e.ev === 'done' && e.status === 500)
      .map((e) => e.id),
  );
  const answeredBy = [...failedAtCanary].map((id) => ledger.records.get(id)?.version);
  t.ok(
    answeredBy.every((v) => v === 'stable'),
    'each failed canary GET was answered by the stable version',
  );
});

t.test('with the retry budget spent, failures reach clients: exactly the canary 500s beyond the budget', async (t) => {
  const stable = await pods(t, 2, { APP_VERSION: 'stable' });
  const canary = await pod(t, canaryEnv);
  // Budget: ratio 0 plus 1 retry per second over the 10 s window = 10 retries in this test (< 10 s).
  const gp = await proxy(t, split(stable, canary, 5_000), {
    'retry.statuses': STATUSES,
    'retry.budgetRatio': 0,
    'retry.budgetMinPerSecond': 1,
    'outlier.consecutiveFailures': 0,
    'upstream.slowStartWindow': '0s',
  });
  const started = performance.now();
  const ledger = await runLoad({ url: gp.url, connections: 4, total: 400, postRatio: 0.3, bodyBytes: 1024, requestTimeoutMs: 5_000 });
  const elapsed = performance.now() - started;

  const f = await figures(ledger, [...stable, canary]);
  const c = versionOf(await status(gp), 'canary');
  const answers = canaryAnswers(canary);
  const exhausted = gp.app.dataPlane.retryBudget.exhausted;
  log('t08 canary 500 budget spent', {
    client: f.client,
    byMethod: f.byMethod,
    canaryAnswers: answers,
    canary: { attempts: c.attempts, retries: c.retries, failovers: c.failovers, failures: c.failures },
    exhausted,
    elapsedMs: Math.round(elapsed),
  });

  t.ok(elapsed < 9_000, `the run fits in one budget window (${Math.round(elapsed)} ms)`);
  t.ok(answers.get500 > 20, `the canary failed more GETs (${answers.get500}) than the budget covers`);
  t.equal(c.retries, 10, 'exactly 10 retries were allowed');
  t.equal(c.failovers, 10, 'all 10 to the stable version');
  t.equal(failed(ledger), answers.get500 - 10, `client failures = canary 500s − budget = ${answers.get500} − 10`, { figures: f });
  t.equal(exhausted, answers.get500 - 10, 'each of them a refused retry');
  t.ok(
    ledger.failures().every((r) => r.status === 500 && r.version === 'canary' && r.method === 'GET'),
    "each one the canary's own 500 to a GET, passed on",
  );
  t.equal(c.attempts.http_5xx, answers.get500, 'every 500 attempt is counted against the canary');
  t.equal(c.failures, answers.get500 - 10, 'and the client-visible ones as canary failures');
  assertReconciled(t, { ...f, statusMismatch: f.statusMismatch });
});

t.test('with default outlier settings the failing canary is ejected after 5 failures, still at no cost to clients', async (t) => {
  const stable = await pods(t, 2, { APP_VERSION: 'stable' });
  const canary = await pod(t, canaryEnv);
  const gp = await proxy(t, split(stable, canary, 2_000), { 'retry.statuses': STATUSES, 'upstream.slowStartWindow': '0s' });
  const ledger = await runLoad({ url: gp.url, connections: 6, durationMs: 800, postRatio: 0.3, bodyBytes: 1024, requestTimeoutMs: 5_000 });
  const f = await figures(ledger, [...stable, canary]);
  const doc = await status(gp);
  const c = versionOf(doc, 'canary');
  const answers = canaryAnswers(canary);
  log('t08 canary ejected', {
    client: f.client,
    canaryAnswers: answers,
    canary: {
      attempts: c.attempts,
      retries: c.retries,
      ejections: c.ejections,
      effectiveWeight: c.effectiveWeight,
      endpoints: c.endpoints,
    },
  });
  t.equal(failed(ledger), 0, 'clients saw 0 failures', { figures: f });
  t.equal(c.ejections, 1, 'the canary pod was ejected once');
  t.equal(c.endpoints[0]?.state, 'ejected', '/status shows it ejected');
  t.equal(c.effectiveWeight, 0, 'its share went to the stable version meanwhile');
  t.equal(c.attempts.http_5xx, answers.get500, 'every 500 attempt is counted against the canary');
  assertReconciled(t, f);
});

t.test(
  'with retry.canaryStatuses off and the default retry statuses (502, 503, 504) a canary 500 is passed on to the client',
  async (t) => {
    const stable = await pods(t, 1, { APP_VERSION: 'stable' });
    const canary = await pod(t, canaryEnv);
    const gp = await proxy(t, split(stable, canary, 5_000), {
      'retry.canaryStatuses': [],
      'outlier.consecutiveFailures': 0,
      'upstream.slowStartWindow': '0s',
    });
    const ledger = await runLoad({ url: gp.url, connections: 2, total: 60, requestTimeoutMs: 5_000 });
    const f = await figures(ledger, [...stable, canary]);
    const answers = canaryAnswers(canary);
    const c = versionOf(await status(gp), 'canary');
    t.ok(answers.get500 > 0, `the canary failed GETs (${answers.get500})`);
    t.equal(failed(ledger), answers.get500, 'each one reached the client', { figures: f });
    t.equal(c.retries, 0, 'no retry');
  },
);
