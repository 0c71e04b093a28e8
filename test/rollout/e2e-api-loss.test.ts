// A lost and restored Kubernetes API connection mid-rollout (issue 8 §8): the data plane keeps
// routing on what it knows, so clients see nothing; the weights hold while glidepath cannot see the
// cluster; /status names the problem; once the API is back the rollout carries on and completes.

import t from 'tap';
import { FAST_ROLLOUT } from './e2e-abort.ts';
import { completedWhy, ledgerFigures, rolloutEnded, rolloutWorld, steadyLoad } from './e2e-harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

t.test('losing the API connection mid-rollout changes nothing for clients, and the rollout completes', async (t) => {
  const world = await rolloutWorld(t, { flags: FAST_ROLLOUT });
  const load = steadyLoad(world.url, 150);
  await sleep(1000);
  await world.setEnv({ APP_VERSION: 'v2' });
  const t0 = Date.now();
  const mid = await waitFor(
    'canary traffic in force',
    async () => {
      const s = await world.status();
      const r = s.rollout;
      return r?.phase === 'progressing' && r.canary && (r.weights[r.canary] ?? 0) > 0 ? s : undefined;
    },
    90_000,
    100,
  );
  const canary = mid.rollout?.canary as string;

  world.cluster.faults.setUnreachable(true);
  const outageAt = Date.now();
  const weightsBefore = JSON.stringify((await world.status()).rollout?.weights);
  const weightsSeen = new Set<string>();
  let problem: { name: string; code: string; message: string } | undefined;
  // The outage lasts until the step has the canary requests it needs, and 3 s more, so the
  // controller gets its chances to act on its in-memory evidence while blind to the cluster. (A step
  // advance then could not move the weights anyway: they are capped by the canary's share of ready
  // pods, and no new pod comes while glidepath cannot unpause the Deployment.)
  let enoughAt = Infinity;
  while (Date.now() - outageAt < 4000 || Date.now() - enoughAt < 3000) {
    if (Date.now() - outageAt > 25_000) break;
    const s = await world.status();
    if (enoughAt === Infinity && (s.rollout?.evidence?.stepCanaryAttempts.requests ?? 0) >= FAST_ROLLOUT['rollout.minStepRequests'])
      enoughAt = Date.now();
    weightsSeen.add(JSON.stringify(s.rollout?.weights));
    const w = s.discovery.watches?.find((x) => x.lastError !== null && Date.parse(x.lastError.at) >= outageAt);
    if (w?.lastError) problem ??= { name: w.name, code: w.lastError.code, message: w.lastError.message };
    await sleep(200);
  }
  const during = await world.status();
  world.cluster.faults.setUnreachable(false);
  const restoredAt = Date.now();

  t.ok(enoughAt !== Infinity, 'the step had the requests it needs to advance during the outage');
  t.same([...weightsSeen], [weightsBefore], `the weights did not change during the outage (${[...weightsSeen].join(' | ')})`);
  t.ok(problem, `/status names the problem: ${JSON.stringify(problem)}`);
  t.equal(problem?.code, 'GP_KUBERNETES_UNREACHABLE', 'as the API being unreachable');
  t.ok(
    during.discovery.watches?.some((w) => !w.connected),
    'and shows the watches disconnected',
  );

  await waitFor('the watches reconnected', async () => (await world.status()).discovery.watches?.every((w) => w.connected), 30_000, 200);
  const done = await rolloutEnded(world);
  t.equal(done.rollout?.phase, 'completed', completedWhy(done));
  const tDone = Date.now();
  await sleep(500);
  const figures = ledgerFigures(await load.stop(), world.podLedger());
  t.comment(
    JSON.stringify({ rolloutMs: tDone - t0, outageMs: restoredAt - outageAt, problem, weightsDuring: [...weightsSeen], ...figures }),
  );

  t.equal(done.rollout?.weights[canary], 10_000, 'the new version serves everything');
  t.equal(figures.failed, 0, 'no client request failed');
  t.equal(figures.lost, 0, 'no request was lost');
  t.equal(figures.okWithoutPod, 0, 'every client success matches a pod record');
  t.ok(figures.sent > 300, `traffic throughout (${figures.sent})`);
  const failedActions = done.rollout?.actions.filter((a) => a.retrying) ?? [];
  t.same(failedActions, [], 'no Kubernetes action is left retrying');
  t.notOk((await world.deployment()).spec.paused, 'the Deployment is left unpaused');
});
