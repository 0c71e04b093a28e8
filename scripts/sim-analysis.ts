// Larger seeded simulations of the rollout analysis than the tests run, printed as the table the
// README publishes: false-abort rates of equal versions, and how fast broken canaries are cut.
// Usage: node scripts/sim-analysis.ts [--runs N]   (default 1000 A/A rollouts per failure rate)
//        node scripts/sim-analysis.ts --perf       (ns per firstAttempt + requestDone, no table)

import { simulateRollout, stepSchedule, median, quantile } from '../test/rollout/analysis-sim.ts';
import type { RolloutResult, Scenario } from '../test/rollout/analysis-sim.ts';
import { ATTEMPT_FAILED, ATTEMPT_OK, systemClock } from '../src/core/control.ts';
import type { AttemptVerdict, OutcomeObserver } from '../src/core/control.ts';
import { XorShiftRandom } from '../src/core/random.ts';
import { RolloutAnalysis } from '../src/rollout/analysis/analysis.ts';

if (process.argv.includes('--perf')) {
  perf();
  process.exit(0);
}

/**
 * The per-request cost on the data plane's path: 2^21 prepared outcomes (5 % canary, 0.1 % failures,
 * lognormal latency) fed through a do-nothing observer and through RolloutAnalysis with the system
 * clock; the difference is what the analysis adds per request. Best of 5 passes.
 */
function perf(): void {
  const n = 1 << 21;
  const random = new XorShiftRandom(7);
  const versions: string[] = [];
  const verdicts = new Uint8Array(n);
  const latencies = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    versions.push(random.float() < 0.05 ? 'new' : 'old');
    verdicts[i] = random.float() < 0.001 ? ATTEMPT_FAILED : ATTEMPT_OK;
    latencies[i] = 20 * Math.exp(0.5 * Math.sqrt(-2 * Math.log(1 - random.float())) * Math.cos(2 * Math.PI * random.float()));
  }
  let sink = 0;
  const noop: OutcomeObserver = {
    firstAttempt: (_v, rho, verdict, ms) => {
      sink += rho + verdict + ms;
    },
    requestDone: (_v, failed) => {
      sink += failed ? 1 : 0;
    },
  };
  const feed = (o: OutcomeObserver) => {
    let best = Infinity;
    for (let pass = 0; pass < 5; pass++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const v = versions[i] as string;
        o.firstAttempt(v, 0.05, verdicts[i] as AttemptVerdict, latencies[i] as number);
        o.requestDone(v, false, false);
      }
      best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
    }
    return best;
  };
  const base = feed(noop);
  const analysis = feed(new RolloutAnalysis({ canary: 'new', stable: 'old', clock: systemClock }));
  console.log(
    `ns per request (firstAttempt + requestDone): no-op observer ${base.toFixed(1)}, RolloutAnalysis ${analysis.toFixed(1)}, added ${(analysis - base).toFixed(1)} (sink ${sink > 0})`,
  );
}

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 1000;
if (!(RUNS >= 1)) throw new Error(`--runs ${process.argv[runsArg + 1]} is not a positive number`);

const BASE = { rate: 1000, medianMs: 20, sigma: 0.5 } as const;
const run = (s: Scenario, runs: number, seed: number): RolloutResult[] =>
  Array.from({ length: runs }, (_, i) => simulateRollout(s, seed + i));
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

console.log(`Rollout analysis, seeded simulation (α = 1 %, budget 0.1 %, 1000 req/s, lognormal latency median 20 ms σ 0.5)\n`);
console.log(
  '| equal versions (A/A), split 5 % → 25 % → 50 %, 20k requests per step, load ±50 % every 20 s | rollouts | aborted | by reason |',
);
console.log('|---|---|---|---|');
for (const [p, visible] of [
  [0.001, 0],
  [0.02, 0],
  [0.001, 1],
  [0.004, 1],
  [0.02, 1],
] as const) {
  const results = run(
    { ...BASE, steps: stepSchedule(20_000), stableFailure: p, canaryFailure: p, drift: 0.5, driftPeriodMs: 20_000, clientVisible: visible },
    RUNS,
    1,
  );
  const reasons: Record<string, number> = {};
  for (const r of results) if (r.abort) reasons[r.abort] = (reasons[r.abort] ?? 0) + 1;
  const aborted = results.filter((r) => r.abort).length;
  const label = `failure rate ${p * 100} %, ${visible ? 'no replays (every failed first attempt reaches the client)' : 'failed first attempts replayed on stable'}`;
  console.log(
    `| ${label} | ${RUNS} | ${pct(aborted / RUNS)} | ${
      Object.entries(reasons)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '-'
    } |`,
  );
}

console.log(
  '\n| broken canary (split 5 %, stable 0.01 %) | runs | aborted | reason | canary failures to abort (median / max) | canary requests (median) | ms from first canary request to abort (median / p90) |',
);
console.log('|---|---|---|---|---|---|---|');
const broken: [string, Scenario][] = [
  ['dead (every request fails)', { ...BASE, steps: [{ share: 0.05, requests: 20_000 }], stableFailure: 0.0001, canaryFailure: 1 }],
  [
    'dead, stable failing 1 % (absolute test off)',
    {
      ...BASE,
      steps: [
        { share: 0, requests: 3000 },
        { share: 0.05, requests: 20_000 },
      ],
      stableFailure: 0.01,
      canaryFailure: 1,
    },
  ],
  ['fails 1 % (100× stable)', { ...BASE, steps: [{ share: 0.05, requests: 300_000 }], stableFailure: 0.0001, canaryFailure: 0.01 }],
  [
    'fails 0.3 % vs stable 0.1 %, split 10 %',
    { ...BASE, steps: [{ share: 0.1, requests: 1_000_000 }], stableFailure: 0.001, canaryFailure: 0.003 },
  ],
  [
    'adds 150 ms',
    { ...BASE, steps: [{ share: 0.05, requests: 20_000 }], stableFailure: 0.0001, canaryFailure: 0.0001, canaryExtraMs: 150 },
  ],
  [
    'adds 20 ms (2× the median)',
    { ...BASE, steps: [{ share: 0.05, requests: 100_000 }], stableFailure: 0.0001, canaryFailure: 0.0001, canaryExtraMs: 20 },
  ],
];
for (const [name, s] of broken) {
  const n = name.startsWith('fails 0.3') ? Math.max(20, Math.round(RUNS / 20)) : Math.max(50, Math.round(RUNS / 5));
  const results = run(s, n, 10_000);
  const aborted = results.filter((r) => r.abort);
  const reasons = [...new Set(aborted.map((r) => r.abort))].join(', ');
  const f = aborted.map((r) => r.canaryFailures);
  const ms = aborted.map((r) => r.msFromFirstCanary as number);
  console.log(
    `| ${name} | ${n} | ${pct(aborted.length / n)} | ${reasons} | ${median(f)} / ${Math.max(...f)} | ${median(aborted.map((r) => r.canaryRequests))} | ${median(ms).toFixed(0)} / ${quantile(ms, 0.9).toFixed(0)} |`,
  );
}

console.log(
  '\n| healthy canary, stable = canary = 0.01 %, advance at p_max 0.1 %, α_adv 5 % | runs | proven | canary requests to proven (median / p90) |',
);
console.log('|---|---|---|---|');
for (const share of [0.05, 0.25, 0.5]) {
  const n = Math.max(20, Math.round(RUNS / 20));
  const results = run(
    {
      ...BASE,
      steps: [{ share, requests: Math.round(20_000 / share) }],
      stableFailure: 0.0001,
      canaryFailure: 0.0001,
      checkProvenEvery: 50,
    },
    n,
    20_000,
  );
  const proven = results.filter((r) => r.provenAfter !== null).map((r) => r.provenAfter as number);
  console.log(
    `| split ${share * 100} % | ${n} | ${pct(proven.length / n)} within 20k canary requests | ${median(proven)} / ${quantile(proven, 0.9)} |`,
  );
}
