// A healthy rollout end to end (issue 8 §8): 4 pods to 4 pods under steady load at 200 requests/s,
// glidepath gating the Deployment step by step with the default rollout settings; no client request
// fails, the new version ends at 100 %, and the whole rollout takes under 90 s.

import t from 'tap';
import { completedWhy, ledgerFigures, rolloutEnded, rolloutWorld, steadyLoad } from './e2e-harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

t.test('a good rollout completes with 0 failed requests and the new version at 100 %', async (t) => {
  const world = await rolloutWorld(t);
  const load = steadyLoad(world.url, 200);
  await sleep(1000);
  const before = await world.status();
  t.equal(before.rollout?.phase, 'idle', 'no rollout before the template changes');
  const stableHash = before.rollout?.stable;
  t.ok(stableHash, 'the stable version is known');

  const changedAt = performance.now();
  await world.setEnv({ APP_VERSION: 'v2' });
  const paused = await waitFor(
    'the Deployment paused by glidepath',
    async () => (await world.deployment()).spec.paused === true,
    20_000,
    100,
  );
  t.ok(paused, 'gated mode pauses the Deployment at once');
  const weightsSeen = new Set<number>();
  const done = await rolloutEnded(world, (s) => {
    const canary = s.rollout?.canary;
    if (canary) weightsSeen.add(s.rollout?.weights[canary] ?? 0);
  });
  const tookMs = performance.now() - changedAt;
  t.equal(done.rollout?.phase, 'completed', completedWhy(done));
  await sleep(500);
  const ledger = await load.stop();
  const figures = ledgerFigures(ledger, world.podLedger());
  t.comment(JSON.stringify({ ...figures, tookMs: Math.round(tookMs), weightsSeen: [...weightsSeen].sort((a, b) => a - b) }));
  t.ok(tookMs < 90_000, `with the defaults the rollout completed in under 90 s (${(tookMs / 1000).toFixed(1)} s)`);

  const v2 = await world.hashOf(2);
  t.equal(done.rollout?.canary, v2, 'the canary was the revision-2 ReplicaSet');
  t.equal(done.rollout?.weights[v2], 10_000, 'the new version serves everything');
  t.ok(
    [...weightsSeen].some((w) => w > 0 && w < 10_000),
    'traffic moved through intermediate weights',
  );
  t.equal(figures.failed, 0, 'no client request failed');
  t.equal(figures.lost, 0, 'no request was lost');
  t.equal(figures.okWithoutPod, 0, 'every client success matches a pod record');
  t.ok(figures.sent > 500, `enough traffic to mean something (${figures.sent})`);
  const dep = await world.deployment();
  t.notOk(dep.spec.paused, 'the Deployment is left unpaused');
  t.ok(dep.metadata.annotations?.['glidepath.io/rollout-state'], 'the rollout state lives on the Deployment');

  const metrics = await (await fetch(`http://127.0.0.1:${world.app.adminAddress.port}/metrics`)).text();
  t.match(metrics, /^glidepath_rollout_phase\{phase="completed"\} 1$/m, 'the phase metric says completed');
  t.match(
    metrics,
    new RegExp(`^glidepath_version_weight\\{version="${v2}"\\} 10000$`, 'm'),
    'the weight metric shows the new version at 100 %',
  );
  t.match(metrics, /^glidepath_rollout_aborts_total\{reason="failure-rate"\} 0$/m, 'no abort counted');
  t.match(metrics, /^glidepath_rollout_log_evalue\{test="abort"\} /m, 'the abort e-value is exported');
  const decisions = world.logs.filter((l) => l.obj.module === 'rollout' && typeof l.obj.decision === 'string').map((l) => l.obj.decision);
  t.ok(decisions.includes('start') && decisions.includes('complete'), `one log line per decision (${[...new Set(decisions)].join(', ')})`);
});
