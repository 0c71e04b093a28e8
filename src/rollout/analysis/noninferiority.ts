// The advance side: non-inferiority e-processes that reject "the canary is worse by a margin", the
// mirror image of the abort tests, restarted at every step so healthy history cannot carry a step.

import { logAddExp } from './logmath.ts';

/**
 * Absolute non-inferiority over the step's canary requests: H0 is p_c ≥ pMax, against the
 * alternatives p_a ∈ {0, pMax/4, pMax/2} with equal weights:
 *   ln E_a = F·ln(p_a/pMax) + (n − F)·ln((1 − p_a)/(1 − pMax))      (0·ln 0 = 0)
 * A product of per-request likelihood ratios whose mean is ≤ 1 when p_c ≥ pMax, so an e-process.
 * With no failure it reaches 1/α after about ln(1/α)/pMax requests: the anytime "rule of three".
 */
export class AbsoluteNonInferiority {
  readonly pMax: number;
  readonly #lnUp: Float64Array; // ln(p_a/pMax), −∞ for p_a = 0
  readonly #lnDown: Float64Array; // ln((1 − p_a)/(1 − pMax)) > 0

  constructor(pMax: number, fractions: readonly number[] = [0, 0.25, 0.5]) {
    if (!(pMax > 0 && pMax < 1)) throw new Error(`non-inferiority bound ${pMax} must be in (0, 1)`);
    this.pMax = pMax;
    this.#lnUp = Float64Array.from(fractions, (f) => Math.log(f));
    this.#lnDown = Float64Array.from(fractions, (f) => Math.log1p(-f * pMax) - Math.log1p(-pMax));
  }

  /** ln E after `failures` failures in `requests` canary requests. */
  lnE(failures: number, requests: number): number {
    let acc = -Infinity;
    for (let i = 0; i < this.#lnUp.length; i++) {
      const up = failures === 0 ? 0 : failures * (this.#lnUp[i] as number);
      acc = logAddExp(acc, up + (requests - failures) * (this.#lnDown[i] as number));
    }
    return acc - Math.log(this.#lnUp.length);
  }

  /**
   * The fewest further canary requests, all successful, after which
   * ln((E_abs + e^lnOther)/2) ≥ lnThreshold; 0 if already there.
   */
  requestsNeeded(failures: number, requests: number, lnOther: number, lnThreshold: number): number {
    const reached = (m: number) => logAddExp(this.lnE(failures, requests + m), lnOther) - Math.LN2 >= lnThreshold;
    if (reached(0)) return 0;
    let hi = 1;
    while (!reached(hi)) hi *= 2; // E_abs grows geometrically in m, so this ends after a few doublings
    let lo = hi / 2;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (reached(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}
