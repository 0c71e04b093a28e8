// A healthy rollout end to end (issue 8 §8): 4 pods to 4 pods under steady load, glidepath gating
// the Deployment step by step; no client request fails and the new version ends at 100 %.

import t from 'tap';
import { ledgerFigures, rolloutWorld, steadyLoad } from './e2e-harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

t.test('a good rollout completes with 0 failed requests and the new version at 100 %', async (t) => {
  const world = await rolloutWorld(t, { flags: { 'rollout.minStepDuration': '1s', 'rollout.minStepRequests': 40 } });
  const load = steadyLoad(world.url, 150);
  await sleep(1000);
  const before = await world.status();
  t.equal(before.rollout?.phase, 'idle', 'no rollout before the template changes');
  const stableHash = before.rollout?.stable;
  t.ok(stableHash, 'the stable version is known');

  await world.setEnv({ APP_VERSION: 'v2' });
  const paused = await waitFor('the Deployment paused by glidepath', async () => (await world.deployment()).spec.paused === true, 20_000, 100);
  t.ok(paused, 'gated mode pauses the Deployment at once');
  const weightsSeen = new Set<number>();
  const done = await waitFor(
    'the rollout completed',
    async () => {
      const s = await world.status();
      const canary = s.rollout?.canary;
      if (canary) weightsSeen.add(s.rollout?.weights[canary] ?? 0);
      // waitFor retries a throwing check until its deadline: an abort ends the wait by a return.
      return s.rollout?.phase === 'completed' || s.rollout?.phase === 'aborted' ? s : undefined;
    },
    120_000,
    250,
  );
  t.equal(done.rollout?.phase, 'completed', `the rollout completed${done.rollout?.abort ? `, not aborted: ${done.rollout.abort.reason}: ${done.rollout.abort.message}` : ''}`);
  await sleep(500);
  const ledger = await load.stop();
  const figures = ledgerFigures(ledger, world.podLedger());
  t.comment(JSON.stringify({ ...figures, weightsSeen: [...weightsSeen].sort((a, b) => a - b) }));

  const v2 = await world.hashOf(2);
  t.equal(done.rollout?.canary, v2, 'the canary was the revision-2 ReplicaSet');
  t.equal(done.rollout?.weights[v2], 10_000, 'the new version serves everything');
  t.ok([...weightsSeen].some((w) => w > 0 && w < 10_000), 'traffic moved through intermediate weights');
  t.equal(figures.failed, 0, 'no client request failed');
  t.equal(figures.lost, 0, 'no request was lost');
  t.equal(figures.okWithoutPod, 0, 'every client success matches a pod record');
  t.ok(figures.sent > 500, `enough traffic to mean something (${figures.sent})`);
  const dep = await world.deployment();
  t.notOk(dep.spec.paused, 'the Deployment is left unpaused');
  t.ok(dep.metadata.annotations?.['glidepath.io/rollout-state'], 'the rollout state lives on the Deployment');
});
