// A bad rollout end to end (issue 8 §8): the new version crash-loops. Its container exits as soon as
// it starts (a bad setting), the kubelet restarts it with back-off, and glidepath aborts on the
// restart count (rollout.unhealthyPodRestarts) and rolls the Deployment back.

import t from 'tap';
import { badRollout } from './e2e-abort.ts';

t.test('a new version that crash-loops is aborted for unhealthy pods and rolled back', async (t) => {
  // CRASH_AFTER that is not a number: the demo app refuses it and exits 1 at start.
  await badRollout(t, { env: { APP_VERSION: 'v2', CRASH_AFTER: 'at-once' }, reasons: ['unhealthy-pods'] });
});
