// retry.canaryStatuses: during a rollout an idempotent request that the newest version answered
// with a 5xx is replayed on the stable version, within the retry budget; non-idempotent ones get
// the 500. The failed attempt still counts against the canary.

import t, { type Test } from 'tap';
import { startPod } from '../../testkit/pods.ts';
import { startProxy } from '../../testkit/proxy.ts';
import { runLoad } from '../../testkit/ledger.ts';
import { ATTEMPT_FAILED, type AttemptVerdict } from '../../src/core/control.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

async function setup(t: Test, flags: Record<string, unknown> = {}) {
  const stable = await startPod({ APP_VERSION: 'stable' });
  const canary = await startPod({ APP_VERSION: 'canary', FAIL_RATE: '1', FAIL_STATUS: '500' });
  t.teardown(() => Promise.all([stable.stop(), canary.stop()]));
  const gp = await startProxy(
    {
      versions: [
        { name: 'stable', revision: 1, weight: 8_000 },
        { name: 'canary', revision: 2, weight: 2_000 },
      ],
      endpoints: [
        { address: stable.address, version: 'stable' },
        { address: canary.address, version: 'canary' },
      ],
    },
    { 'outlier.consecutiveFailures': 0, 'upstream.slowStartWindow': '0s', ...flags },
  );
  t.teardown(() => gp.stop());
  return { stable, canary, gp };
}

t.test('with the defaults (every 5xx), a canary failing 100 % costs GET clients nothing; POSTs get the 500', async (t) => {
  const { canary, gp } = await setup(t);
  const verdicts: AttemptVerdict[] = [];
  gp.app.dataPlane.setOutcomeObserver({
    firstAttempt: (v, _r, verdict) => {
      if (v === 'canary') verdicts.push(verdict);
    },
    requestDone: () => undefined,
  });
  const ledger = await runLoad({ url: gp.url, connections: 4, total: 250, postRatio: 0.3, bodyBytes: 512, requestTimeoutMs: 5_000 });
  const at = canary.ledger().filter((e) => e.ev === 'done' && e.id.startsWith('r') && e.status === 500);
  const get500 = at.filter((e) => e.method === 'GET').length;
  const post500 = at.filter((e) => e.method === 'POST').length;
  const doc = (await (await fetch(`${gp.adminUrl}/status`)).json()) as StatusDocument;
  const c = doc.versions.find((v) => v.name === 'canary');
  t.ok(get500 > 10 && post500 > 0, `the canary failed ${get500} GETs and ${post500} POSTs`);
  const failures = ledger.failures();
  t.equal(failures.filter((r) => r.method === 'GET').length, 0, 'GET clients saw 0 failures');
  t.equal(failures.filter((r) => r.method === 'POST').length, post500, 'each POST the canary failed got its 500');
  t.ok(
    failures.every((r) => r.status === 500),
    'passed on as the pod answered',
  );
  t.equal(c?.retries, get500, 'one replay per failed canary GET');
  t.equal(c?.failovers, get500, 'each on the stable version');
  t.equal(c?.attempts.http_5xx, get500 + post500, 'every failed attempt is counted against the canary');
  t.equal(verdicts.filter((v) => v === ATTEMPT_FAILED).length, get500 + post500, 'and reported as FAILED evidence');
  t.equal(doc.retryBudgetExhausted, 0, 'within the budget');
});

t.test('not during a rollout: a single version passes its 500s on (canaryStatuses need an older version)', async (t) => {
  const { canary, gp } = await setup(t);
  gp.app.dataPlane.setWeights({ stable: 0, canary: 10_000 });
  // With stable at weight 0 only the canary routes: no rollout, no replay target anyway.
  const ledger = await runLoad({ url: gp.url, connections: 2, total: 20, requestTimeoutMs: 5_000 });
  t.equal(ledger.failures().length, 20, 'each 500 reached the client');
  const doc = (await (await fetch(`${gp.adminUrl}/status`)).json()) as StatusDocument;
  t.equal(doc.versions.find((v) => v.name === 'canary')?.retries, 0, 'no replay');
  t.equal(
    canary.ledger().filter((e) => e.ev === 'done' && e.id.startsWith('r') && e.status === 500).length,
    20,
    'the canary answered all 20, each with 500',
  );
});

t.test('retry.canaryStatuses: [] turns it off', async (t) => {
  const { gp } = await setup(t, { 'retry.canaryStatuses': [] });
  const ledger = await runLoad({ url: gp.url, connections: 2, total: 80, requestTimeoutMs: 5_000 });
  const failed = ledger.failures();
  t.ok(
    failed.length > 5 && failed.every((r) => r.version === 'canary' && r.status === 500),
    `the canary's 500s reached clients (${failed.length})`,
  );
});
