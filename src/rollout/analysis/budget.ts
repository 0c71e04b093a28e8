// The zero-downtime budget as a deterministic guard: client-visible failures the canary caused beyond
// stable's own rate, against a share of every client request since the rollout began.

import type { BudgetEvidence } from '../evidence.ts';

/**
 * Counts client outcomes by the version of the request's first attempt. The canary's excess is
 * X = F_c − p̂_s·n_c (its client-visible failures beyond what stable's client-visible rate p̂_s would
 * have produced on the same requests); the budget breaks when X − A > ε·N over all N client
 * requests, where A is the noise allowance below (using up exactly the budget is allowed).
 * Replays that rescued a canary failure are client successes and cost nothing here.
 *
 * The noise allowance. When both versions fail at the same rate p, X is a sum of centred noise: its
 * spread grows like √(p·n_c) while ε·N grows like N, so a guard without an allowance breaks on
 * healthy rollouts whenever p is well above ε (simulated: 42 % of equal rollouts at 2 % failures
 * that clients see). A is a time-uniform bound on that noise: the stitched boundary of Howard,
 * Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences"
 * (Ann. Statist. 49(2), 2021), Theorem 1 with η = 2, s = 1.4, m = 1, for a sub-gamma sum (Bernoulli
 * increments: scale c = 1/3) with variance V = p̄(1 − p̄)·n_c·(1 + n_c/n_s). p̄ is the pooled client
 * failure rate and the n_c/n_s term is p̂_s's own estimation error; the variance being estimated
 * makes the level approximate (α/10 by default, so the rollout's total stays near α), which the
 * seeded simulations check. A broken canary is cut by the sequential tests long before; the
 * allowance only stops the guard from calling noise a breach.
 *
 * It is judged from N ≥ 1/ε on, the first point where a single excess failure fits in the budget:
 * before that, one unlucky request of a healthy canary would be a breach.
 */
/**
 * The budget spent before this process began judging the rollout (a restarted glidepath): client
 * requests, excess failures and the variance of that excess as the last persisted decision recorded
 * them (a record without the variance carries none).
 */
export interface BudgetCarry {
  readonly clientRequests: number;
  readonly excessFailures: number;
  readonly excessVariance?: number;
}

// Theorem 1's constants for η = 2, s = 1.4, m = 1: k1 = (η^¼ + η^−¼)/√2, k2 = (√η + 1)/2, and
// ℓ(v) = s·ln ln(η·v/m) + ln(ζ(s) / (α·(ln η)^s)), ζ(1.4) = 3.1055.
const ETA = 2;
const S = 1.4;
const K1 = (ETA ** 0.25 + ETA ** -0.25) / Math.SQRT2;
const K2 = (Math.SQRT2 + 1) / 2;
const ZETA_S = 3.1055;
/** Sub-gamma scale of a sum of Bernoulli increments (bounded above by 1: sub-Poisson, c/3). */
const C = 1 / 3;

/**
 * The stitched boundary S_α(max(v, 1)): with probability ≥ 1 − α a zero-mean sub-gamma sum stays
 * below it at every time, however often it is read.
 */
export function noiseBoundary(variance: number, alpha: number): number {
  const v = Math.max(variance, 1);
  const l = S * Math.log(Math.log(ETA * v)) + Math.log(ZETA_S / (alpha * Math.log(ETA) ** S));
  return Math.sqrt(K1 * K1 * v * l + K2 * K2 * C * C * l * l) + C * K2 * l;
}

/** The guard's rule read back from recorded evidence: X − ε·N beyond the noise allowance. */
export function budgetBroken(b: BudgetEvidence): boolean {
  return b.clientRequests >= Math.ceil(1 / b.limit) && b.excessFailures - b.limit * b.clientRequests > b.noiseAllowance;
}

export class BudgetGuard {
  readonly limit: number;
  /** The level of the noise allowance. */
  readonly alpha: number;
  readonly #minRequests: number;
  /** Excess failures and their variance carried over from before a restart; requests carried start #requests. */
  readonly #carriedExcess: number;
  readonly #carriedVariance: number;
  #requests = 0;
  #canaryRequests = 0;
  #canaryFailures = 0;
  #stableRequests = 0;
  #stableFailures = 0;

  /**
   * `carry` continues a rollout's budget across a glidepath restart: "since the rollout began" does
   * not restart with the process. Its excess is fixed as recorded (stable's rate from then on is
   * applied only to the canary requests seen since), and its requests count toward N.
   */
  constructor(limit: number, carry?: BudgetCarry, alpha = 0.001) {
    if (!(limit > 0 && limit < 1)) throw new Error(`budget ${limit} must be in (0, 1)`);
    if (!(alpha > 0 && alpha < 1)) throw new Error(`budget noise level α ${alpha} must be in (0, 1)`);
    this.limit = limit;
    this.alpha = alpha;
    this.#minRequests = Math.ceil(1 / limit);
    const requests = carry?.clientRequests ?? 0;
    const excess = carry?.excessFailures ?? 0;
    const variance = carry?.excessVariance ?? 0;
    if (!(Number.isInteger(requests) && requests >= 0) || !Number.isFinite(excess) || !(variance >= 0 && Number.isFinite(variance)))
      throw new Error(
        `budget carry ${JSON.stringify(carry)}: clientRequests must be a whole number ≥ 0, excessFailures finite and excessVariance finite ≥ 0`,
      );
    this.#requests = requests;
    this.#carriedExcess = excess;
    this.#carriedVariance = variance;
  }

  /** One finished client request; true when the budget is broken after it. O(1). */
  observe(canary: boolean, failed: boolean): boolean {
    this.#requests++;
    if (canary) {
      this.#canaryRequests++;
      if (failed) this.#canaryFailures++;
    } else {
      this.#stableRequests++;
      if (failed) this.#stableFailures++;
    }
    if (this.#requests < this.#minRequests || (this.#canaryFailures === 0 && this.#carriedExcess <= 0)) return false;
    const over = this.excess() - this.limit * this.#requests;
    // The allowance (a square root and two logarithms) only when the point estimate is over.
    return over > 0 && over > this.allowance();
  }

  /** X = F_c − p̂_s·n_c (p̂_s = 0 before stable has served anything), plus any carried excess. */
  excess(): number {
    const stableRate = this.#stableRequests === 0 ? 0 : this.#stableFailures / this.#stableRequests;
    return this.#carriedExcess + this.#canaryFailures - stableRate * this.#canaryRequests;
  }

  /** V = p̄(1 − p̄)·n_c·(1 + n_c/n_s), p̄ pooled over both versions, plus any carried variance. */
  variance(): number {
    const n = this.#canaryRequests + this.#stableRequests;
    if (n === 0) return this.#carriedVariance;
    const p = (this.#canaryFailures + this.#stableFailures) / n;
    const nc = this.#canaryRequests;
    return this.#carriedVariance + p * (1 - p) * nc * (1 + nc / Math.max(this.#stableRequests, 1));
  }

  /** A: how far above ε·N the excess may be before it is more than noise. */
  allowance(): number {
    return noiseBoundary(this.variance(), this.alpha);
  }

  evidence(): BudgetEvidence {
    const excess = this.excess();
    const allowed = this.limit * this.#requests;
    const variance = this.variance();
    return {
      clientRequests: this.#requests,
      excessFailures: excess,
      ratio: this.#requests === 0 ? 0 : excess / this.#requests,
      limit: this.limit,
      remaining: Math.max(0, allowed - excess),
      excessVariance: variance,
      noiseAllowance: noiseBoundary(variance, this.alpha),
    };
  }
}
