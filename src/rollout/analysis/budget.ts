// The zero-downtime budget as a deterministic guard: client-visible failures the canary caused beyond
// stable's own rate, against a share of every client request since the rollout began.

import type { BudgetEvidence } from '../evidence.ts';

/**
 * Counts client outcomes by the version of the request's first attempt. The canary's excess is
 * X = F_c − p̂_s·n_c (its client-visible failures beyond what stable's client-visible rate p̂_s would
 * have produced on the same requests); the budget breaks when X > ε·N over all N client requests
 * (using up exactly the budget is allowed).
 * Replays that rescued a canary failure are client successes and cost nothing here.
 *
 * It is judged from N ≥ 1/ε on, the first point where a single excess failure fits in the budget:
 * before that, one unlucky request of a healthy canary would be a breach. A canary that is really
 * broken is cut by the sequential tests after a few failures long before (a dead one at a 5 % split
 * after 2-3 canary failures, at most about 60 requests).
 */
/**
 * The budget spent before this process began judging the rollout (a restarted glidepath): client
 * requests and excess failures as the last persisted decision recorded them.
 */
export interface BudgetCarry {
  readonly clientRequests: number;
  readonly excessFailures: number;
}

export class BudgetGuard {
  readonly limit: number;
  readonly #minRequests: number;
  /** Excess failures carried over from before a restart; requests carried start #requests. */
  readonly #carriedExcess: number;
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
  constructor(limit: number, carry?: BudgetCarry) {
    if (!(limit > 0 && limit < 1)) throw new Error(`budget ${limit} must be in (0, 1)`);
    this.limit = limit;
    this.#minRequests = Math.ceil(1 / limit);
    const requests = carry?.clientRequests ?? 0;
    const excess = carry?.excessFailures ?? 0;
    if (!(Number.isInteger(requests) && requests >= 0) || !Number.isFinite(excess))
      throw new Error(`budget carry ${JSON.stringify(carry)}: clientRequests must be a whole number ≥ 0 and excessFailures finite`);
    this.#requests = requests;
    this.#carriedExcess = excess;
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
    return (
      this.#requests >= this.#minRequests &&
      (this.#canaryFailures > 0 || this.#carriedExcess > 0) &&
      this.excess() > this.limit * this.#requests
    );
  }

  /** X = F_c − p̂_s·n_c (p̂_s = 0 before stable has served anything), plus any carried excess. */
  excess(): number {
    const stableRate = this.#stableRequests === 0 ? 0 : this.#stableFailures / this.#stableRequests;
    return this.#carriedExcess + this.#canaryFailures - stableRate * this.#canaryRequests;
  }

  evidence(): BudgetEvidence {
    const excess = this.excess();
    const allowed = this.limit * this.#requests;
    return {
      clientRequests: this.#requests,
      excessFailures: excess,
      ratio: this.#requests === 0 ? 0 : excess / this.#requests,
      limit: this.limit,
      remaining: Math.max(0, allowed - excess),
    };
  }
}
