// The simulated ReplicaSet controller: creates and deletes owned pods towards spec.replicas (in the
// real controller's deletion order) and keeps status counters, including minReadySeconds availability.

import { clone, controllerRef, ownerRefTo } from '../api/objects.ts';
import { T } from '../api/resources.ts';
import type { Change } from '../api/store.ts';
import { canonical, compactStatus } from './deployment-util.ts';
import type { ReplicaSet } from './deployment-util.ts';
import { deletionOrder, isPodActive, isPodAvailable, isPodReady, podCondition } from './pod-util.ts';
import type { Pod } from './pod-util.ts';
import { nsKey, splitKey } from './queue.ts';
import { matchesLabels } from '../api/selectors.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

const COMPONENT = 'replicaset-controller';

export class ReplicaSetController extends Controller {
  constructor(deps: ControllerDeps) {
    super('replicaset', deps);
  }

  override observe(c: Change): void {
    if (c.rt === T.replicasets) {
      const key = nsKey(c.object.metadata.namespace, c.object.metadata.name);
      // Scale-downs go first: a new ReplicaSet's pods must not start before an old one's pods are
      // gone, or a rollout would briefly exceed replicas + maxSurge.
      const before = (c.old?.spec as { replicas?: number } | undefined)?.replicas;
      const after = (c.object.spec as { replicas?: number } | undefined)?.replicas;
      if (before !== undefined && after !== undefined && after < before) this.queue.addFirst(key);
      else this.queue.add(key);
    } else if (c.rt === T.pods) {
      const ref = controllerRef(c.object) ?? (c.old ? controllerRef(c.old) : undefined);
      if (ref?.kind === 'ReplicaSet') this.queue.add(nsKey(c.object.metadata.namespace, ref.name));
    }
  }

  protected sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const rs = this.registry.store.get(T.replicasets, namespace, name) as ReplicaSet | undefined;
    if (!rs) return;
    const owned = (): Pod[] =>
      this.registry.store.peekAll(T.pods, namespace).filter((p) => controllerRef(p)?.uid === rs.metadata.uid) as Pod[];
    if (!rs.metadata.deletionTimestamp) this.#manageReplicas(rs, owned().filter(isPodActive));
    this.#updateStatus(rs, owned());
  }

  #manageReplicas(rs: ReplicaSet, active: Pod[]): void {
    const diff = active.length - rs.spec.replicas;
    if (diff < 0) {
      for (let i = 0; i < -diff; i++) {
        const template = clone(rs.spec.template) as {
          metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
          spec?: unknown;
        };
        const pod = this.registry.create(T.pods, rs.metadata.namespace, {
          metadata: {
            generateName: `${rs.metadata.name}-`,
            namespace: rs.metadata.namespace,
            labels: template.metadata?.labels,
            annotations: template.metadata?.annotations,
            ownerReferences: [ownerRefTo(rs, 'apps/v1', 'ReplicaSet')],
          },
          spec: template.spec,
        });
        this.events.record(COMPONENT, undefined, rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
      }
    } else if (diff > 0) {
      for (const pod of [...active].sort(deletionOrder).slice(0, diff)) {
        this.registry.delete(T.pods, pod.metadata.namespace, pod.metadata.name ?? '', {});
        this.events.record(COMPONENT, undefined, rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
      }
    }
  }

  #updateStatus(rs: ReplicaSet, pods: Pod[]): void {
    const now = Date.now();
    const minReady = rs.spec.minReadySeconds ?? 0;
    const active = pods.filter(isPodActive);
    const templateLabels = rs.spec.template.metadata?.labels ?? {};
    const fullyLabeled = active.filter((p) =>
      matchesLabels(
        Object.entries(templateLabels).map(([k, v]) => ({ key: k, op: '=' as const, values: [v] })),
        p.metadata.labels,
      ),
    );
    const status = {
      replicas: active.length,
      ...compactStatus({
        fullyLabeledReplicas: fullyLabeled.length,
        readyReplicas: active.filter(isPodReady).length,
        availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
      }),
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (minReady > 0) {
      // A pod that is ready but not yet available becomes available later: come back then.
      for (const p of active) {
        const since = Date.parse(podCondition(p, 'Ready')?.lastTransitionTime ?? '');
        if (isPodReady(p) && !isPodAvailable(p, minReady, now))
          this.queue.addAfter(nsKey(rs.metadata.namespace, rs.metadata.name), since + minReady * 1000 - now + 50);
      }
    }
    if (canonical(status) === canonical(rs.status ?? {})) return;
    this.registry.update(
      T.replicasets,
      rs.metadata.namespace,
      rs.metadata.name ?? '',
      { ...rs, metadata: { ...rs.metadata, resourceVersion: undefined }, status },
      'status',
    );
  }
}
