// The simulated namespace lifecycle: every new namespace gets its `default` ServiceAccount and
// `kube-root-ca.crt` ConfigMap; a deleted namespace is emptied, then removed.

import { ApiError } from '../api/errors.ts';
import { RESOURCE_TYPES, T } from '../api/resources.ts';
import type { Change } from '../api/store.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

export class NamespaceController extends Controller {
  constructor(deps: ControllerDeps) {
    super('namespace', deps);
  }

  override observe(c: Change): void {
    if (c.rt === T.namespaces) this.queue.add(c.object.metadata.name ?? '');
    else if (c.type === 'DELETED' && c.object.metadata.namespace) this.queue.add(c.object.metadata.namespace);
  }

  protected sync(name: string): void {
    const ns = this.registry.store.get(T.namespaces, undefined, name);
    if (!ns) return;
    if (!ns.metadata.deletionTimestamp) {
      this.#ensure(() => this.registry.create(T.serviceaccounts, name, { metadata: { name: 'default' } }));
      this.#ensure(() =>
        this.registry.create(T.configmaps, name, {
          metadata: {
            name: 'kube-root-ca.crt',
            annotations: {
              'kubernetes.io/description':
                'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clients.',
            },
          },
          data: { 'ca.crt': '' },
        }),
      );
      return;
    }
    let remaining = 0;
    for (const rt of RESOURCE_TYPES) {
      if (!rt.namespaced) continue;
      for (const o of this.registry.store.peekAll(rt, name)) {
        remaining++;
        if (o.metadata.deletionTimestamp) continue;
        this.#ensure(() => this.registry.delete(rt, name, o.metadata.name ?? '', {}));
      }
    }
    if (remaining === 0) this.registry.store.remove(T.namespaces, undefined, name);
  }

  #ensure(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409 && err.code !== 403)) throw err;
    }
  }
}
