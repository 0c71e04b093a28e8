// The retry budget (issue 3): a share of the requests plus a floor per second, over a sliding
// 10 s window of 1 s slots, on explicit timestamps. No network, no clock.

import t from 'tap';
import { RetryBudget } from '../../src/dataplane/retry-budget.ts';

t.test('retry budget: 20 % of the requests plus 10 per second, over a 10 s window', async (t) => {
  const budget = new RetryBudget(0.2, 10);
  const t0 = 100_000;
  // 10 requests in each second of the window: 100 requests → 0.2 × 100 + 10 × 10 = 120 retries.
  for (let s = 0; s < 10; s++) for (let i = 0; i < 10; i++) budget.recordRequest(t0 + s * 1_000 + i);
  let granted = 0;
  while (budget.tryAcquire(t0 + 9_500)) granted++;
  t.equal(granted, 120, '120 retries granted');
  t.equal(budget.exhausted, 1, 'the 121st is refused and counted');
  t.notOk(budget.available(t0 + 9_999), 'none left within the window');

  // At t0 + 10 s the first second's slot expires with its 10 requests; the 120 retries were all
  // taken in the last second's slot, so they still count.
  t.notOk(budget.available(t0 + 10_000), 'retries taken in the newest slot still count');
  // Once the slot holding the 120 retries (t0 + 9 s) expires, the floor comes back in full.
  t.ok(budget.available(t0 + 19_000), 'they expire 10 s later');
  let later = 0;
  while (budget.tryAcquire(t0 + 19_000)) later++;
  t.equal(later, 100, 'with no requests in the window only the floor (10/s × 10 s) is left');
});

t.test('retry budget: slots expire one by one', async (t) => {
  const budget = new RetryBudget(0, 1); // floor only: 10 retries per 10 s
  const t0 = 50_000;
  for (let s = 0; s < 10; s++) t.ok(budget.tryAcquire(t0 + s * 1_000), `retry at +${s} s granted`);
  t.notOk(budget.tryAcquire(t0 + 9_999), 'the 11th within 10 s is refused');
  t.ok(budget.tryAcquire(t0 + 10_000), 'at +10 s the first one expired: one more');
  t.notOk(budget.tryAcquire(t0 + 10_500), 'and only one');
  t.ok(budget.tryAcquire(t0 + 11_000), 'at +11 s the second expired');
  // A long pause expires everything at once.
  let granted = 0;
  while (budget.tryAcquire(t0 + 60_000)) granted++;
  t.equal(granted, 10, 'after a long pause the whole floor is back');
});

t.test('retry budget: the ratio part follows the requests', async (t) => {
  const budget = new RetryBudget(0.5, 0);
  const t0 = 10_000;
  t.notOk(budget.tryAcquire(t0), 'no requests, no floor: no retry');
  for (let i = 0; i < 10; i++) budget.recordRequest(t0);
  let granted = 0;
  while (budget.tryAcquire(t0)) granted++;
  t.equal(granted, 5, '50 % of 10 requests');
});
