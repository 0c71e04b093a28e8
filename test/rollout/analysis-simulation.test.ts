// The statistics proven by simulation (seeded): equal versions are rarely aborted however often the
// analysis is read, and broken canaries (dead, failing 100× stable, 150 ms slower) are cut fast.

import t from 'tap';
import { simulateRollout, stepSchedule, median } from './analysis-sim.ts';
import type { RolloutResult, Scenario } from './analysis-sim.ts';

const BASE = { rate: 1000, medianMs: 20, sigma: 0.5 } as const;
const run = (s: Scenario, runs: number, seed: number): RolloutResult[] =>
  Array.from({ length: runs }, (_, i) => simulateRollout(s, seed + i));

// Equal versions, a load that swings ±50 % every 20 s (failure rate, latency and arrival rate alike),
// split 5 % → 25 % → 50 %, the analysis consulted after every request. By Ville's inequality the
// chance that a rollout is ever aborted is ≤ α = 1 %. With 300 rollouts a valid procedure aborts
// Binomial(300, ≤ 0.01) of them: P(≥ 8) ≤ 1.2 %, so more than 7 means the guarantee is broken (a
// per-request Wilson check aborts about a third). Replays on stable hide most failed first
// attempts from clients, as in production for idempotent requests.
// The last case has no replays: every failed first attempt reaches the client (POSTs), which the
// budget guard sees; its noise allowance keeps it from calling equal failure rates a breach.
for (const [p, clientVisible] of [
  [0.001, 0],
  [0.02, 0],
  [0.02, 1],
] as const) {
  const how = clientVisible ? ', none replayed' : '';
  t.test(`A/A at ${p * 100} % failures${how} with drifting load: at most α of rollouts aborted`, async (t) => {
    const runs = 300;
    const results = run(
      { ...BASE, steps: stepSchedule(2500), stableFailure: p, canaryFailure: p, drift: 0.5, driftPeriodMs: 20_000, clientVisible },
      runs,
      1,
    );
    const aborted = results.filter((r) => r.abort !== null);
    t.ok(aborted.length <= 7, `${aborted.length}/${runs} aborted (${aborted.map((r) => r.abort).join(', ')})`);
    t.equal(results.reduce((n, r) => n + r.requests, 0) >= (runs - aborted.length) * 7500, true, 'the rollouts ran to the end');
  });
}

t.test('a dead canary at a 5 % split is cut after a handful of canary failures', async (t) => {
  const results = run({ ...BASE, steps: [{ share: 0.05, requests: 20_000 }], stableFailure: 0.0001, canaryFailure: 1 }, 100, 100);
  t.ok(
    results.every((r) => r.abort === 'absolute-rate' || r.abort === 'failure-rate'),
    'every run aborted on failures',
  );
  const failures = results.map((r) => r.canaryFailures);
  t.ok(Math.max(...failures) <= 5, `canary failures to abort: median ${median(failures)}, max ${Math.max(...failures)}`);
  t.ok(median(results.map((r) => r.msToAbort as number)) < 100, 'median under 100 ms at 1000 req/s');
});

t.test('with stable itself failing 1 % a dead canary is still cut within a few canary failures', async (t) => {
  // Stable failing above the budget rate switches the absolute component off once stable has shown
  // that rate (here during 3000 requests before the canary gets traffic); then only the ratio test
  // acts, needing about ln(2·3/α)/ln(1/ρ) ≈ 2.9 canary failures' worth of evidence.
  const steps = [
    { share: 0, requests: 3000 },
    { share: 0.05, requests: 20_000 },
  ];
  const results = run({ ...BASE, steps, stableFailure: 0.01, canaryFailure: 1 }, 50, 200);
  t.ok(
    results.every((r) => r.abort === 'failure-rate'),
    results.map((r) => r.abort).join(','),
  );
  const failures = results.map((r) => r.canaryFailures);
  t.ok(Math.max(...failures) <= 6, `median ${median(failures)}, max ${Math.max(...failures)}`);
});

t.test('a canary failing 1 % against stable 0.01 % is aborted', async (t) => {
  const results = run({ ...BASE, steps: [{ share: 0.05, requests: 100_000 }], stableFailure: 0.0001, canaryFailure: 0.01 }, 40, 300);
  t.ok(
    results.every((r) => r.abort === 'failure-rate' || r.abort === 'absolute-rate'),
    results.map((r) => r.abort).join(','),
  );
  const requests = results.map((r) => r.canaryRequests);
  t.ok(median(requests) < 1000, `canary requests to abort: median ${median(requests)}`);
});

t.test('a canary adding 150 ms is aborted by the latency exceedance test', async (t) => {
  const results = run(
    { ...BASE, steps: [{ share: 0.05, requests: 20_000 }], stableFailure: 0.0001, canaryFailure: 0.0001, canaryExtraMs: 150 },
    40,
    400,
  );
  t.ok(
    results.every((r) => r.abort === 'latency'),
    results.map((r) => r.abort).join(','),
  );
  t.ok(Math.max(...results.map((r) => r.canaryRequests)) < 100, 'within 100 canary requests');
});

t.test('a healthy canary is proven not worse after about 4-5k canary requests at a 0.1 % bound', async (t) => {
  const results = run(
    { ...BASE, steps: [{ share: 0.5, requests: 16_000 }], stableFailure: 0.0001, canaryFailure: 0.0001, checkProvenEvery: 100 },
    16,
    500,
  );
  t.ok(
    results.every((r) => r.abort === null),
    'no abort',
  );
  const proven = results.filter((r) => r.provenAfter !== null).map((r) => r.provenAfter as number);
  t.ok(proven.length >= 12, `${proven.length}/16 proven within 8k canary requests`);
  t.ok(median(proven) >= 3000 && median(proven) <= 5500, `median ${median(proven)} canary requests`);
});
