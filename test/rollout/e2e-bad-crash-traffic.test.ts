// A bad rollout end to end (issue 8 §8): the new version crashes under traffic. Each canary pod
// exits (code 1) on its fourth request and the kubelet restarts it; glidepath aborts, on the failed
// canary attempts or on the restart count, whichever comes first, and rolls the Deployment back.
// The load is idempotent (GET only): a POST the pod held when it died has no safe replay anywhere,
// so with POSTs one crash can cost a client failure that no proxy could prevent, which says nothing
// about glidepath; every GET that hits the crash must be replayed on stable.

import t from 'tap';
import { badRollout } from './e2e-abort.ts';

t.test('a new version that crashes under traffic is aborted and rolled back with no client failure', async (t) => {
  await badRollout(t, {
    env: { APP_VERSION: 'v2', CRASH_AFTER: '3' },
    reasons: ['failure-rate', 'absolute-rate', 'unhealthy-pods'],
    load: { postRatio: 0 },
  });
});
