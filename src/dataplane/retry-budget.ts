// The retry budget (Linkerd's model): over the last 10 s, retries may add at most `ratio` of the
// requests plus `minPerSecond` per second, so that retries can never multiply an outage.

const SLOTS = 10;
const SLOT_MS = 1_000;

export class RetryBudget {
  readonly #ratio: number;
  readonly #floor: number;
  readonly #requests = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  #slot = 0;
  #slotStart = 0;
  #requestSum = 0;
  #retrySum = 0;
  /** Retries refused because the budget was spent. */
  exhausted = 0;

  constructor(ratio: number, minPerSecond: number) {
    this.#ratio = ratio;
    this.#floor = minPerSecond * SLOTS * (SLOT_MS / 1_000);
  }

  /** Counts one client request (called once per request, on the hot path: two adds). */
  recordRequest(nowMs: number): void {
    this.#advance(nowMs);
    (this.#requests[this.#slot] as number)++;
    this.#requestSum++;
  }

  /** Takes one retry from the budget if there is room; counts the refusal otherwise. */
  tryAcquire(nowMs: number): boolean {
    this.#advance(nowMs);
    if (this.#retrySum + 1 > this.#ratio * this.#requestSum + this.#floor) {
      this.exhausted++;
      return false;
    }
    (this.#retries[this.#slot] as number)++;
    this.#retrySum++;
    return true;
  }

  /** Whether a retry would be allowed now, without taking it. */
  available(nowMs: number): boolean {
    this.#advance(nowMs);
    return this.#retrySum + 1 <= this.#ratio * this.#requestSum + this.#floor;
  }

  #advance(nowMs: number): void {
    if (nowMs - this.#slotStart < SLOT_MS) return;
    // Expire every slot we moved past (at most all of them).
    const steps = Math.min(SLOTS, Math.floor((nowMs - this.#slotStart) / SLOT_MS));
    for (let i = 0; i < steps; i++) {
      this.#slot = (this.#slot + 1) % SLOTS;
      this.#requestSum -= this.#requests[this.#slot] as number;
      this.#retrySum -= this.#retries[this.#slot] as number;
      this.#requests[this.#slot] = 0;
      this.#retries[this.#slot] = 0;
    }
    this.#slotStart = nowMs - ((nowMs - this.#slotStart) % SLOT_MS);
  }
}
