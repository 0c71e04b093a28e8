// A rollout where both versions fail 2 % of requests (issue 8 §8): the new version is no worse than
// the old, so glidepath must not abort it (an anytime-valid test at α = 1 % rarely would, and the
// budget counts only failures beyond stable's own rate); the rollout completes.

import t from 'tap';
import { FAST_ROLLOUT } from './e2e-abort.ts';
import { ledgerFigures, rolloutEnded, rolloutWorld, steadyLoad, windowFigures } from './e2e-harness.ts';
import { sleep } from '../../testkit/wait.ts';

t.test('both versions failing 2 %: the rollout is not aborted and completes', async (t) => {
  const world = await rolloutWorld(t, { env: { FAIL_RATE: '0.02' }, flags: FAST_ROLLOUT });
  const load = steadyLoad(world.url, 150);
  await sleep(1000);
  const before = await world.status();
  t.equal(before.rollout?.phase, 'idle', 'no rollout before the template changes');

  await world.setEnv({ APP_VERSION: 'v2' });
  const t0 = Date.now();
  const phases = new Set<string>();
  const done = await rolloutEnded(world, (s) => phases.add(s.rollout?.phase ?? ''), 150_000);
  const tDone = Date.now();
  await sleep(500);
  const ledger = await load.stop();
  const all = ledgerFigures(ledger, world.podLedger());
  const win = windowFigures(ledger, t0, tDone);
  const e = done.rollout?.evidence;
  t.comment(
    JSON.stringify({
      rolloutMs: tDone - t0,
      rolloutRequests: win.sent,
      clientFailures: win.failed,
      ledger: all.summary,
      byVersion: all.byVersion,
      abort: done.rollout?.abort ?? null,
      decisions: done.rollout?.decisions.map((d) => `${d.action}: ${d.reason}`),
    }),
  );

  t.equal(
    done.rollout?.abort,
    null,
    `not aborted${done.rollout?.abort ? `: ${done.rollout.abort.reason}: ${done.rollout.abort.message}` : ''}`,
  );
  t.equal(done.rollout?.phase, 'completed', 'the rollout completed');
  const v2 = await world.hashOf(2);
  t.equal(done.rollout?.weights[v2], 10_000, 'the new version serves everything');
  t.equal(e ?? null, null, 'no analysis left running once the rollout is over');
  t.notOk(phases.has('aborted'), 'never aborted on the way');
  const dep = await world.deployment();
  t.notOk(dep.spec.paused, 'the Deployment is left unpaused');
  t.equal((await world.events()).filter((ev) => ev.reason === 'RolloutAborted').length, 0, 'no RolloutAborted Event');
  // Both versions fail about 2 % of requests; the client sees fewer (idempotent canary failures are
  // replayed on stable), never more than the pods' own rate allows for.
  t.ok(win.failed < 0.05 * win.sent, `client-visible failures near the pods' 2 % (${win.failed}/${win.sent})`);
  t.ok((all.byVersion.v2 ?? 0) > 0, 'the new version answered requests');
  t.equal(all.lost, 0, 'no request was lost');
  t.equal(all.okWithoutPod, 0, 'every client success matches a pod record');
});
