// The simulated etcd: current objects by resource, one global resourceVersion counter, and a
// bounded history of changes that watches replay from (Kubernetes API concepts, "Resource versions").

import { clone } from './objects.ts';
import type { KObject } from './objects.ts';
import { resourceKey } from './resources.ts';
import type { ResourceType } from './resources.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  readonly type: ChangeType;
  readonly rt: ResourceType;
  /** The new state; for DELETED the last state stamped with the deletion's resourceVersion. Never mutate. */
  readonly object: KObject;
  /** The state before, for MODIFIED and DELETED. */
  readonly old: KObject | undefined;
  readonly rv: number;
}

export type ChangeListener = (change: Change) => void;

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  #rv = 0;
  readonly #objects = new Map<string, Map<string, KObject>>();
  readonly #history: Change[] = [];
  /** Changes at or below this resourceVersion are gone from history: watches from there get 410. */
  #compactedRv = 0;
  readonly #historyLimit: number;
  readonly #listeners = new Set<ChangeListener>();

  constructor(historyLimit = 20_000) {
    this.#historyLimit = historyLimit;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedRv(): number {
    return this.#compactedRv;
  }

  #bucket(rt: ResourceType): Map<string, KObject> {
    const k = resourceKey(rt);
    let b = this.#objects.get(k);
    if (!b) this.#objects.set(k, (b = new Map()));
    return b;
  }

  /** A private copy of the object, or undefined. */
  get(rt: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.#bucket(rt).get(key(rt.namespaced ? namespace : undefined, name));
    return o ? clone(o) : undefined;
  }

  /** Shared (read-only) objects of one type, optionally in one namespace, in etcd key order. */
  peekAll(rt: ResourceType, namespace?: string): KObject[] {
    const out: KObject[] = [];
    for (const o of this.#bucket(rt).values()) if (!namespace || o.metadata.namespace === namespace) out.push(o);
    return out.sort((a, b) =>
      key(a.metadata.namespace, a.metadata.name ?? '').localeCompare(key(b.metadata.namespace, b.metadata.name ?? '')),
    );
  }

  list(rt: ResourceType, namespace?: string): KObject[] {
    return this.peekAll(rt, namespace).map(clone);
  }

  /** Every type that has objects, for the garbage collector's owner lookups. */
  *allObjects(): Generator<[string, KObject]> {
    for (const [k, b] of this.#objects) for (const o of b.values()) yield [k, o];
  }

  /** Stores a new state (create or update), stamping the next resourceVersion; returns a copy. */
  put(rt: ResourceType, object: KObject): KObject {
    const b = this.#bucket(rt);
    const k = key(object.metadata.namespace, object.metadata.name ?? '');
    const old = b.get(k);
    const stored = clone(object);
    stored.metadata.resourceVersion = String(++this.#rv);
    b.set(k, stored);
    this.#record({ type: old ? 'MODIFIED' : 'ADDED', rt, object: stored, old, rv: this.#rv });
    return clone(stored);
  }

  /** Removes the object; the DELETED change carries the deletion's resourceVersion. */
  remove(rt: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    const b = this.#bucket(rt);
    const k = key(rt.namespaced ? namespace : undefined, name);
    const old = b.get(k);
    if (!old) return undefined;
    b.delete(k);
    const last = clone(old);
    last.metadata.resourceVersion = String(++this.#rv);
    this.#record({ type: 'DELETED', rt, object: last, old, rv: this.#rv });
    return clone(last);
  }

  #record(change: Change): void {
    this.#history.push(change);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      this.#compactedRv = (dropped[dropped.length - 1] as Change).rv;
    }
    for (const l of [...this.#listeners]) l(change);
  }

  /** Changes after `rv`, or 'expired' when some of them were compacted away. */
  since(rv: number): readonly Change[] | 'expired' {
    if (rv < this.#compactedRv) return 'expired';
    let lo = 0;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#history[mid] as Change).rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.#history.slice(lo);
  }

  /** Forgets all history, as etcd compaction does: every watch from an older resourceVersion gets 410. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedRv = this.#rv;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
