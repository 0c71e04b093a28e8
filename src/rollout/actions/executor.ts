// Runs the controller's Kubernetes actions one at a time and in order, off the controller's path:
// a call returns a promise at once; transient failures (5xx, 429, network, 409) are retried with
// capped exponential backoff; the last outcome of each kind of action is kept for /status.

import { systemClock } from '../../core/control.ts';
import type { Clock, ClockTimer } from '../../core/control.ts';
import { GlidepathError } from '../../core/errors.ts';
import { isRetryable } from './errors.ts';

/** An action's end. Never a rejection: the caller (the controller loop) reads it and moves on. */
export type Outcome<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: Error; readonly attempts: number };

export interface ActionErrorRecord {
  readonly code: string;
  readonly message: string;
  /** Wall-clock ms. */
  readonly at: number;
  readonly attempts: number;
  readonly retryable: boolean;
}

/** Per kind of action, what /status shows. */
export interface ActionKindStatus {
  readonly kind: string;
  readonly succeeded: number;
  readonly failed: number;
  readonly lastSuccessAt: number | null;
  /** The last failure (kept after a later success; compare `at` with lastSuccessAt). */
  readonly lastError: ActionErrorRecord | null;
  /** An attempt of this kind failed and the next one is waiting for its backoff. */
  readonly retrying: boolean;
}

export interface ExecutorOptions {
  readonly clock?: Clock;
  /** First retry delay (default 200 ms), doubled per attempt up to maxDelayMs (default 10 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Attempts per action including the first (default 8: about 40 s of retrying at the defaults). */
  readonly maxAttempts?: number;
  /** Which failures are worth another attempt (default: KubernetesError.retryable). */
  readonly retryable?: (err: unknown) => boolean;
  /** Told about each failed attempt that will be retried, e.g. to log it. */
  readonly onRetry?: (kind: string, err: unknown, attempt: number, delayMs: number) => void;
}

export interface RunOptions {
  /**
   * Coalescing key: when the action queued last (not yet started) has the same key, this call
   * shares its outcome instead of queueing a duplicate (a controller repeating "pause" each tick).
   */
  readonly key?: string;
  readonly maxAttempts?: number;
}

interface Job {
  readonly kind: string;
  readonly key: string | undefined;
  readonly fn: () => Promise<unknown>;
  readonly maxAttempts: number;
  readonly promise: Promise<Outcome<unknown>>;
  resolve(o: Outcome<unknown>): void;
}

interface KindState {
  succeeded: number;
  failed: number;
  lastSuccessAt: number | null;
  lastError: ActionErrorRecord | null;
  retrying: boolean;
}

export class ActionExecutor {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxAttempts: number;
  readonly #retryable: (err: unknown) => boolean;
  readonly #onRetry: ExecutorOptions['onRetry'];
  readonly #queue: Job[] = [];
  readonly #kinds = new Map<string, KindState>();
  #running = false;
  #closed = false;
  #sleep: { timer: ClockTimer; wake: () => void } | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(options: ExecutorOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 10_000;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#retryable = options.retryable ?? isRetryable;
    this.#onRetry = options.onRetry;
  }

  /** Queues `fn`; resolves with its outcome after it ran (with retries), never rejects. */
  run<T>(kind: string, fn: () => Promise<T>, options: RunOptions = {}): Promise<Outcome<T>> {
    if (this.#closed) return Promise.resolve({ ok: false, error: closedError(kind), attempts: 0 });
    const tail = this.#queue[this.#queue.length - 1];
    if (options.key !== undefined && tail && tail.key === options.key) return tail.promise as Promise<Outcome<T>>;
    let resolve!: (o: Outcome<unknown>) => void;
    const promise = new Promise<Outcome<unknown>>((r) => {
      resolve = r;
    });
    this.#queue.push({ kind, key: options.key, fn, maxAttempts: options.maxAttempts ?? this.#maxAttempts, promise, resolve });
    if (!this.#running) void this.#drain();
    return promise as Promise<Outcome<T>>;
  }

  /** Actions waiting to start (not counting the one running). */
  get queued(): number {
    return this.#queue.length;
  }

  status(): ActionKindStatus[] {
    return [...this.#kinds].map(([kind, s]) => ({ kind, ...s }));
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops: queued actions end with GP_SHUTTING_DOWN, a backoff wait is cut short and not retried.
   * An attempt already sent is not interrupted (its request has its own timeout).
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.resolve({ ok: false, error: closedError(job.kind), attempts: 0 });
    if (this.#sleep) {
      this.#clock.clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
    }
    return this.idle();
  }

  #kind(kind: string): KindState {
    let s = this.#kinds.get(kind);
    if (!s) this.#kinds.set(kind, (s = { succeeded: 0, failed: 0, lastSuccessAt: null, lastError: null, retrying: false }));
    return s;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) job.resolve(await this.#attempt(job));
    } finally {
      this.#running = false;
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #attempt(job: Job): Promise<Outcome<unknown>> {
    const state = this.#kind(job.kind);
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await job.fn();
        state.succeeded++;
        state.lastSuccessAt = this.#clock.wallNow();
        state.retrying = false;
        return { ok: true, value, attempts: attempt };
      } catch (thrown) {
        const error = thrown instanceof Error ? thrown : new Error(String(thrown));
        const retryable = this.#retryable(thrown);
        state.lastError = {
          code: (error as { code?: unknown }).code !== undefined ? String((error as { code?: unknown }).code) : 'ERROR',
          message: error.message,
          at: this.#clock.wallNow(),
          attempts: attempt,
          retryable,
        };
        if (!retryable || attempt >= job.maxAttempts || this.#closed) {
          state.failed++;
          state.retrying = false;
          return { ok: false, error, attempts: attempt };
        }
        const delay = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
        state.retrying = true;
        this.#onRetry?.(job.kind, error, attempt, delay);
        await new Promise<void>((wake) => {
          this.#sleep = { timer: this.#clock.setTimeout(wake, delay), wake };
        });
        this.#sleep = undefined;
        if (this.#closed) {
          state.failed++;
          state.retrying = false;
          return { ok: false, error, attempts: attempt };
        }
      }
    }
  }
}

function closedError(kind: string): GlidepathError {
  return new GlidepathError('GP_SHUTTING_DOWN', `${kind} not run: glidepath is shutting down`);
}
