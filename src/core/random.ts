// A small seedable PRNG so that traffic splits and balancer picks are reproducible in tests.

/** Returns integers in [0, bound). Implementations must be cheap: called per request. */
export interface Random {
  int(bound: number): number;
}

/**
 * xorshift32: two shifts and xors per call, no allocation. Statistically plenty for
 * weighted routing; not for anything secret.
 */
export class XorShiftRandom implements Random {
  #state: number;

  constructor(seed: number = (Math.random() * 0xffffffff) >>> 0) {
    this.#state = seed >>> 0 || 0x9e3779b9;
  }

  int(bound: number): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    // Multiply-shift maps 32 random bits onto [0, bound) without a modulo bias worth noting here.
    return Math.floor((this.#state / 0x1_0000_0000) * bound);
  }

  /** A float in [0, 1) with 32 random bits, for simulations (the same stream as `int`). */
  float(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 0x1_0000_0000;
  }
}
