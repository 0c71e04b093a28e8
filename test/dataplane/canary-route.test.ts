// Which version counts as the canary for replays on stable (retry.canaryStatuses): the newer of two
// that take traffic, and also a canary an abort just cut to weight 0, whose requests still in
// flight must replay on stable; after a completed rollout, nobody.

import t from 'tap';
import { buildSnapshot } from '../../src/dataplane/snapshot.ts';
import { isNewestInRollout } from '../../src/dataplane/route.ts';
import { testEndpoint } from '../../testkit/endpoints.ts';
import { VersionStats } from '../../src/dataplane/stats.ts';

const endpoint = testEndpoint;
const snapshot = (weights: Record<string, number>) =>
  buildSnapshot({
    versions: [
      { name: 'stable', revision: 1 },
      { name: 'canary', revision: 2 },
    ],
    weights,
    endpoints: [endpoint(1, 'stable'), endpoint(2, 'stable'), endpoint(3, 'canary')],
    statsFor: (v) => new VersionStats(v),
    generation: 1,
  });

t.test('the canary during a rollout, after an abort cut it, and not after completion', async (t) => {
  const rollout = snapshot({ stable: 9500, canary: 500 });
  t.ok(isNewestInRollout(rollout, 'canary'), 'during the rollout');
  t.notOk(isNewestInRollout(rollout, 'stable'), 'stable is never the canary');
  const cut = snapshot({ stable: 10_000, canary: 0 });
  t.same(
    cut.routable.map((v) => v.name),
    ['stable'],
    'the cut canary takes no new traffic',
  );
  t.ok(isNewestInRollout(cut, 'canary'), 'its requests still in flight at the cut replay on stable');
  const completed = snapshot({ stable: 0, canary: 10_000 });
  t.notOk(isNewestInRollout(completed, 'canary'), 'after completion: no older version takes traffic');
  t.notOk(isNewestInRollout(completed, 'stable'));
  t.notOk(isNewestInRollout(rollout, 'unknown'), 'an unknown version is no canary');
});
