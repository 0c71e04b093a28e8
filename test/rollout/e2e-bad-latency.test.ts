// A bad rollout end to end (issue 8 §8): the new version adds 500 ms to every response. glidepath
// cuts it on latency exceedances over the pooled thresholds and rolls the Deployment back.

import t from 'tap';
import { badRollout } from './e2e-abort.ts';

t.test('a new version adding 500 ms is aborted for latency and rolled back', async (t) => {
  await badRollout(t, { env: { APP_VERSION: 'v2', LATENCY_MS: '500' }, reasons: ['latency'] });
});
