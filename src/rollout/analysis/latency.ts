// Pooled latency thresholds for the exceedance tests: a log-bucket histogram of recent successful
// first attempts of every version, read into p50/p90/p99 bucket indices at most every refresh period.

/**
 * Buckets as in HdrHistogram: octaves of MIN_MS·2^o split linearly into SUB parts, so a bucket is
 * 6-12 % wide and finding one costs a multiply and a clz32, no logarithm.
 */
const MIN_MS = 0.1;
const SUB = 8;
const OCTAVES = 28; // up to 0.1 ms · 2^28 ≈ 7.5 hours; longer ones share the top bucket
const BUCKETS = OCTAVES * SUB;
const INV_POW2 = Float64Array.from({ length: OCTAVES }, (_, o) => 2 ** -o);

export const LATENCY_LEVELS: readonly number[] = [0.5, 0.9, 0.99];

/** The bucket of a latency in ms (below 0.1 ms, NaN and negatives go to bucket 0). */
export function latencyBucket(ms: number): number {
  const x = ms * (1 / MIN_MS);
  if (!(x >= 1)) return 0;
  if (x >= 2 ** OCTAVES) return BUCKETS - 1;
  const octave = 31 - Math.clz32(x); // clz32 truncates x to an integer first
  const sub = Math.floor((x * (INV_POW2[octave] as number) - 1) * SUB);
  return octave * SUB + sub;
}

/** The upper edge (ms) of a bucket: a latency in a higher bucket exceeds it. */
export function bucketUpperMs(i: number): number {
  const octave = Math.floor(i / SUB);
  return MIN_MS * 2 ** octave * (1 + ((i % SUB) + 1) / SUB);
}

/**
 * Two half-windows (Envoy's two-bucket window): samples go into the current half; every `halfMs` the
 * current half becomes the previous and a fresh one starts, so thresholds describe the last
 * halfMs..2·halfMs of traffic and follow drifting load. The thresholds are bucket indices, fixed
 * between refreshes: a request is compared with thresholds computed only from requests that ended
 * before it, which keeps "canary given exceedance" at probability ρ under equal latency laws.
 */
export class PooledLatencyThresholds {
  readonly halfMs: number;
  readonly minSamples: number;
  /** Bucket index per level (latency bucket > index = exceedance), valid when `ready`. */
  readonly thresholds = new Int32Array(LATENCY_LEVELS.length);
  /**
   * The same levels raised by the abort margin (`marginMs`): what the abort test counts as an
   * exceedance. Still a function of past requests only, so the test stays valid; it makes the abort
   * ignore differences too small to matter, such as a fresh canary pod's first milliseconds of JIT
   * and connection set-up against pooled thresholds of 2-4 ms.
   */
  readonly abortThresholds = new Int32Array(LATENCY_LEVELS.length);
  readonly marginMs: number;
  ready = false;

  #current = new Uint32Array(BUCKETS);
  #previous = new Uint32Array(BUCKETS);
  #currentCount = 0;
  #previousCount = 0;
  #halfStartedAt: number;

  constructor(now: number, options: { halfMs?: number; minSamples?: number; marginMs?: number } = {}) {
    this.halfMs = options.halfMs ?? 10_000;
    this.minSamples = options.minSamples ?? 200;
    this.marginMs = options.marginMs ?? 0;
    if (!(this.marginMs >= 0)) throw new Error(`latency abort margin ${this.marginMs} ms must be ≥ 0`);
    if (!(this.halfMs > 0)) throw new Error(`latency window half ${this.halfMs} ms must be > 0`);
    if (!(this.minSamples >= 1)) throw new Error(`latency minimum samples ${this.minSamples} must be ≥ 1`);
    this.#halfStartedAt = now;
  }

  /** Counts a successful first attempt's bucket. O(1). */
  add(bucket: number): void {
    (this.#current[bucket] as number)++;
    this.#currentCount++;
  }

  /** Rotates the halves if due and recomputes the thresholds from both. O(buckets). */
  refresh(now: number): void {
    if (now - this.#halfStartedAt >= this.halfMs) {
      const spare = this.#previous;
      this.#previous = this.#current;
      this.#previousCount = this.#currentCount;
      spare.fill(0);
      this.#current = spare;
      this.#currentCount = 0;
      // After a long silence both halves are stale; start over rather than judge by old traffic.
      if (now - this.#halfStartedAt >= 2 * this.halfMs) {
        this.#previous.fill(0);
        this.#previousCount = 0;
      }
      this.#halfStartedAt = now;
    }
    const total = this.#currentCount + this.#previousCount;
    if (total < this.minSamples) {
      this.ready = false;
      return;
    }
    let level = 0;
    let target = Math.ceil((LATENCY_LEVELS[0] as number) * total);
    let cumulative = 0;
    for (let i = 0; i < BUCKETS && level < LATENCY_LEVELS.length; i++) {
      cumulative += (this.#current[i] as number) + (this.#previous[i] as number);
      while (level < LATENCY_LEVELS.length && cumulative >= target) {
        this.thresholds[level] = i;
        this.abortThresholds[level] = this.marginMs > 0 ? Math.max(i, latencyBucket(bucketUpperMs(i) + this.marginMs)) : i;
        level++;
        if (level < LATENCY_LEVELS.length) target = Math.ceil((LATENCY_LEVELS[level] as number) * total);
      }
    }
    this.ready = true;
  }

  /** Abort thresholds in ms (upper bucket edges, margin included) for p50, p90, p99, or null before enough samples. */
  thresholdsMs(): [number, number, number] | null {
    if (!this.ready) return null;
    return [
      bucketUpperMs(this.abortThresholds[0] as number),
      bucketUpperMs(this.abortThresholds[1] as number),
      bucketUpperMs(this.abortThresholds[2] as number),
    ];
  }
}
