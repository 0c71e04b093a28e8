// The simulated garbage collector: deletes dependents whose owners are gone (background cascade),
// drives foreground deletion through the `foregroundDeletion` finalizer, and drops dangling refs.

import { ApiError } from '../api/errors.ts';
import type { KObject } from '../api/objects.ts';
import { FOREGROUND_FINALIZER, typeOf } from '../api/registry.ts';
import type { Change } from '../api/store.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

export class GarbageCollector extends Controller {
  constructor(deps: ControllerDeps) {
    super('garbage-collector', deps);
  }

  override observe(c: Change): void {
    const uid = c.object.metadata.uid ?? '';
    if (c.type === 'DELETED') this.queue.add(`orphaned:${uid}`);
    if (c.object.metadata.deletionTimestamp && c.object.metadata.finalizers?.includes(FOREGROUND_FINALIZER))
      this.queue.add(`foreground:${uid}`);
    // A dependent that went away may unblock an owner in foreground deletion.
    if (c.type === 'DELETED') for (const ref of c.object.metadata.ownerReferences ?? []) this.queue.add(`foreground:${ref.uid}`);
  }

  #byUid(): Map<string, KObject> {
    const m = new Map<string, KObject>();
    for (const [, o] of this.registry.store.allObjects()) m.set(o.metadata.uid ?? '', o);
    return m;
  }

  #dependents(uid: string): KObject[] {
    const out: KObject[] = [];
    for (const [, o] of this.registry.store.allObjects()) if (o.metadata.ownerReferences?.some((r) => r.uid === uid)) out.push(o);
    return out;
  }

  #delete(o: KObject, policy: 'Background' | 'Foreground'): void {
    const rt = typeOf(o);
    if (!rt || o.metadata.deletionTimestamp) return;
    try {
      this.registry.delete(rt, o.metadata.namespace, o.metadata.name ?? '', {
        propagationPolicy: policy,
        preconditions: { uid: o.metadata.uid ?? '' },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
    }
  }

  protected sync(key: string): void {
    const [what, uid] = key.split(':') as [string, string];
    if (what === 'orphaned') {
      const live = this.#byUid();
      for (const dep of this.#dependents(uid)) {
        const remaining = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid && live.has(r.uid));
        if (remaining.length === 0) this.#delete(dep, 'Background');
        else {
          const rt = typeOf(dep);
          if (rt) this.registry.removeOwnerReference(rt, dep, uid);
        }
      }
      return;
    }
    const owner = this.#byUid().get(uid);
    if (!owner?.metadata.deletionTimestamp || !owner.metadata.finalizers?.includes(FOREGROUND_FINALIZER)) return;
    const deps = this.#dependents(uid);
    for (const dep of deps) this.#delete(dep, 'Foreground');
    if (deps.length === 0) {
      const rt = typeOf(owner);
      if (rt) this.registry.removeFinalizer(rt, owner, FOREGROUND_FINALIZER);
    }
  }
}
