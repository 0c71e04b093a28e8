// The counting-process e-process of Lindon & Malek (NeurIPS 2022, "Anytime-Valid Inference for
// Multinomial Count Data") in its one-sided form: a mixture over rate ratios r of the likelihood ratio
// of "which arm did this event land on", plus its Shiryaev-Roberts form for changes mid-rollout.

import { logAddExp, logAddOne, logSumExp } from './logmath.ts';

/** The ratio grid of the abort tests: wide enough that a dead canary and a 1.5× regression both pay. */
export const RATIO_GRID: readonly number[] = [1.5, 2, 3, 5, 10, 30, 100, 1000];

/**
 * A mixture e-process over a grid of alternative ratios r (equal weights) against the null ratio r0.
 *
 * An event (a failure, or a latency exceedance) lands on the canary with probability
 * θ = ρr / (1 + ρ(r − 1)) when the canary's event rate is r times stable's and a share ρ of requests
 * was routed to it. The likelihood ratio of r against r0 for one event is
 *   L = (r/r0)^Y · (1 + ρ(r0 − 1)) / (1 + ρ(r − 1)),   Y = 1 if the canary's,
 * whose conditional mean is ≤ 1 whenever the true ratio is on the null side of r0, for any ρ schedule
 * and any base rate shared by both arms. So the plain product is an e-process (Ville: it crosses
 * 1/α with probability ≤ α however often it is read), and the Shiryaev-Roberts sum
 * R_t = (R_{t−1} + 1)·L_t, R_t − t a supermartingale, catches a break after a long healthy stretch
 * (Shin, Ramdas & Rinaldo, "E-detectors"). Everything is in log space; O(K) per event, no allocation.
 *
 * r0 = 1 with r > 1 is the abort test ("the canary is no worse"); r0 > 1 with r ≤ 1 is the
 * non-inferiority test ("the canary is worse by the margin r0"), which licenses an advance.
 */
export class MixtureEProcess {
  readonly grid: Float64Array;
  readonly nullRatio: number;
  /** Events seen. */
  events = 0;
  /** max_i ln of the plain process at grid point i: the mixture can cross c only if this does. */
  maxL = 0;
  /** max_i of the Shiryaev-Roberts statistic R_i (linear): the same for the SR form. */
  maxR = 0;

  readonly #lnRatio: Float64Array; // ln(r/r0)
  readonly #lnWeight: number;
  readonly #l: Float64Array; // ln plain process per grid point
  // R per grid point, in linear space: R ≥ L > 0 after an event so it cannot underflow, and it
  // stays far below overflow until long after its bound (2·T/α) is crossed; clamped there.
  readonly #r: Float64Array;
  readonly #withSR: boolean;
  // Per-event increments for the last ρ seen (ρ changes only when the weights do): ln L and L for
  // an event on the canary and on stable, so an event costs adds and multiplies, no logarithm.
  readonly #incCanary: Float64Array;
  readonly #incStable: Float64Array;
  readonly #likCanary: Float64Array;
  readonly #likStable: Float64Array;
  #rho = Number.NaN;

  constructor(grid: readonly number[], options: { nullRatio?: number; shiryaevRoberts?: boolean } = {}) {
    if (grid.length === 0) throw new Error('MixtureEProcess: the ratio grid is empty');
    for (const r of grid)
      if (!(r >= 0) || !Number.isFinite(r)) throw new Error(`MixtureEProcess: grid ratio ${r} is not a finite number ≥ 0`);
    this.nullRatio = options.nullRatio ?? 1;
    if (!(this.nullRatio > 0)) throw new Error(`MixtureEProcess: null ratio ${this.nullRatio} must be > 0`);
    this.#withSR = options.shiryaevRoberts ?? true;
    const k = grid.length;
    this.grid = Float64Array.from(grid);
    this.#lnRatio = Float64Array.from(grid, (r) => Math.log(r / this.nullRatio));
    this.#lnWeight = -Math.log(k);
    this.#l = new Float64Array(k);
    this.#r = new Float64Array(k);
    this.#incCanary = new Float64Array(k);
    this.#incStable = new Float64Array(k);
    this.#likCanary = new Float64Array(k);
    this.#likStable = new Float64Array(k);
  }

  /**
   * One event: on the canary (`canary`) or on stable, when the canary's share was `rho` (0 < ρ < 1;
   * at ρ = 0 or 1 an event says nothing about the arms, and the caller skips it).
   */
  event(canary: boolean, rho: number): void {
    const k = this.grid.length;
    if (rho !== this.#rho) this.#setRho(rho);
    const inc = canary ? this.#incCanary : this.#incStable;
    const lik = canary ? this.#likCanary : this.#likStable;
    let maxL = -Infinity;
    let maxR = 0;
    for (let i = 0; i < k; i++) {
      const l = (this.#l[i] as number) + (inc[i] as number);
      this.#l[i] = l;
      if (l > maxL) maxL = l;
      if (this.#withSR) {
        let r = ((this.#r[i] as number) + 1) * (lik[i] as number);
        if (r > MAX_R) r = MAX_R;
        this.#r[i] = r;
        if (r > maxR) maxR = r;
      }
    }
    this.maxL = maxL;
    this.maxR = maxR;
    this.events++;
  }

  /** max_i ln R_i. */
  get maxS(): number {
    return Math.log(this.maxR);
  }

  /** ln of the plain mixture (equal weights). */
  lnE(): number {
    return logSumExp(this.#l) + this.#lnWeight;
  }

  /** ln of the Shiryaev-Roberts mixture (−∞ before the first event, or without the SR form). */
  lnSR(): number {
    let sum = 0;
    for (let i = 0; i < this.#r.length; i++) sum += this.#r[i] as number;
    return Math.log(sum) + this.#lnWeight;
  }

  /** Back to the start (E = 1, R = 0), as non-inferiority does at each step. */
  reset(): void {
    this.#l.fill(0);
    this.#r.fill(0);
    this.maxL = 0;
    this.maxR = 0;
    this.events = 0;
  }

  #setRho(rho: number): void {
    const base = Math.log1p(rho * (this.nullRatio - 1));
    for (let i = 0; i < this.grid.length; i++) {
      const norm = Math.log1p(rho * ((this.grid[i] as number) - 1)) - base;
      this.#incStable[i] = -norm;
      this.#incCanary[i] = (this.#lnRatio[i] as number) - norm;
      this.#likStable[i] = Math.exp(-norm);
      this.#likCanary[i] = Math.exp((this.#lnRatio[i] as number) - norm);
    }
    this.#rho = rho;
  }
}

/** Where a Shiryaev-Roberts statistic stops growing: e^600, long past any bound 2·T/α. */
const MAX_R = Math.exp(600);

/**
 * The absolute-rate component: the canary's own failure rate against the budget rate p0, over canary
 * requests. For alternatives q = p0·m (m in `multipliers`), one canary request multiplies by q/p0 on a
 * failure and (1 − q)/(1 − p0) on a success, so the plain process is closed form in (failures,
 * requests); the Shiryaev-Roberts form steps at every canary request but folds runs of successes in one
 * go (R ← c·(R + 1) applied m times is c^m·R + c(1 − c^m)/(1 − c)), so a success costs two increments.
 */
export class AbsoluteRateEProcess {
  readonly p0: number;
  readonly alternatives: Float64Array;
  failures = 0;
  requests = 0;

  readonly #lnUp: Float64Array; // ln(q/p0)
  readonly #lnDown: Float64Array; // ln((1 − q)/(1 − p0)) < 0
  readonly #lnOneMinusC: Float64Array; // ln(1 − c) with c = (1 − q)/(1 − p0)
  readonly #s: Float64Array;
  readonly #lnWeight: number;
  /** Upper bound of ln of each fixed point c/(1 − c): successes move R toward it, never past. */
  readonly lnFixedPointMax: number;
  #pending = 0;
  #maxLAtFailure = 0;
  #maxSAtFailure = -Infinity;

  constructor(p0: number, multipliers: readonly number[] = [2, 3, 5, 10, 30, 100, 300]) {
    if (!(p0 > 0 && p0 < 1)) throw new Error(`AbsoluteRateEProcess: rate ${p0} must be in (0, 1)`);
    const qs = multipliers.map((m) => m * p0).filter((q) => q > p0 && q < 1);
    if (qs.length === 0) throw new Error(`AbsoluteRateEProcess: no alternative rate in (${p0}, 1)`);
    this.p0 = p0;
    this.alternatives = Float64Array.from(qs);
    this.#lnUp = Float64Array.from(qs, (q) => Math.log(q / p0));
    this.#lnDown = Float64Array.from(qs, (q) => Math.log1p(-q) - Math.log1p(-p0));
    this.#lnOneMinusC = Float64Array.from(qs, (q) => Math.log(q - p0) - Math.log1p(-p0));
    this.#s = new Float64Array(qs.length).fill(-Infinity);
    this.#lnWeight = -Math.log(qs.length);
    let star = -Infinity;
    for (let i = 0; i < qs.length; i++) star = Math.max(star, (this.#lnDown[i] as number) - (this.#lnOneMinusC[i] as number));
    this.lnFixedPointMax = star;
  }

  /** A successful canary request: O(1). */
  success(): void {
    this.requests++;
    this.#pending++;
  }

  /** A failed canary request: O(K). */
  failure(): void {
    this.#fold();
    this.requests++;
    this.failures++;
    let maxS = -Infinity;
    for (let i = 0; i < this.#s.length; i++) {
      const s = logAddOne(this.#s[i] as number) + (this.#lnUp[i] as number);
      this.#s[i] = s;
      if (s > maxS) maxS = s;
    }
    this.#maxSAtFailure = maxS;
    let maxL = -Infinity;
    for (let i = 0; i < this.#lnUp.length; i++) maxL = Math.max(maxL, this.#lnPlain(i));
    this.#maxLAtFailure = maxL;
  }

  /** An upper bound of max_i ln E_i until the next failure (successes only lower the plain process). */
  get maxL(): number {
    return this.#maxLAtFailure;
  }

  /** An upper bound of max_i ln R_i until the next failure. */
  get maxS(): number {
    return Math.max(this.#maxSAtFailure, this.lnFixedPointMax);
  }

  lnE(): number {
    let max = -Infinity;
    for (let i = 0; i < this.#lnUp.length; i++) max = Math.max(max, this.#lnPlain(i));
    let sum = 0;
    for (let i = 0; i < this.#lnUp.length; i++) sum += Math.exp(this.#lnPlain(i) - max);
    return max + Math.log(sum) + this.#lnWeight;
  }

  lnSR(): number {
    this.#fold();
    return logSumExp(this.#s) + this.#lnWeight;
  }

  #lnPlain(i: number): number {
    return this.failures * (this.#lnUp[i] as number) + (this.requests - this.failures) * (this.#lnDown[i] as number);
  }

  #fold(): void {
    const m = this.#pending;
    if (m === 0) return;
    this.#pending = 0;
    for (let i = 0; i < this.#s.length; i++) {
      const lnC = this.#lnDown[i] as number;
      const lnCm = m * lnC;
      // ln(c(1 − c^m)/(1 − c)) and ln(c^m·R): the stationary part and what is left of the past.
      const stationary = lnC + Math.log1p(-Math.exp(lnCm)) - (this.#lnOneMinusC[i] as number);
      const s = this.#s[i] as number;
      this.#s[i] = s === -Infinity ? stationary : logAddExp(s + lnCm, stationary);
    }
  }
}
