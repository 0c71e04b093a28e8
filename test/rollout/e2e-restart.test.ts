// glidepath restarted mid-rollout (issue 8 §8): the rollout state lives on the Deployment, so a new
// glidepath process resumes at the step and weights where the old one stopped, not at step 0, and
// the rollout completes with no failed request on either side of the restart.

import t from 'tap';
import { FAST_ROLLOUT } from './e2e-abort.ts';
import { completedWhy, ledgerFigures, rolloutEnded, rolloutWorld, steadyLoad } from './e2e-harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

t.test('a glidepath restarted mid-rollout resumes where it was and the rollout completes', async (t) => {
  const world = await rolloutWorld(t, { flags: FAST_ROLLOUT });
  let load = steadyLoad(world.url, 150);
  await sleep(1000);
  const stable = (await world.status()).rollout?.stable as string;
  await world.setEnv({ APP_VERSION: 'v2' });
  const t0 = Date.now();
  // Mid-rollout: past step 0, with canary traffic in force.
  const mid = await waitFor(
    'the rollout past its first step',
    async () => {
      const s = await world.status();
      const r = s.rollout;
      if (r?.phase === 'completed' || r?.phase === 'aborted') return s;
      return r?.canary && r.step.index >= 1 && (r.weights[r.canary] ?? 0) > 0 ? s : undefined;
    },
    90_000,
    100,
  );
  t.equal(
    mid.rollout?.phase,
    'progressing',
    `mid-rollout at the restart${mid.rollout?.abort ? ` (aborted: ${mid.rollout.abort.reason}: ${mid.rollout.abort.message})` : ''}`,
  );
  const canary = mid.rollout?.canary as string;

  // No request may hit a closed port: the load stops before glidepath does and resumes after.
  const before = ledgerFigures(await load.stop(), world.podLedger());
  await world.app.stop();
  const saved = await world.savedState();
  t.ok(saved, 'the rollout state is saved on the Deployment');
  t.equal(saved?.phase, 'progressing', 'saved mid-rollout');
  t.ok((saved?.stepIndex ?? 0) >= 1, `saved past step 0 (step ${saved?.stepIndex})`);
  t.equal(saved?.canary?.version, canary, 'saved with the canary');
  const savedStep = saved?.stepIndex as number;
  const savedWeights = saved?.weights ?? {};
  const decisionsBefore = saved?.decisions.length ?? 0;

  const restartedAt = Date.now();
  await world.startGlidepath();
  const first = await world.status();
  t.equal(first.rollout?.canary, canary, 'the restarted glidepath knows the canary');
  t.ok((first.rollout?.step.index ?? 0) >= savedStep, `it resumed at step ${first.rollout?.step.index}, not step 0 (saved: ${savedStep})`);
  t.ok(
    (first.rollout?.weights[canary] ?? 0) > 0,
    `the canary keeps its traffic at once (${first.rollout?.weights[canary]} of saved ${savedWeights[canary]})`,
  );
  t.ok(
    world.logs.some((l) => l.at >= restartedAt && l.msg === 'rollout state resumed from the Deployment'),
    'it says it resumed from the Deployment',
  );
  t.notOk(
    world.logs.some(
      (l) => l.at >= restartedAt && (l.obj.decision === 'start' || l.obj.decision === 'restart' || l.obj.decision === 'adopt'),
    ),
    'no new rollout started and no stable version re-adopted',
  );

  // The budget counts client requests since the rollout began, not since this process did.
  const carried = [...(saved?.decisions ?? [])].reverse().find((d) => d.evidence !== null)?.evidence?.budget.clientRequests ?? 0;
  t.ok(carried > 0, `the saved decisions recorded the budget (${carried} requests)`);
  const resumedBudget = await waitFor('the analysis resumed', async () => (await world.status()).rollout?.evidence?.budget, 20_000, 100);
  t.ok(resumedBudget.clientRequests >= carried, `the budget carries on from ${carried} requests, not 0 (${resumedBudget.clientRequests})`);

  load = steadyLoad(world.url, 150);
  const done = await rolloutEnded(world);
  t.equal(done.rollout?.phase, 'completed', completedWhy(done));
  const tDone = Date.now();
  await sleep(500);
  const after = ledgerFigures(await load.stop(), world.podLedger());
  const steps = done.rollout?.decisions.filter((d) => d.action === 'step').map((d) => d.reason) ?? [];
  t.comment(
    JSON.stringify({
      rolloutMs: tDone - t0,
      savedStep,
      savedWeights,
      resumedStep: first.rollout?.step.index,
      before: before.summary,
      after: after.summary,
      decisionsBefore,
      steps,
    }),
  );

  t.equal(done.rollout?.weights[canary], 10_000, 'the new version serves everything');
  t.equal(done.rollout?.stable, canary, 'the new version is the stable one now');
  t.not(stable, canary, 'stable and canary differ');
  t.notOk(
    steps.some(
      (s) =>
        s.startsWith('step 0:') && (done.rollout?.decisions.find((d) => d.reason === s)?.at ?? '') >= new Date(restartedAt).toISOString(),
    ),
    'step 0 is not run again after the restart',
  );
  t.equal(before.failed + after.failed, 0, 'no client request failed before or after the restart');
  t.equal(before.lost + after.lost, 0, 'no request was lost');
  t.equal(before.okWithoutPod + after.okWithoutPod, 0, 'every client success matches a pod record');
  t.ok(before.sent > 100 && after.sent > 100, `traffic on both sides of the restart (${before.sent}, ${after.sent})`);
  t.notOk((await world.deployment()).spec.paused, 'the Deployment is left unpaused');
});
