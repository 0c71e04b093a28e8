// Records core/v1 Events for the simulated controllers and kubelet, aggregating repeats into a
// count the way client-go's event correlator does, so `kubectl describe`/`get events` read true;
// and expires every Event after a TTL, as the apiserver's --event-ttl (1 h) does.

import { clone, timestamp } from '../api/objects.ts';
import type { KObject } from '../api/objects.ts';
import type { Registry } from '../api/registry.ts';
import { T } from '../api/resources.ts';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  readonly #registry: Registry;
  /** involved uid + reason + message → event name, for aggregation. */
  readonly #seen = new Map<string, string>();
  #counter = 0;
  readonly #sweeper: NodeJS.Timeout;

  constructor(registry: Registry, ttlMs = 3_600_000) {
    this.#registry = registry;
    this.#sweeper = setInterval(() => this.#expire(ttlMs), Math.min(ttlMs, 60_000));
    this.#sweeper.unref();
  }

  #expire(ttlMs: number): void {
    const cutoff = Date.now() - ttlMs;
    for (const e of this.#registry.store.peekAll(T.events)) {
      const last = Date.parse(String(e.lastTimestamp ?? e.metadata.creationTimestamp ?? ''));
      if (last < cutoff) this.#registry.store.remove(T.events, e.metadata.namespace, e.metadata.name ?? '');
    }
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  record(
    component: string,
    host: string | undefined,
    obj: KObject,
    type: EventType,
    reason: string,
    message: string,
    fieldPath?: string,
  ): void {
    const namespace = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid}|${reason}|${message}|${fieldPath ?? ''}`;
    const now = timestamp();
    const existingName = this.#seen.get(key);
    const existing = existingName ? this.#registry.store.get(T.events, namespace, existingName) : undefined;
    try {
      if (existing) {
        const next = clone(existing);
        next.count = Number(existing.count ?? 1) + 1;
        next.lastTimestamp = now;
        this.#registry.update(T.events, namespace, existingName as string, next);
        return;
      }
      // Event names are `<object>.<unix nanoseconds in hex>`, as client-go makes them.
      const name = `${obj.metadata.name}.${(BigInt(Date.now()) * 1_000_000n + BigInt(this.#counter++ % 1_000_000)).toString(16)}`;
      this.#registry.create(T.events, namespace, {
        metadata: { name, namespace },
        involvedObject: {
          kind: obj.kind,
          namespace: obj.metadata.namespace,
          name: obj.metadata.name,
          uid: obj.metadata.uid,
          apiVersion: obj.apiVersion,
          resourceVersion: obj.metadata.resourceVersion,
          ...(fieldPath ? { fieldPath } : {}),
        },
        reason,
        message,
        source: { component, ...(host ? { host } : {}) },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type,
        eventTime: null,
        reportingComponent: component,
        reportingInstance: host ?? '',
      });
      this.#seen.set(key, name);
    } catch {
      // Events are best effort, as in Kubernetes: a namespace being deleted refuses them.
    }
  }
}
