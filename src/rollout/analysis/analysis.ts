// The rollout's statistics on the request path: every first attempt and client outcome goes through
// here, synchronously and in O(K), and the abort is decided the moment the deciding request ends.

import type { Clock, AttemptVerdict, OutcomeObserver } from '../../core/control.ts';
import { ATTEMPT_EXCLUDED, ATTEMPT_FAILED } from '../../core/control.ts';
import type { AbortReason, ComponentEvidence, Evidence } from '../evidence.ts';
import { AbsoluteRateEProcess, MixtureEProcess, RATIO_GRID } from './eprocess.ts';
import { LATENCY_LEVELS, PooledLatencyThresholds, latencyBucket } from './latency.ts';
import { AbsoluteNonInferiority } from './noninferiority.ts';
import { rateRatioConfidence } from './confidence.ts';
import { logAddExp, logMean3 } from './logmath.ts';
import { BudgetGuard, type BudgetCarry } from './budget.ts';

export interface RolloutAnalysisOptions {
  /** The new version (pod-template-hash); every other version is the stable arm. */
  readonly canary: string;
  readonly stable: string;
  /** False-abort probability per rollout (default 0.01). */
  readonly alpha?: number;
  /** False-advance probability per step (default 0.05). */
  readonly alphaAdvance?: number;
  /** Client-visible excess failures allowed, as a share of all requests (default 0.001). */
  readonly budget?: number;
  /** The budget already spent on this rollout before this analysis began (a restarted glidepath). */
  readonly budgetCarry?: BudgetCarry;
  /** Non-inferiority bound on the canary's failure rate for `proven` (default 0.001). */
  readonly pMax?: number;
  /** Non-inferiority margin on the canary/stable failure ratio (default 2). */
  readonly rMax?: number;
  /** Non-inferiority margin on the latency exceedance ratio at p50 and p90 (default 1.5). */
  readonly latencyMargin?: number;
  /** Events the Shiryaev-Roberts bound covers: P(false abort by it before T events) ≤ α/2 (default 1e6). */
  readonly tMax?: number;
  readonly clock: Clock;
  /** Latency exceedances are not evidence until this long into each step / this many canary attempts. */
  readonly warmup?: { readonly ms?: number; readonly canaryRequests?: number };
  /**
   * Latency the canary may add before the abort test counts it (default 10 ms): an exceedance for
   * abort is a latency above the pooled p50/p90/p99 plus this margin.
   */
  readonly latencyAbortMarginMs?: number;
  /** Half of the pooled latency window in ms (default 10 000). */
  readonly latencyWindowMs?: number;
  /**
   * Called once, synchronously, by the request whose outcome crossed an abort bound, with the
   * monotonic ms of that decision. The evidence is not computed for it: evidence() costs more than
   * the cut (bisections for the confidence sequence, several ms on a busy machine), so the caller
   * cuts first and reads evidence() after.
   */
  readonly onAbort?: (reason: AbortReason, decidedAt: number) => void;
}

/** Pooled latency thresholds are recomputed at most this often (ms): they stay predictable. */
export const THRESHOLD_REFRESH_MS = 100;
/** First attempts between clock reads (a power of two). */
const CLOCK_EVERY = 16;

// The latency grid per level stops at 1/(1 − q): an exceedance rate cannot exceed 1.
const LATENCY_GRIDS = LATENCY_LEVELS.map((q) => RATIO_GRID.filter((r) => r <= 1 / (1 - q) + 1e-9));
const ADVANCE_ALTERNATIVES = [1, 0.5];

/**
 * One rollout's analysis (one canary against the rest). Implements the data plane's outcome stream.
 *
 * Abort: the average of three e-processes (failure ratio, absolute failure rate, latency exceedances)
 * crosses 2/α, or the average of their Shiryaev-Roberts forms crosses 2·T/α (α/2 each), or the
 * client-visible budget breaks. Advance (`proven`): the failure and latency non-inferiority
 * e-processes of the current step both reach 1/α_adv. Proving "not worse on failures AND not worse on
 * latency" means rejecting the union of two nulls, which the intersection-union principle (Berger,
 * Technometrics 1982) allows at α_adv for each part without splitting α.
 */
export class RolloutAnalysis implements OutcomeObserver {
  readonly canary: string;
  readonly stable: string;
  readonly alpha: number;
  readonly alphaAdvance: number;
  readonly lnEThreshold: number;
  readonly lnSRThreshold: number;
  readonly lnAdvanceThreshold: number;

  readonly #srThreshold: number; // 2·T/α, linear
  readonly #clock: Clock;
  readonly #onAbort: ((reason: AbortReason, decidedAt: number) => void) | undefined;
  readonly #warmupMs: number;
  readonly #warmupCanary: number;

  // Abort components.
  readonly #failure = new MixtureEProcess(RATIO_GRID);
  readonly #absolute: AbsoluteRateEProcess;
  readonly #latency: MixtureEProcess[] = LATENCY_GRIDS.map((grid) => new MixtureEProcess(grid));
  readonly #thresholds: PooledLatencyThresholds;
  #refreshedAt: number;
  #now: number; // the clock as last read on the request path
  #ticks = 0;
  #exceedances = 0;

  // Advance components, restarted per step.
  readonly #niAbsolute: AbsoluteNonInferiority;
  readonly #niRelative: MixtureEProcess;
  readonly #niLatency: MixtureEProcess[]; // p50, p90

  readonly #budget: BudgetGuard;

  // First-attempt counts since the rollout began and since the step began.
  #canaryRequests = 0;
  #canaryFailures = 0;
  #stableRequests = 0;
  #stableFailures = 0;
  // Stable's recent rate: the current half-window plus the previous one (#recent* = both).
  readonly #halfLength: number;
  #halfRequests = 0;
  #halfFailures = 0;
  #recentRequests = 0;
  #recentFailures = 0;
  #stepCanaryRequests = 0;
  #stepCanaryFailures = 0;
  #stepCanaryEvents = 0; // failure events on the canary in the step with 0 < ρ < 1 (for the CS)
  #stepStableEvents = 0;
  #stepRhoSum = 0;
  #stepStartedAt: number;

  #abort: AbortReason | null = null;
  #abortDecidedAt: number | null = null;
  /** The error thrown by onAbort, if it threw (the request path must never throw). */
  callbackError: unknown = undefined;

  constructor(options: RolloutAnalysisOptions) {
    const { canary, stable, clock } = options;
    if (typeof canary !== 'string' || canary === '') throw new Error('RolloutAnalysis: canary version name is empty');
    if (typeof stable !== 'string' || stable === '') throw new Error('RolloutAnalysis: stable version name is empty');
    if (canary === stable) throw new Error(`RolloutAnalysis: canary and stable are the same version "${canary}"`);
    this.canary = canary;
    this.stable = stable;
    this.alpha = probability('alpha', options.alpha ?? 0.01);
    this.alphaAdvance = probability('alphaAdvance', options.alphaAdvance ?? 0.05);
    const budget = probability('budget', options.budget ?? 0.001);
    const pMax = probability('pMax', options.pMax ?? 0.001);
    const rMax = options.rMax ?? 2;
    if (!(rMax > 1)) throw new Error(`RolloutAnalysis: rMax ${rMax} must be > 1`);
    const latencyMargin = options.latencyMargin ?? 1.5;
    if (!(latencyMargin > 1)) throw new Error(`RolloutAnalysis: latencyMargin ${latencyMargin} must be > 1`);
    const tMax = options.tMax ?? 1e6;
    if (!(tMax >= 1)) throw new Error(`RolloutAnalysis: tMax ${tMax} must be ≥ 1`);
    this.#warmupMs = options.warmup?.ms ?? 0;
    this.#warmupCanary = options.warmup?.canaryRequests ?? 0;
    if (!(this.#warmupMs >= 0) || !(this.#warmupCanary >= 0)) throw new Error('RolloutAnalysis: warmup ms and canaryRequests must be ≥ 0');

    this.lnEThreshold = Math.log(2 / this.alpha);
    this.#srThreshold = (2 * tMax) / this.alpha;
    this.lnSRThreshold = Math.log(this.#srThreshold);
    this.lnAdvanceThreshold = Math.log(1 / this.alphaAdvance);
    this.#clock = clock;
    this.#onAbort = options.onAbort;
    this.#absolute = new AbsoluteRateEProcess(budget);
    this.#halfLength = Math.ceil(5 / budget);
    this.#niAbsolute = new AbsoluteNonInferiority(pMax);
    this.#niRelative = new MixtureEProcess(ADVANCE_ALTERNATIVES, { nullRatio: rMax, shiryaevRoberts: false });
    this.#niLatency = [0, 1].map(() => new MixtureEProcess(ADVANCE_ALTERNATIVES, { nullRatio: latencyMargin, shiryaevRoberts: false }));
    // The budget's noise allowance at α/10: the rollout's chance of any false abort stays ≤ 1.1·α.
    this.#budget = new BudgetGuard(budget, options.budgetCarry, this.alpha / 10);
    const now = clock.now();
    this.#thresholds = new PooledLatencyThresholds(now, {
      halfMs: options.latencyWindowMs ?? 10_000,
      marginMs: options.latencyAbortMarginMs ?? 10,
    });
    this.#refreshedAt = now;
    this.#now = now;
    this.#stepStartedAt = now;
  }

  firstAttempt(version: string, canaryShare: number, verdict: AttemptVerdict, latencyMs: number): void {
    if (verdict === ATTEMPT_EXCLUDED) return; // a drain or a client leaving is not the version's doing
    const canary = version === this.canary;
    const rho = canaryShare;
    // At ρ = 0 or 1 (or a nonsense ρ) an event's arm is fixed in advance and says nothing.
    const informative = rho > 0 && rho < 1;
    // Reading the clock costs more than the rest of this method (performance.now() is 50-200 ns),
    // so it is read every CLOCK_EVERY attempts: thresholds refresh at most every 100 ms and at
    // least every 100 ms + CLOCK_EVERY requests; staleness only costs power, never validity.
    if ((++this.#ticks & (CLOCK_EVERY - 1)) === 0) {
      const now = this.#clock.now();
      this.#now = now;
      if (now - this.#refreshedAt >= THRESHOLD_REFRESH_MS) {
        this.#thresholds.refresh(now);
        this.#refreshedAt = now;
      }
    }
    const now = this.#now;
    if (verdict === ATTEMPT_FAILED) {
      if (canary) {
        // The absolute test is off while stable itself fails at the budget rate or more: a flaky
        // shared dependency is not the canary's fault. Decided from earlier requests only.
        if (this.#absoluteActive()) this.#absolute.failure();
        this.#canaryRequests++;
        this.#canaryFailures++;
        this.#stepCanaryRequests++;
        this.#stepCanaryFailures++;
      } else {
        this.#countStable(true);
      }
      if (informative) {
        this.#failure.event(canary, rho);
        this.#niRelative.event(canary, rho);
        if (canary) this.#stepCanaryEvents++;
        else this.#stepStableEvents++;
        this.#stepRhoSum += rho;
      }
      this.#check(false);
      return;
    }
    if (canary) {
      if (this.#absoluteActive()) this.#absolute.success();
      this.#canaryRequests++;
      this.#stepCanaryRequests++;
    } else {
      this.#countStable(false);
    }
    if (!(latencyMs >= 0)) return;
    const bucket = latencyBucket(latencyMs);
    const thresholds = this.#thresholds;
    if (informative && thresholds.ready && bucket > (thresholds.thresholds[0] as number) && this.#warmedUp(now)) {
      // Advance (non-inferiority) counts exceedances of the pooled levels themselves; the abort
      // test counts those of the levels raised by the margin (see PooledLatencyThresholds).
      (this.#niLatency[0] as MixtureEProcess).event(canary, rho);
      if (bucket > (thresholds.thresholds[1] as number)) (this.#niLatency[1] as MixtureEProcess).event(canary, rho);
      const abort = thresholds.abortThresholds;
      if (bucket > (abort[0] as number)) {
        this.#exceedances++;
        (this.#latency[0] as MixtureEProcess).event(canary, rho);
        if (bucket > (abort[1] as number)) {
          this.#exceedances++;
          (this.#latency[1] as MixtureEProcess).event(canary, rho);
          if (bucket > (abort[2] as number)) {
            this.#exceedances++;
            (this.#latency[2] as MixtureEProcess).event(canary, rho);
          }
        }
        this.#thresholds.add(bucket);
        this.#check(true);
        return;
      }
    }
    this.#thresholds.add(bucket);
  }

  requestDone(version: string, clientFailed: boolean, clientGone: boolean): void {
    if (clientGone) return;
    if (this.#budget.observe(version === this.canary, clientFailed) && this.#abort === null) this.#decide('budget');
  }

  /** A new step began (the split changed): non-inferiority and the step's counts start over. */
  restartStep(): void {
    this.#niRelative.reset();
    for (const ni of this.#niLatency) ni.reset();
    this.#stepCanaryRequests = 0;
    this.#stepCanaryFailures = 0;
    this.#stepCanaryEvents = 0;
    this.#stepStableEvents = 0;
    this.#stepRhoSum = 0;
    this.#stepStartedAt = this.#clock.now();
  }

  get aborted(): AbortReason | null {
    return this.#abort;
  }

  /** The evidence now: plain data, O(K) plus a few bisections; not for the request path. */
  evidence(): Evidence {
    const failure = component('failure-rate', this.#failure.lnE(), this.#failure.lnSR(), this.#failure.events, true);
    const absolute = component(
      'absolute-rate',
      this.#absolute.lnE(),
      this.#absolute.lnSR(),
      this.#absolute.requests,
      this.#absoluteActive(),
    );
    const latency = component('latency', this.#latencyLnE(), this.#latencyLnSR(), this.#exceedances, this.#thresholds.ready);
    const advanceFailure = this.#advanceFailureLnE();
    const advanceLatency = this.#advanceLatencyLnE();
    const advanceLnE = Math.min(advanceFailure, advanceLatency);
    const proven = advanceLnE >= this.lnAdvanceThreshold;
    let needed = 0;
    if (!proven) {
      needed = this.#niAbsolute.requestsNeeded(
        this.#stepCanaryFailures,
        this.#stepCanaryRequests,
        this.#niRelative.lnE(),
        this.lnAdvanceThreshold,
      );
      // When only the latency gate is missing, more canary traffic is still what it needs.
      if (needed === 0) needed = 1;
    }
    const events = this.#stepCanaryEvents + this.#stepStableEvents;
    return {
      canary: this.canary,
      stable: this.stable,
      canaryAttempts: { requests: this.#canaryRequests, failures: this.#canaryFailures },
      stableAttempts: { requests: this.#stableRequests, failures: this.#stableFailures },
      stepCanaryAttempts: { requests: this.#stepCanaryRequests, failures: this.#stepCanaryFailures },
      lnE: logMean3(failure.lnE, absolute.lnE, latency.lnE),
      lnEThreshold: this.lnEThreshold,
      lnSR: logMean3(failure.lnSR, absolute.lnSR, latency.lnSR),
      lnSRThreshold: this.lnSRThreshold,
      components: [failure, absolute, latency],
      abort: this.#abort,
      abortDecidedAt: this.#abortDecidedAt,
      advance: { lnE: advanceLnE, lnThreshold: this.lnAdvanceThreshold, proven },
      requestsNeededToProve: needed,
      rateRatio:
        events === 0 ? null : rateRatioConfidence(this.#stepCanaryEvents, this.#stepStableEvents, this.#stepRhoSum / events, this.alpha),
      latencyThresholdsMs: this.#thresholds.thresholdsMs(),
      budget: this.#budget.evidence(),
    };
  }

  // Stable's own rate, since the rollout began and over its last 5/p0..10/p0 requests (two halves):
  // under drifting load the cumulative rate lags, and a canary failing like stable at a peak above
  // p0 is not the canary's fault.
  #absoluteActive(): boolean {
    const p0 = this.#absolute.p0;
    return (
      (this.#stableFailures === 0 || this.#stableFailures < p0 * this.#stableRequests) &&
      (this.#recentFailures === 0 || this.#recentFailures < p0 * this.#recentRequests)
    );
  }

  #countStable(failed: boolean): void {
    this.#stableRequests++;
    if (failed) this.#stableFailures++;
    this.#halfRequests++;
    if (failed) this.#halfFailures++;
    if (this.#halfRequests >= this.#halfLength) {
      this.#recentRequests = this.#halfRequests;
      this.#recentFailures = this.#halfFailures;
      this.#halfRequests = 0;
      this.#halfFailures = 0;
    } else {
      this.#recentRequests++;
      if (failed) this.#recentFailures++;
    }
  }

  #warmedUp(now: number): boolean {
    return now - this.#stepStartedAt >= this.#warmupMs && this.#stepCanaryRequests >= this.#warmupCanary;
  }

  // The average crosses c only if some grid point of some component does; reading the cached maxima
  // keeps the full log-sum-exp off the request path until a component is near its bound.
  // The reason named is the kind of event that pushed the average over: a latency exceedance, or a
  // failure (then whichever of the ratio and absolute tests stands higher).
  #check(latencyEvent: boolean): void {
    if (this.#abort !== null) return;
    const lnE = this.lnEThreshold;
    const lnSR = this.lnSRThreshold;
    const r = this.#srThreshold;
    const latency = this.#latency;
    const l50 = latency[0] as MixtureEProcess;
    const l90 = latency[1] as MixtureEProcess;
    const l99 = latency[2] as MixtureEProcess;
    const near =
      this.#failure.maxL >= lnE ||
      this.#failure.maxR >= r ||
      this.#absolute.maxL >= lnE ||
      this.#absolute.maxS >= lnSR ||
      l50.maxL >= lnE ||
      l50.maxR >= r ||
      l90.maxL >= lnE ||
      l90.maxR >= r ||
      l99.maxL >= lnE ||
      l99.maxR >= r;
    if (!near) return;
    const f = this.#failure.lnE();
    const a = this.#absolute.lnE();
    const l = this.#latencyLnE();
    if (logMean3(f, a, l) >= lnE) return this.#decide(latencyEvent ? 'latency' : f >= a ? 'failure-rate' : 'absolute-rate');
    const fs = this.#failure.lnSR();
    const as = this.#absolute.lnSR();
    const ls = this.#latencyLnSR();
    if (logMean3(fs, as, ls) >= lnSR) return this.#decide(latencyEvent ? 'latency' : fs >= as ? 'failure-rate' : 'absolute-rate');
  }

  #decide(reason: AbortReason): void {
    this.#abort = reason;
    this.#abortDecidedAt = this.#clock.now();
    if (this.#onAbort === undefined) return;
    try {
      this.#onAbort(reason, this.#abortDecidedAt);
    } catch (err) {
      this.callbackError = err;
    }
  }

  #latencyLnE(): number {
    const [a, b, c] = this.#latency as [MixtureEProcess, MixtureEProcess, MixtureEProcess];
    return logMean3(a.lnE(), b.lnE(), c.lnE());
  }

  #latencyLnSR(): number {
    const [a, b, c] = this.#latency as [MixtureEProcess, MixtureEProcess, MixtureEProcess];
    return logMean3(a.lnSR(), b.lnSR(), c.lnSR());
  }

  /** ln of mean(absolute, relative) non-inferiority on failures for the step. */
  #advanceFailureLnE(): number {
    return logAddExp(this.#niAbsolute.lnE(this.#stepCanaryFailures, this.#stepCanaryRequests), this.#niRelative.lnE()) - Math.LN2;
  }

  /** ln of mean(p50, p90) non-inferiority on latency exceedances for the step. */
  #advanceLatencyLnE(): number {
    const [a, b] = this.#niLatency as [MixtureEProcess, MixtureEProcess];
    return logAddExp(a.lnE(), b.lnE()) - Math.LN2;
  }
}

function component(name: ComponentEvidence['name'], lnE: number, lnSR: number, events: number, active: boolean): ComponentEvidence {
  return { name, lnE, lnSR, events, active };
}

function probability(name: string, value: number): number {
  if (!(value > 0 && value < 1)) throw new Error(`RolloutAnalysis: ${name} ${value} must be in (0, 1)`);
  return value;
}
