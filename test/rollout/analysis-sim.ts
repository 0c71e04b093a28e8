// A seeded traffic simulator for the rollout analysis: requests routed at random with the step's
// canary share, failures and lognormal latencies drawn per arm under a load that drifts for both arms
// alike, every outcome fed through RolloutAnalysis exactly as the data plane does.

import type { Clock } from '../../src/core/control.ts';
import { ATTEMPT_FAILED, ATTEMPT_OK } from '../../src/core/control.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { RolloutAnalysis } from '../../src/rollout/analysis/analysis.ts';
import type { AbortReason } from '../../src/rollout/evidence.ts';

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  wallNow(): number {
    return 1_700_000_000_000 + this.t;
  }
  setTimeout(): never {
    throw new Error('FakeClock: the analysis must not set timers');
  }
  clearTimeout(): void {}
}

export interface Scenario {
  /** Canary share per step and the step's length in requests; the last step runs to the end. */
  readonly steps: readonly { readonly share: number; readonly requests: number }[];
  /** Requests per second on average (exponential inter-arrival times). */
  readonly rate: number;
  readonly stableFailure: number;
  readonly canaryFailure: number;
  /** Median latency (ms) and lognormal σ, for both arms; the canary may add a constant. */
  readonly medianMs: number;
  readonly sigma: number;
  readonly canaryExtraMs?: number;
  /** Shared drift: failure rate, latency and arrival rate all scale by 1 + drift·sin(2πt/period). */
  readonly drift?: number;
  readonly driftPeriodMs?: number;
  /** Share of failed first attempts that are not replayed (idempotent ones are replayed on stable). */
  readonly clientVisible?: number;
  /** Read evidence().advance.proven every this many canary requests (0 = never). */
  readonly checkProvenEvery?: number;
  readonly warmup?: { ms?: number; canaryRequests?: number };
}

export interface RolloutResult {
  readonly abort: AbortReason | null;
  /** Canary first attempts and failures up to and including the deciding request. */
  readonly canaryRequests: number;
  readonly canaryFailures: number;
  readonly requests: number;
  /** ms from the first request to the abort decision (fake clock). */
  readonly msToAbort: number | null;
  /** ms from the first request routed to the canary to the abort decision. */
  readonly msFromFirstCanary: number | null;
  /** Canary requests in the first step when `proven` was first read as true, or null. */
  readonly provenAfter: number | null;
}

export function simulateRollout(s: Scenario, seed: number): RolloutResult {
  const random = new XorShiftRandom(seed);
  const clock = new FakeClock();
  let decided: { canaryRequests: number; canaryFailures: number; requests: number } | null = null;
  let canaryRequests = 0;
  let canaryFailures = 0;
  let requests = 0;
  const analysis = new RolloutAnalysis({
    canary: 'new',
    stable: 'old',
    clock,
    ...(s.warmup ? { warmup: s.warmup } : {}),
    onAbort: () => {
      decided = { canaryRequests, canaryFailures, requests };
    },
  });
  const drift = s.drift ?? 0;
  const period = s.driftPeriodMs ?? 60_000;
  const visible = s.clientVisible ?? 0;
  const checkEvery = s.checkProvenEvery ?? 0;
  let provenAfter: number | null = null;
  let stepCanary = 0;
  let firstCanaryAt: number | null = null;
  for (let step = 0; step < s.steps.length; step++) {
    const { share, requests: length } = s.steps[step] as { share: number; requests: number };
    if (step > 0) analysis.restartStep();
    for (let i = 0; i < length; i++) {
      const load = 1 + drift * Math.sin((2 * Math.PI * clock.t) / period);
      clock.t += -Math.log(1 - random.float()) * (1000 / (s.rate * load));
      const canary = random.float() < share;
      const p = (canary ? s.canaryFailure : s.stableFailure) * load;
      const failed = random.float() < p;
      requests++;
      if (canary) {
        firstCanaryAt ??= clock.t;
        canaryRequests++;
        stepCanary++;
        if (failed) canaryFailures++;
      }
      // Box-Muller for a standard normal.
      const z = Math.sqrt(-2 * Math.log(1 - random.float())) * Math.cos(2 * Math.PI * random.float());
      const latency = s.medianMs * load * Math.exp(s.sigma * z) + (canary ? (s.canaryExtraMs ?? 0) : 0);
      analysis.firstAttempt(canary ? 'new' : 'old', share, failed ? ATTEMPT_FAILED : ATTEMPT_OK, latency);
      // A failed first attempt reaches the client only if it was not replayed, or the replay failed.
      const clientFailed = failed && (random.float() < visible || random.float() < s.stableFailure * load);
      analysis.requestDone(canary ? 'new' : 'old', clientFailed, false);
      if (decided !== null) {
        const d = decided as { canaryRequests: number; canaryFailures: number; requests: number };
        return { abort: analysis.aborted, ...d, msToAbort: clock.t, msFromFirstCanary: clock.t - (firstCanaryAt ?? 0), provenAfter };
      }
      if (
        checkEvery > 0 &&
        step === 0 &&
        provenAfter === null &&
        canary &&
        stepCanary % checkEvery === 0 &&
        analysis.evidence().advance.proven
      ) {
        provenAfter = stepCanary;
      }
    }
    if (step === 0) stepCanary = 0;
  }
  return { abort: null, canaryRequests, canaryFailures, requests, msToAbort: null, msFromFirstCanary: null, provenAfter };
}

/** The three-step A/A schedule: 5 % → 25 % → 50 %, `perStep` requests each. */
export function stepSchedule(perStep: number): { share: number; requests: number }[] {
  return [
    { share: 0.05, requests: perStep },
    { share: 0.25, requests: perStep },
    { share: 0.5, requests: perStep },
  ];
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}

export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}
