// `node bench/observer-cost.ts`: what the rollout analysis costs per request in isolation, in ns,
// to read beside the bench's glidepath-rollout/glidepath CPU ratio (whose noise on a shared VM is
// a few %): the two outcome-stream calls of a request (src/core/control.ts OutcomeObserver), the
// extra clock read the data plane makes for them, and the controller's evidence() read per tick.
// Prints a table and one JSON line. CPU time of this process (utime + stime), median of 7 trials.

import { parseArgs } from 'node:util';
import { ATTEMPT_OK, systemClock, type AttemptVerdict, type OutcomeObserver } from '../src/core/control.ts';
import { RolloutAnalysis } from '../src/rollout/analysis/analysis.ts';
import { XorShiftRandom } from '../src/core/random.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '4000000' },
    trials: { type: 'string', default: '7' },
    'canary-share': { type: 'string', default: '0.05' },
  },
});
const CALLS = Number(values.calls);
const TRIALS = Number(values.trials);
const RHO = Number(values['canary-share']);

// Inputs drawn once (seeded): 5 % canary, log-normal latencies around 3 ms with a long tail, both
// versions alike (a healthy canary: exceedances at the pooled p50/p90/p99 come at the usual rates,
// so the e-process updates on them run as often as in a real rollout).
const N = 1 << 16;
const random = new XorShiftRandom(42);
const versions: string[] = [];
const latencies = new Float64Array(N);
for (let i = 0; i < N; i++) {
  versions.push(random.float() < RHO ? 'v2' : 'v1');
  const u1 = 1 - random.float();
  const u2 = random.float();
  latencies[i] = 3 * Math.exp(0.6 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}

/** The same loop with an observer that only keeps a count: the loop's own cost, subtracted. */
class Counting implements OutcomeObserver {
  n = 0;
  firstAttempt(_v: string, _rho: number, _verdict: AttemptVerdict, latencyMs: number): void {
    if (latencyMs >= 0) this.n++;
  }
  requestDone(_v: string, clientFailed: boolean): void {
    if (!clientFailed) this.n++;
  }
}

function cpuNs(f: () => void): number {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) * 1000;
}

function perCall(observer: OutcomeObserver): number {
  return (
    cpuNs(() => {
      for (let i = 0; i < CALLS; i++) {
        const k = i & (N - 1);
        const v = versions[k] as string;
        observer.firstAttempt(v, RHO, ATTEMPT_OK, latencies[k] as number);
        observer.requestDone(v, false, false);
      }
    }) / CALLS
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

const analysis = new RolloutAnalysis({ canary: 'v2', stable: 'v1', clock: systemClock });
const counting = new Counting();
perCall(analysis); // warm-up: JIT and the latency thresholds (ready after 200 samples)
perCall(counting);
const withAnalysis: number[] = [];
const loopOnly: number[] = [];
const clockReads: number[] = [];
const evidenceReads: number[] = [];
let sink = 0;
for (let t = 0; t < TRIALS; t++) {
  withAnalysis.push(perCall(analysis));
  loopOnly.push(perCall(counting));
  clockReads.push(
    cpuNs(() => {
      for (let i = 0; i < CALLS; i++) sink += systemClock.now();
    }) / CALLS,
  );
  evidenceReads.push(
    cpuNs(() => {
      for (let i = 0; i < 1000; i++) sink += analysis.evidence().lnE;
    }) / 1000,
  );
}
const e = analysis.evidence();
if (e.abort !== null) throw new Error(`the healthy canary was aborted (${e.abort}): the inputs are wrong`);
const observerNs = median(withAnalysis) - median(loopOnly);
const clockNs = median(clockReads);
const evidenceUs = median(evidenceReads) / 1000;
console.log(`Rollout analysis per request (${TRIALS} trials of ${CALLS} requests, canary share ${RHO}, median):`);
console.log(
  `  firstAttempt + requestDone      ${observerNs.toFixed(0).padStart(6)} ns  (loop with the analysis ${median(withAnalysis).toFixed(0)} ns, with a counting observer ${median(loopOnly).toFixed(0)} ns)`,
);
console.log(
  `  the data plane's clock read     ${clockNs.toFixed(0).padStart(6)} ns  (performance.now(), once per first attempt when an observer is installed)`,
);
console.log(
  `  evidence() per controller tick  ${evidenceUs.toFixed(1).padStart(6)} µs  (every 250 ms: ${(evidenceUs * 4).toFixed(0)} µs of CPU per second)`,
);
console.log(
  `  latency exceedance events       ${e.components[2]?.events ?? 0} over ${e.canaryAttempts.requests + e.stableAttempts.requests} first attempts (the e-process updates on them are in the figure)`,
);
console.log(JSON.stringify({ calls: CALLS, trials: TRIALS, canaryShare: RHO, observerNs, clockNs, evidenceUs, sink: sink > 0 }));
