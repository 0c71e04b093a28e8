// One client-node informer (list, then watch) made to survive: client-node 2.0.1 relists by
// itself after 410 Gone, but stops for good on any other watch error, a dropped connection or a
// failed list; this wrapper restarts it with capped, jittered exponential back-off and keeps the
// counters /status shows (last event, restarts, last error, synced).

import * as k8s from '@kubernetes/client-node';
import type { GlidepathError } from '../../core/errors.ts';
import { kubernetesError, qualified, RequestError, type RequestDescription } from './errors.ts';

/** What /status shows under `discovery.watches` for one informer. */
export interface WatchStatus {
  readonly name: string;
  /** `endpointslices.discovery.k8s.io`, `pods`, ... */
  readonly resource: string;
  readonly namespace: string;
  readonly labelSelector: string | null;
  readonly fieldSelector: string | null;
  /** True once the first list has been applied. */
  readonly synced: boolean;
  /** True while a watch request is open. */
  readonly connected: boolean;
  readonly objects: number;
  readonly lists: number;
  readonly restarts: number;
  /** Last add, update or delete (from a watch event or a list). */
  readonly lastEventAt: string | null;
  readonly lastListAt: string | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: string } | null;
}

export interface Backoff {
  /** First delay after an error (ms). */
  readonly initialMs: number;
  /** Cap (ms). */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000 };

/** The next delay: doubles up to the cap, with "equal jitter" (half fixed, half random) so restarts of many watches spread out. */
export function nextBackoff(previousMs: number, backoff: Backoff, random: () => number): { delayMs: number; nextMs: number } {
  const base = Math.min(Math.max(previousMs, backoff.initialMs), backoff.maxMs);
  return { delayMs: Math.round(base / 2 + random() * (base / 2)), nextMs: Math.min(base * 2, backoff.maxMs) };
}

export interface ResilientInformerOptions<T extends k8s.KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: k8s.KubeConfig;
  /** Collection path, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string;
  readonly request: Omit<RequestDescription, 'verb'>;
  /** The list call; it must apply the same selectors (client-node passes them to the watch only). */
  readonly list: () => Promise<k8s.KubernetesListObject<T>>;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  /** A list that takes longer is abandoned (and the informer restarted). */
  readonly listTimeoutMs: number;
  readonly backoff?: Backoff | undefined;
  readonly random?: (() => number) | undefined;
  /** Any add, update or delete, and every applied list (a relist may change nothing but marks the cache fresh). */
  readonly onChange: () => void;
  /** A failure, classified; repeated identical failures are reported once until the watch recovers. */
  readonly onError: (err: GlidepathError) => void;
  /** A watch opened again after a failure was reported. */
  readonly onRecovered: () => void;
}

/**
 * Owns one ListWatch. Cache objects are plain JSON (list results are converted back from
 * client-node's typed classes, so timestamps are strings everywhere, as in watch events).
 */
export class ResilientInformer<T extends k8s.KubernetesObject> {
  readonly #options: ResilientInformerOptions<T>;
  readonly #informer: k8s.ListWatch<T>;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #nextDelayMs = 0;
  #synced = false;
  #connected = false;
  #lists = 0;
  #restarts = 0;
  #lastEventAt: number | undefined;
  #lastListAt: number | undefined;
  #lastError: { code: string; message: string; at: number } | undefined;
  /** Message of the failure last reported; cleared when the watch opens again. */
  #reported: string | undefined;
  #firstSync: { promise: Promise<void>; resolve: () => void };

  constructor(options: ResilientInformerOptions<T>) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    let resolve!: () => void;
    this.#firstSync = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    this.#informer = new k8s.ListWatch<T>(
      options.path,
      new GuardedWatch(options.kubeConfig, this),
      () => this.#list(),
      false,
      options.labelSelector,
      options.fieldSelector,
    );
    const changed = (): void => {
      this.#lastEventAt = Date.now();
      options.onChange();
    };
    this.#informer.on('add', changed);
    this.#informer.on('update', changed);
    this.#informer.on('delete', changed);
    this.#informer.on('error', (err: unknown) => this.#failed(err));
  }

  get name(): string {
    return this.#options.name;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves after the first list has been applied (never rejects; failures go to onError). */
  get firstSync(): Promise<void> {
    return this.#firstSync.promise;
  }

  /** The cached objects (plain JSON). */
  list(): readonly T[] {
    return this.#informer.list();
  }

  get(name: string, namespace: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    // stop() aborts the open watch; the informer reports that AbortError, which #failed ignores.
    await this.#informer.stop();
    this.#connected = false;
  }

  status(): WatchStatus {
    const o = this.#options;
    const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
    return {
      name: o.name,
      resource: qualified(o.request.resource, o.request.group),
      namespace: o.request.namespace,
      labelSelector: o.labelSelector ?? null,
      fieldSelector: o.fieldSelector ?? null,
      synced: this.#synced,
      connected: this.#connected,
      objects: this.#informer.list().length,
      lists: this.#lists,
      restarts: this.#restarts,
      lastEventAt: iso(this.#lastEventAt),
      lastListAt: iso(this.#lastListAt),
      lastError: this.#lastError
        ? { code: this.#lastError.code, message: this.#lastError.message, at: new Date(this.#lastError.at).toISOString() }
        : null,
    };
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #run(): void {
    this.#informer.start().catch((err: unknown) => this.#failed(err));
  }

  async #list(): Promise<k8s.KubernetesListObject<T>> {
    const request: RequestDescription = { ...this.#options.request, verb: 'list' };
    let timer: NodeJS.Timeout | undefined;
    let list: k8s.KubernetesListObject<T>;
    try {
      list = await Promise.race([
        this.#options.list(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error(`no answer within ${this.#options.listTimeoutMs} ms`), { name: 'TimeoutError' })),
            this.#options.listTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      throw new RequestError(request, err);
    } finally {
      clearTimeout(timer);
    }
    // A list that returns after stop() must not start a watch nobody will close: never settle.
    if (this.#stopped) return new Promise<never>(() => undefined);
    // Typed instances (Date timestamps) back to the wire's plain JSON, like watch events.
    const plain = JSON.parse(JSON.stringify(list)) as k8s.KubernetesListObject<T>;
    this.#lists++;
    this.#lastListAt = Date.now();
    // The informer applies the items right after this promise settles, in the same task.
    setImmediate(() => {
      if (this.#stopped) return;
      this.#synced = true;
      this.#firstSync.resolve();
      this.#options.onChange();
    });
    return plain;
  }

  /** Called by the guarded watch when a watch request got its 200. */
  watchOpened(): void {
    this.#connected = true;
    this.#nextDelayMs = 0;
    if (this.#reported !== undefined) {
      this.#reported = undefined;
      this.#options.onRecovered();
    }
  }

  watchClosed(): void {
    this.#connected = false;
  }

  #failed(err: unknown): void {
    const name = (err as { name?: string } | undefined)?.name;
    if (this.#stopped || name === 'AbortError') return;
    const request: RequestDescription = err instanceof RequestError ? err.request : { ...this.#options.request, verb: 'watch' };
    const server = this.#options.kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
    const classified = kubernetesError(request, err, server);
    this.#restarts++;
    this.#connected = false;
    this.#lastError = { code: classified.code, message: classified.message, at: Date.now() };
    const { delayMs, nextMs } = nextBackoff(this.#nextDelayMs, this.#backoff, this.#random);
    this.#nextDelayMs = nextMs;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.#stopped) this.#run();
    }, delayMs);
    if (classified.message !== this.#reported) {
      this.#reported = classified.message;
      this.#options.onError(classified);
    }
  }
}

/**
 * client-node's Watch with three guards: it never opens a request after stop(), it tells the
 * owner when a request opened or closed, and a failure to build the request (say, an unreadable
 * token file) reaches `done` instead of becoming an unhandled rejection inside the informer.
 */
interface WatchOwner {
  readonly stopped: boolean;
  watchOpened(): void;
  watchClosed(): void;
}

class GuardedWatch extends k8s.Watch {
  readonly #owner: WatchOwner;

  constructor(kubeConfig: k8s.KubeConfig, owner: WatchOwner) {
    super(kubeConfig);
    this.#owner = owner;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.#owner.stopped) return new AbortController();
    let finished = false;
    const onDone = (err: unknown): void => {
      finished = true;
      this.#owner.watchClosed();
      done(err);
    };
    try {
      const controller = await super.watch(path, queryParams, callback, onDone);
      if (!finished) this.#owner.watchOpened();
      return controller;
    } catch (err) {
      if (!finished) onDone(err);
      return new AbortController();
    }
  }
}
