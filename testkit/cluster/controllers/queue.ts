// The work queue every simulated controller runs on: keys deduplicated, processed one at a time
// off the store's notification path, delayed re-adds for timers, retries after failures.

export type SyncFn = (key: string) => void;

export class WorkQueue {
  readonly #name: string;
  readonly #sync: SyncFn;
  readonly #pending = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout; first?: number }>();
  readonly #onError: (err: unknown) => void;
  #scheduled = false;
  #stopped = false;

  constructor(name: string, sync: SyncFn, onError: (err: unknown) => void) {
    this.#name = name;
    this.#sync = sync;
    this.#onError = onError;
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#pending.add(key);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }

  /** Adds the key ahead of everything pending (work that must not wait behind other keys). */
  addFirst(key: string): void {
    const rest = [...this.#pending].filter((k) => k !== key);
    this.#pending.clear();
    this.#pending.add(key);
    for (const k of rest) this.#pending.add(k);
    this.add(key);
  }

  /** Adds the key after `ms`, keeping an earlier pending timer for it if there is one. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const at = Date.now() + Math.max(0, ms);
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.add(key);
      },
      Math.max(0, ms),
    );
    this.#timers.set(key, { at, timer });
  }

  /**
   * Adds the key `ms` after the latest call, so every change waits at least `ms`; under constant
   * churn the key still runs `maxWaitMs` after the first pending change.
   */
  addDebounced(key: string, ms: number, maxWaitMs: number): void {
    if (this.#stopped) return;
    const now = Date.now();
    const existing = this.#timers.get(key);
    const first = existing?.first ?? now;
    const at = Math.min(now + ms, first + maxWaitMs);
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.add(key);
      },
      Math.max(0, at - now),
    );
    this.#timers.set(key, { at, timer, first });
  }

  #drain(): void {
    this.#scheduled = false;
    const keys = [...this.#pending];
    this.#pending.clear();
    for (const key of keys) {
      if (this.#stopped) return;
      try {
        this.#sync(key);
      } catch (err) {
        this.#onError(new Error(`${this.#name} sync of ${key} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
        this.addAfter(key, 200);
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

export function nsKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
