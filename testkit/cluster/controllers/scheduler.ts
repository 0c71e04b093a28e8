// The simulated scheduler: binds every unscheduled pod to the one simulated node, as a real
// scheduler's binding would (spec.nodeName plus the PodScheduled condition and a Scheduled event).

import { clone, isObject, timestamp } from '../api/objects.ts';
import { T } from '../api/resources.ts';
import type { Change } from '../api/store.ts';
import type { Pod, PodCondition } from './pod-util.ts';
import { nsKey, splitKey } from './queue.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

export class Scheduler extends Controller {
  readonly #nodeName: string;

  constructor(deps: ControllerDeps, nodeName: string) {
    super('scheduler', deps);
    this.#nodeName = nodeName;
  }

  override observe(c: Change): void {
    if (c.rt !== T.pods || c.type === 'DELETED') return;
    const spec = c.object.spec;
    if (isObject(spec) && !spec.nodeName && !c.object.metadata.deletionTimestamp)
      this.queue.add(nsKey(c.object.metadata.namespace, c.object.metadata.name));
  }

  protected sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.registry.store.get(T.pods, namespace, name) as Pod | undefined;
    if (!pod || pod.spec.nodeName || pod.metadata.deletionTimestamp) return;
    if ((pod.spec.schedulerName ?? 'default-scheduler') !== 'default-scheduler') return;
    const bound = clone(pod);
    bound.spec.nodeName = this.#nodeName;
    delete bound.metadata.resourceVersion;
    const after = this.registry.update(T.pods, namespace, name, bound) as Pod;
    const status = clone(after.status ?? {});
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    const scheduled: PodCondition = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp() };
    status.conditions = [...conditions, scheduled];
    this.registry.update(
      T.pods,
      namespace,
      name,
      { ...after, metadata: { ...after.metadata, resourceVersion: undefined }, status },
      'status',
    );
    this.events.record(
      'default-scheduler',
      undefined,
      after,
      'Normal',
      'Scheduled',
      `Successfully assigned ${namespace}/${name} to ${this.#nodeName}`,
    );
  }
}
