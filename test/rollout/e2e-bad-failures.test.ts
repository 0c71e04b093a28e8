// A bad rollout end to end (issue 8 §8): the new version fails 30 % of requests. glidepath cuts it
// on the deciding request, rolls the Deployment back with a Warning Event, keeps client-visible
// failures under 0.1 % of the rollout's requests, and holds the same template when it comes back.

import t from 'tap';
import { badRollout } from './e2e-abort.ts';

t.test('a new version failing 30 % of requests is aborted, rolled back and not rolled out again', async (t) => {
  await badRollout(t, { env: { APP_VERSION: 'v2', FAIL_RATE: '0.3' }, reasons: ['failure-rate', 'absolute-rate'], reapply: true });
});
