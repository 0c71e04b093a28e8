// Watch streams of the simulated API server: line-delimited events with headers flushed at once,
// resourceVersion replay, selector transitions, bookmarks, timeouts and 410 Expired (Kubernetes
// API concepts, "Efficient detection of changes").

import type { ServerResponse } from 'node:http';
import type { KObject } from './objects.ts';
import type { ResourceType } from './resources.ts';
import type { FieldRequirement, Selector } from './selectors.ts';
import { matchesFields, matchesLabels } from './selectors.ts';
import type { Change, Store } from './store.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchSpec {
  rt: ResourceType;
  namespace: string | undefined;
  labels: Selector;
  fields: FieldRequirement[];
  /** Undefined or '' or '0': start with synthetic ADDED events for the current state. */
  resourceVersion: string | undefined;
  allowWatchBookmarks: boolean;
  timeoutSeconds: number | undefined;
  /** Turns an object into what goes on the wire (e.g. a one-row Table for `kubectl get -w`). */
  render: (object: KObject, type: WatchEventType) => unknown;
}

interface ActiveWatch {
  res: ServerResponse;
  /** Stops delivering; `end` finishes the response cleanly, otherwise the caller tears the socket down. */
  close(end?: boolean): void;
}

export function expiredStatus(rv: string, oldest: number): unknown {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version: ${rv} (${oldest})`,
    reason: 'Expired',
    code: 410,
  };
}

export class WatchHub {
  readonly #store: Store;
  readonly #active = new Set<ActiveWatch>();
  readonly #bookmarkIntervalMs: number;
  #expireNext = false;

  constructor(store: Store, bookmarkIntervalMs: number) {
    this.#store = store;
    this.#bookmarkIntervalMs = bookmarkIntervalMs;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  /** The next watch is answered with an in-stream 410 Expired, as after an etcd compaction. */
  expireNext(): void {
    this.#expireNext = true;
  }

  /** Ends every watch cleanly, as an apiserver restart or a timeout would. */
  endAll(): void {
    for (const w of [...this.#active]) w.close();
  }

  /** Resets the TCP connection of every watch (the client sees a socket error, not a clean end). */
  dropAll(): void {
    for (const w of [...this.#active]) {
      const socket = w.res.socket;
      w.close(false);
      socket?.resetAndDestroy();
    }
  }

  serve(res: ServerResponse, spec: WatchSpec): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    // Without this, headers wait for the first event and kubectl's reflector hangs (observed; client-go
    // tools/cache/reflector.go cannot cancel a watch that has no headers yet).
    res.flushHeaders();
    const write = (type: WatchEventType, object: unknown): void => {
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const store = this.#store;
    const rvParam = spec.resourceVersion;
    if (this.#expireNext || (rvParam && rvParam !== '0' && Number(rvParam) < store.compactedRv)) {
      this.#expireNext = false;
      write('ERROR', expiredStatus(rvParam ?? '0', store.compactedRv + 1));
      res.end();
      return;
    }
    const matches = (o: KObject | undefined): boolean =>
      o !== undefined &&
      (!spec.namespace || o.metadata.namespace === spec.namespace) &&
      matchesLabels(spec.labels, o.metadata.labels) &&
      matchesFields(spec.fields, o);
    const deliver = (c: Change): void => {
      if (c.rt !== spec.rt) return;
      const now = c.type !== 'DELETED' && matches(c.object);
      const before = c.old !== undefined && matches(c.old);
      if (c.type === 'DELETED') {
        if (before) write('DELETED', spec.render(c.object, 'DELETED'));
      } else if (now && before) write('MODIFIED', spec.render(c.object, 'MODIFIED'));
      else if (now) write('ADDED', spec.render(c.object, 'ADDED'));
      else if (before) {
        // Stopped matching: the watch cache sends the previous state as DELETED, at the new resourceVersion.
        const last = { ...c.old, metadata: { ...c.old?.metadata, resourceVersion: String(c.rv) } } as KObject;
        write('DELETED', spec.render(last, 'DELETED'));
      }
    };
    const unsubscribe = store.subscribe(deliver);
    if (!rvParam || rvParam === '0') {
      for (const o of store.peekAll(spec.rt, spec.namespace)) if (matches(o)) write('ADDED', spec.render(o, 'ADDED'));
    } else {
      const replay = store.since(Number(rvParam));
      if (replay !== 'expired') for (const c of replay) deliver(c);
    }
    const timers: NodeJS.Timeout[] = [];
    const watch: ActiveWatch = {
      res,
      close: (end = true) => {
        if (!this.#active.delete(watch)) return;
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        if (end && !res.writableEnded) res.end();
      },
    };
    this.#active.add(watch);
    res.on('close', () => watch.close());
    const timeoutMs = (spec.timeoutSeconds ?? 1800 * (1 + Math.random())) * 1000;
    timers.push(setTimeout(() => watch.close(), timeoutMs));
    if (spec.allowWatchBookmarks) {
      timers.push(
        setInterval(() => {
          write('BOOKMARK', {
            kind: spec.rt.kind,
            apiVersion: spec.rt.apiVersion,
            metadata: { resourceVersion: String(store.resourceVersion) },
          });
        }, this.#bookmarkIntervalMs),
      );
    }
  }
}
