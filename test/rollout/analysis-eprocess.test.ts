// The rollout analysis's statistics piece by piece: the failure-ratio e-process against reference
// vectors, log-space numerics, the inert 100 % split, step restarts, the budget arithmetic, the
// latency thresholds and the confidence sequence.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { ATTEMPT_EXCLUDED, ATTEMPT_FAILED, ATTEMPT_OK } from '../../src/core/control.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { AbsoluteRateEProcess, MixtureEProcess, RATIO_GRID } from '../../src/rollout/analysis/eprocess.ts';
import { RolloutAnalysis } from '../../src/rollout/analysis/analysis.ts';
import { BudgetGuard, budgetBroken, noiseBoundary } from '../../src/rollout/analysis/budget.ts';
import { PooledLatencyThresholds, bucketUpperMs, latencyBucket } from '../../src/rollout/analysis/latency.ts';
import { rateRatioConfidence } from '../../src/rollout/analysis/confidence.ts';
import { AbsoluteNonInferiority } from '../../src/rollout/analysis/noninferiority.ts';
import { lnGamma, logSumExp } from '../../src/rollout/analysis/logmath.ts';
import { FakeClock } from './analysis-sim.ts';

// ln E and ln SR computed directly from the update rule of Lindon & Malek 2022 with the r-grid
// {1.5, 2, 3, 5, 10, 30, 100, 1000}, equal weights, α = 1 %, T = 10^6, with the event at which
// "ln E ≥ ln(2/α) or ln SR ≥ ln(2T/α)" first holds (null when it never does).
interface Vectors {
  grid: number[];
  alpha: number;
  T_max: number;
  cases: {
    name: string;
    events: { canary: boolean; rho: number }[];
    after_each_event: { lnE: number; lnSR: number }[];
    abort_at_event: number | null;
  }[];
}
const vectors = JSON.parse(readFileSync(new URL('../fixtures/sequential-analysis-vectors.json', import.meta.url), 'utf8')) as Vectors;

t.test('the failure-ratio e-process reproduces the reference vectors to 1e-5, abort event included', async (t) => {
  t.same(vectors.grid, RATIO_GRID);
  const lnE = Math.log(2 / vectors.alpha);
  const lnSR = Math.log((2 * vectors.T_max) / vectors.alpha);
  t.ok(vectors.cases.length >= 4);
  for (const c of vectors.cases) {
    const ep = new MixtureEProcess(RATIO_GRID);
    let abortAt: number | null = null;
    c.events.forEach((e, i) => {
      ep.event(e.canary, e.rho);
      const want = c.after_each_event[i] as { lnE: number; lnSR: number };
      t.ok(Math.abs(ep.lnE() - want.lnE) < 1e-5, `${c.name} #${i + 1}: lnE ${ep.lnE()} vs ${want.lnE}`);
      t.ok(Math.abs(ep.lnSR() - want.lnSR) < 1e-5, `${c.name} #${i + 1}: lnSR ${ep.lnSR()} vs ${want.lnSR}`);
      if (abortAt === null && (ep.lnE() >= lnE || ep.lnSR() >= lnSR)) abortAt = i + 1;
    });
    t.equal(abortAt, c.abort_at_event, `${c.name}: abort event`);
  }
});

t.test('log space: a million events neither overflow nor underflow', async (t) => {
  const up = new MixtureEProcess(RATIO_GRID);
  const down = new MixtureEProcess(RATIO_GRID);
  for (let i = 0; i < 1_000_000; i++) {
    up.event(true, 0.05);
    down.event(false, 0.05);
  }
  // Plain: ln E ≈ n·max_r(ln r − ln(1 + ρ(r − 1))) for a canary-only stream, about 7e6: finite.
  t.ok(Number.isFinite(up.lnE()) && up.lnE() > 1e6, `up ${up.lnE()}`);
  t.ok(Math.abs(up.lnE() - (1e6 * (Math.log(1000) - Math.log1p(0.05 * 999)) - Math.log(8))) < 1e-3 * 1e6);
  t.ok(Number.isFinite(up.lnSR()), `SR clamps instead of overflowing: ${up.lnSR()}`);
  // A stable-only stream drives the plain process to e^-(10^4..10^5) but keeps it a finite log.
  t.ok(Number.isFinite(down.lnE()) && down.lnE() < -1e4, `down ${down.lnE()}`);
  // SR under stable-only events stays bounded: R_i converges to L/(1 − L) for L < 1.
  t.ok(down.lnSR() > 0 && down.lnSR() < 5, `down SR ${down.lnSR()}`);
  t.equal(logSumExp([1000, 1000]), 1000 + Math.log(2));
  t.equal(logSumExp([-Infinity, -Infinity]), -Infinity);
  t.ok(Math.abs(lnGamma(10) - Math.log(362880)) < 1e-12);
  t.ok(Math.abs(lnGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-12);
});

t.test('the absolute component folds runs of successes exactly like stepping each request', async (t) => {
  const p0 = 0.001;
  const qs = [2, 3, 5, 10, 30, 100, 300].map((m) => m * p0);
  const lazy = new AbsoluteRateEProcess(p0);
  const stepR = qs.map(() => 0);
  const stepL = qs.map(() => 0);
  const random = new XorShiftRandom(3);
  for (let n = 0; n < 50_000; n++) {
    const failed = random.float() < 0.004;
    qs.forEach((q, i) => {
      const lik = failed ? q / p0 : (1 - q) / (1 - p0);
      stepR[i] = ((stepR[i] as number) + 1) * lik;
      stepL[i] = (stepL[i] as number) + Math.log(lik);
    });
    if (failed) lazy.failure();
    else lazy.success();
    if (n % 997 === 0 || (failed && n % 7 === 0)) {
      const wantSR = Math.log(stepR.reduce((a, b) => a + b, 0) / qs.length);
      const wantE = logSumExp(stepL) - Math.log(qs.length);
      t.ok(Math.abs(lazy.lnSR() - wantSR) < 1e-6 * Math.max(1, Math.abs(wantSR)), `n=${n}: SR ${lazy.lnSR()} vs ${wantSR}`);
      t.ok(Math.abs(lazy.lnE() - wantE) < 1e-6 * Math.max(1, Math.abs(wantE)), `n=${n}: E ${lazy.lnE()} vs ${wantE}`);
      t.ok(lazy.maxS >= Math.max(...stepR.map(Math.log)) - 1e-9, 'maxS bounds every grid point');
    }
  }
});

t.test('at a 100 % split nothing moves the relative or latency tests', async (t) => {
  // The increment of a canary event at ρ = 1 is ln r − ln(1 + (r − 1)) = 0 up to rounding.
  const ep = new MixtureEProcess(RATIO_GRID, { shiryaevRoberts: false });
  for (let i = 0; i < 100_000; i++) ep.event(true, 1);
  t.ok(Math.abs(ep.lnE()) < 1e-9, `plain process at ρ = 1 after 1e5 canary events: ln E = ${ep.lnE()}`);

  // The analysis skips such events altogether: the Shiryaev-Roberts form would count them as time.
  const clock = new FakeClock();
  const a = new RolloutAnalysis({ canary: 'new', stable: 'old', clock });
  const random = new XorShiftRandom(11);
  for (let i = 0; i < 20_000; i++) {
    clock.t += 1;
    a.firstAttempt('new', 1, random.float() < 0.3 ? ATTEMPT_FAILED : ATTEMPT_OK, 10 + 1000 * random.float());
  }
  const e = a.evidence();
  const failure = e.components.find((c) => c.name === 'failure-rate');
  const latency = e.components.find((c) => c.name === 'latency');
  t.equal(failure?.lnE, 0);
  t.equal(failure?.events, 0);
  t.equal(latency?.lnE, 0);
  t.equal(latency?.events, 0);
  t.equal(e.canaryAttempts.requests, 20_000);
  // The absolute component still judges the canary's own rate (30 % against 0.1 %): it aborts.
  t.equal(e.abort, 'absolute-rate');
});

t.test('restartStep restarts non-inferiority and the step counts, not the abort tests', async (t) => {
  const clock = new FakeClock();
  const a = new RolloutAnalysis({ canary: 'new', stable: 'old', clock });
  const random = new XorShiftRandom(5);
  for (let i = 0; i < 40_000; i++) {
    clock.t += 1;
    const canary = random.float() < 0.1;
    a.firstAttempt(
      canary ? 'new' : 'old',
      0.1,
      random.float() < 0.0005 ? ATTEMPT_FAILED : ATTEMPT_OK,
      20 * Math.exp(0.3 * (random.float() - 0.5)),
    );
  }
  const before = a.evidence();
  t.ok(before.stepCanaryAttempts.requests > 3000);
  t.ok(before.advance.lnE > 0, `advance evidence accumulated: ${before.advance.lnE}`);
  a.restartStep();
  const after = a.evidence();
  t.same(after.stepCanaryAttempts, { requests: 0, failures: 0 });
  t.equal(after.advance.lnE, 0);
  t.equal(after.advance.proven, false);
  t.equal(after.rateRatio, null);
  t.same(after.canaryAttempts, before.canaryAttempts);
  t.same(after.components, before.components);
  // With nothing yet in the step, proving needs ≈ ln(2·20 − 1 … )/p_max zero-failure requests.
  t.ok(after.requestsNeededToProve > 3000 && after.requestsNeededToProve < 6000, `needed ${after.requestsNeededToProve}`);
});

t.test('requestsNeededToProve is exact: that many clean canary requests prove, one fewer does not', async (t) => {
  const ni = new AbsoluteNonInferiority(0.001);
  const lnT = Math.log(20);
  for (const [f, n] of [
    [0, 0],
    [0, 1234],
    [1, 2000],
    [3, 100],
  ] as const) {
    const m = ni.requestsNeeded(f, n, 0, lnT);
    const reached = (k: number) => Math.log((Math.exp(ni.lnE(f, n + k)) + 1) / 2) >= lnT;
    t.ok(reached(m) && (m === 0 || !reached(m - 1)), `F=${f} n=${n}: ${m}`);
  }
  // Zero failures at p_max = 0.1 %, α = 5 %: the anytime rule of three, a little over 4k requests.
  const m0 = ni.requestsNeeded(0, 0, 0, lnT);
  t.ok(m0 > 4000 && m0 < 5000, `${m0}`);
});

t.test('the noise allowance: the stitched boundary of Howard et al. (2021), Theorem 1', async (t) => {
  // Values computed by hand from ℓ(v) = 1.4·ln ln(2v) + ln(3.1055 / (α·(ln 2)^1.4)),
  // S(v) = √(k1²·v·ℓ + k2²·c²·ℓ²) + c·k2·ℓ with k1 = 1.4355, k2 = 1.2071, c = 1/3.
  t.ok(Math.abs(noiseBoundary(1, 0.001) - 8.4352) < 1e-3, `${noiseBoundary(1, 0.001)}`);
  t.ok(Math.abs(noiseBoundary(100, 0.001) - 51.951) < 1e-2, `${noiseBoundary(100, 0.001)}`);
  t.ok(Math.abs(noiseBoundary(1, 0.01) - 6.4509) < 1e-3, `${noiseBoundary(1, 0.01)}`);
  t.equal(noiseBoundary(0, 0.001), noiseBoundary(1, 0.001), 'below m = 1 the boundary at m holds');
  t.ok(noiseBoundary(400, 0.001) > noiseBoundary(100, 0.001) * 1.8, 'grows like √V');
});

t.test('the budget guard: X = F_c − p̂_s·n_c against ε·N plus the noise allowance', async (t) => {
  const b = new BudgetGuard(0.001);
  let early = 0;
  for (let i = 0; i < 9_000; i++) if (b.observe(false, i < 9)) early++; // stable: 9 failures in 9000
  t.equal(early, 0, 'stable failures never break the budget');
  for (let i = 0; i < 1_000; i++) b.observe(true, false); // canary: 1000 clean requests
  t.equal(b.excess(), -1); // 0 − 0.001·1000
  let broke = -1;
  for (let i = 1; i <= 40 && broke < 0; i++) if (b.observe(true, true)) broke = i;
  // After i failures: X = i − 0.001·(1000 + i), ε·N = 0.001·(10 000 + i), and
  // V = p̄(1 − p̄)·(1000 + i)·(1 + (1000 + i)/9000) with p̄ = (9 + i)/(10 000 + i). X − ε·N passes
  // S(V) first at i = 25 (V = 3.86, S = 13.37); without the allowance it would have been i = 12.
  t.equal(broke, 25);
  const e = b.evidence();
  t.equal(e.clientRequests, 10_025);
  t.ok(Math.abs(e.excessFailures - (25 - 0.001 * 1025)) < 1e-9);
  t.ok(Math.abs(e.noiseAllowance - 13.371) < 1e-2, `${e.noiseAllowance}`);
  t.ok(Math.abs(e.excessVariance - 3.8591) < 1e-3, `${e.excessVariance}`);
  t.equal(e.remaining, 0);
  t.ok(budgetBroken(e), 'the recorded evidence reads back as broken');
  t.notOk(budgetBroken({ ...e, noiseAllowance: 20 }), 'not past a larger allowance');
  t.ok(Math.abs(e.ratio - e.excessFailures / 10_025) < 1e-12);

  // Before 1/ε requests nothing is judged: the first 999 requests all failing on the canary break nothing.
  const young = new BudgetGuard(0.001);
  let youngBroke = false;
  for (let i = 0; i < 999; i++) youngBroke ||= young.observe(true, true);
  t.equal(youngBroke, false, 'N < 1000: too early to judge');
  t.equal(young.observe(true, true), true, 'N = 1000, X = 1000: a breach');

  // Through the analysis: client-gone requests are not counted, and the breach aborts once.
  const clock = new FakeClock();
  const aborts: string[] = [];
  const a = new RolloutAnalysis({ canary: 'new', stable: 'old', clock, onAbort: (reason) => aborts.push(reason) });
  for (let i = 0; i < 5000; i++) a.requestDone('old', false, false);
  for (let i = 0; i < 100; i++) a.requestDone('new', true, true);
  t.equal(a.evidence().budget.clientRequests, 5000);
  // X = k, ε·N = 0.001·(5000 + k), V < 1 so S(1) = 8.435 at α/10 = 0.001: first at k = 14.
  for (let i = 0; i < 13; i++) a.requestDone('new', true, false);
  t.same(aborts, []);
  a.requestDone('new', true, false);
  t.same(aborts, ['budget']);
  t.equal(a.evidence().abort, 'budget');
  t.equal(a.evidence().abortDecidedAt, 0);
});

t.test('equal versions failing 2 % where clients see it: the allowance keeps the guard quiet', async (t) => {
  // 100 seeded rollouts of 60,000 requests at a 50 % split, both versions failing 2 % with no
  // replays: without the allowance about 4 in 10 break (X wanders ±√(p·n_c) while ε·N is small).
  let broken = 0;
  let brokenWithout = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const random = new XorShiftRandom(seed);
    const b = new BudgetGuard(0.001);
    let without = false;
    let broke = false;
    for (let i = 0; i < 60_000 && !broke; i++) {
      broke = b.observe(random.float() < 0.5, random.float() < 0.02);
      without ||= b.evidence().clientRequests >= 1000 && b.excess() > 0.001 * b.evidence().clientRequests;
    }
    if (broke) broken++;
    if (without) brokenWithout++;
  }
  t.ok(broken <= 1, `${broken}/100 broke with the allowance`);
  t.ok(brokenWithout >= 10, `${brokenWithout}/100 would have broken without it (the test can tell)`);
});

t.test('excluded attempts are no evidence; failures carry no latency', async (t) => {
  const clock = new FakeClock();
  const a = new RolloutAnalysis({ canary: 'new', stable: 'old', clock });
  for (let i = 0; i < 1000; i++) a.firstAttempt(i % 2 ? 'new' : 'old', 0.5, ATTEMPT_EXCLUDED, 5);
  let e = a.evidence();
  t.same(e.canaryAttempts, { requests: 0, failures: 0 });
  t.same(e.stableAttempts, { requests: 0, failures: 0 });
  // Any other version is the stable arm.
  a.firstAttempt('older', 0.5, ATTEMPT_FAILED, 99999);
  e = a.evidence();
  t.same(e.stableAttempts, { requests: 1, failures: 1 });
  t.equal(e.components[0]?.events, 1);
  t.equal(e.latencyThresholdsMs, null);
});

t.test('pooled latency thresholds: log buckets, quantiles, refresh only when told', async (t) => {
  for (const ms of [0.1, 0.37, 1, 19.9, 20, 250, 1e4]) {
    const b = latencyBucket(ms);
    t.ok(bucketUpperMs(b) > ms && (b === 0 || bucketUpperMs(b - 1) <= ms), `${ms} ms in bucket ${b}`);
    t.ok(bucketUpperMs(b) / ms < 1.13, 'buckets are at most 12.5 % wide');
  }
  t.equal(latencyBucket(Number.NaN), 0);
  t.equal(latencyBucket(-1), 0);
  const th = new PooledLatencyThresholds(0, { halfMs: 1000, minSamples: 100 });
  for (let i = 1; i <= 1000; i++) th.add(latencyBucket(i / 10)); // uniform on (0, 100] ms
  t.equal(th.thresholdsMs(), null, 'nothing until refresh');
  th.refresh(10);
  const [p50, p90, p99] = th.thresholdsMs() as [number, number, number];
  t.ok(p50 >= 50 && p50 < 56, `p50 ${p50}`);
  t.ok(p90 >= 90 && p90 < 101, `p90 ${p90}`);
  t.ok(p99 >= 99 && p99 < 112, `p99 ${p99}`);
  th.refresh(1000); // rotation: the old half still counts
  t.ok(th.ready);
  th.refresh(3001); // a long silence: both halves stale
  t.equal(th.ready, false);
});

t.test('the rate-ratio confidence sequence covers the truth and narrows', async (t) => {
  t.equal(rateRatioConfidence(0, 0, 0.1, 0.01), null);
  const dead = rateRatioConfidence(5, 0, 0.05, 0.01);
  t.ok(dead !== null && dead.lower > 1 && dead.upper === Infinity, JSON.stringify(dead));
  // Equal rates at ρ = 0.25: 250 canary and 750 stable failures, ratio 1.
  const equal = rateRatioConfidence(250, 750, 0.25, 0.01) as { lower: number; upper: number };
  t.ok(equal.lower < 1 && equal.upper > 1 && equal.lower > 0.7 && equal.upper < 1.4, JSON.stringify(equal));
  const wide = rateRatioConfidence(25, 75, 0.25, 0.01) as { lower: number; upper: number };
  t.ok(wide.upper - wide.lower > equal.upper - equal.lower);
  // Coverage over 300 seeded runs at true ratio 3, ρ = 0.1: θ = 0.3/1.2 = 0.25.
  const random = new XorShiftRandom(9);
  let misses = 0;
  for (let run = 0; run < 300; run++) {
    let nc = 0;
    let ns = 0;
    for (let i = 0; i < 200; i++)
      if (random.float() < 0.25) nc++;
      else ns++;
    const cs = rateRatioConfidence(nc, ns, 0.1, 0.05) as { lower: number; upper: number };
    if (cs.lower > 3 || cs.upper < 3) misses++;
  }
  t.ok(misses <= 15, `misses ${misses}/300 at 95 %`);
});

t.test('bad options are named', async (t) => {
  const clock = new FakeClock();
  t.throws(() => new RolloutAnalysis({ canary: 'a', stable: 'a', clock }), /same version/);
  t.throws(() => new RolloutAnalysis({ canary: 'a', stable: 'b', clock, alpha: 1 }), /alpha 1 must be in \(0, 1\)/);
  t.throws(() => new RolloutAnalysis({ canary: 'a', stable: 'b', clock, rMax: 1 }), /rMax/);
  t.throws(() => new RolloutAnalysis({ canary: '', stable: 'b', clock }), /canary/);
});

t.test('onAbort runs once, synchronously, at the deciding request', async (t) => {
  const clock = new FakeClock();
  const seen: { reason: string; at: number | null; failures: number }[] = [];
  const a = new RolloutAnalysis({
    canary: 'new',
    stable: 'old',
    clock,
    onAbort: (reason, decidedAt) => {
      seen.push({ reason, at: decidedAt, failures: a.evidence().canaryAttempts.failures });
      throw new Error('callback errors stay off the request path');
    },
  });
  clock.t = 1234;
  for (let i = 0; i < 20; i++) a.firstAttempt('new', 0.05, ATTEMPT_FAILED, 1);
  t.equal(seen.length, 1);
  t.equal(seen[0]?.at, 1234);
  t.ok((seen[0]?.failures as number) <= 3, `decided at canary failure ${seen[0]?.failures}`);
  t.match(String(a.callbackError), /callback errors/);
});

t.test('warm-up: latency exceedances of a step count only after its warm-up', async (t) => {
  const feed = (warmup: { ms?: number; canaryRequests?: number } | undefined) => {
    const clock = new FakeClock();
    const a = new RolloutAnalysis({ canary: 'new', stable: 'old', clock, latencyAbortMarginMs: 0, ...(warmup ? { warmup } : {}) });
    const random = new XorShiftRandom(21);
    const events: number[] = [];
    for (let i = 0; i < 6000; i++) {
      clock.t += 1;
      const canary = random.float() < 0.1;
      a.firstAttempt(canary ? 'new' : 'old', 0.1, ATTEMPT_OK, 10 + 20 * random.float());
      if (i % 1000 === 999) events.push(a.evidence().components[2]?.events as number);
    }
    return events;
  };
  const cold = feed(undefined);
  const warm = feed({ ms: 3000 });
  t.ok((cold[1] as number) > 0, `no warm-up: exceedances from the first thresholds on (${cold.join(', ')})`);
  t.equal(warm[1], 0, 'within 3000 ms: none');
  t.ok((warm[5] as number) > 0 && (warm[5] as number) < (cold[5] as number), `after: counted (${warm.join(', ')})`);
  const byCount = feed({ canaryRequests: 400 });
  t.equal(byCount[2], 0, 'fewer than 400 canary requests in 3000: none');
  t.ok((byCount[5] as number) > 0);
});

t.test('latency abort margin: a few milliseconds on a 2 ms service are not a regression, +50 ms is', async (t) => {
  const run = (addMs: number, marginMs?: number) => {
    const clock = new FakeClock();
    const a = new RolloutAnalysis({
      canary: 'new',
      stable: 'old',
      clock,
      ...(marginMs === undefined ? {} : { latencyAbortMarginMs: marginMs }),
    });
    const random = new XorShiftRandom(5);
    for (let i = 0; i < 20_000 && !a.aborted; i++) {
      clock.t += 1;
      const canary = random.float() < 0.2;
      a.firstAttempt(canary ? 'new' : 'old', 0.2, ATTEMPT_OK, 1 + 2 * random.float() + (canary ? addMs : 0));
      a.requestDone(canary ? 'new' : 'old', false, false);
    }
    return a.evidence();
  };
  t.equal(run(3).abort, null, 'a canary 3 ms slower on a 1-3 ms service is not aborted with the default 10 ms margin');
  t.equal(run(3, 0).abort, 'latency', 'without a margin the same difference is detected (so the margin is what holds it)');
  t.equal(run(50).abort, 'latency', 'a canary 50 ms slower is aborted');
  const thresholds = run(0).latencyThresholdsMs;
  t.ok(thresholds !== null && thresholds[0] >= 10, `the reported abort thresholds include the margin (${thresholds?.join(' / ')} ms)`);
});
