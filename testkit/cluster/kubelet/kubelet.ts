// The simulated kubelet of the one node: starts a PodWorker for every pod bound to the node, hands
// it deletions and force-deletions, serves `pods/log`, and kills every pod process when stopped.

import { ApiError } from '../api/errors.ts';
import { isObject } from '../api/objects.ts';
import { T } from '../api/resources.ts';
import type { PodLogSource } from '../api/server.ts';
import type { Change } from '../api/store.ts';
import type { Pod } from '../controllers/pod-util.ts';
import { podPhase } from '../controllers/pod-util.ts';
import { nsKey, splitKey, WorkQueue } from '../controllers/queue.ts';
import { PodWorker } from './pod-worker.ts';
import type { KubeletContext } from './pod-worker.ts';

export class Kubelet implements PodLogSource {
  readonly #ctx: KubeletContext;
  readonly #workers = new Map<string, PodWorker>();
  readonly queue: WorkQueue;
  #stopped = false;

  constructor(ctx: KubeletContext) {
    this.#ctx = ctx;
    this.queue = new WorkQueue('kubelet', (key) => this.#sync(key), ctx.onError);
  }

  observe(c: Change): void {
    if (c.rt !== T.pods) return;
    const spec = c.object.spec;
    if (c.type === 'DELETED' || (isObject(spec) && spec.nodeName === this.#ctx.nodeName))
      this.queue.add(nsKey(c.object.metadata.namespace, c.object.metadata.name));
  }

  /** Every pod process that is running now, by pod (for tests and diagnostics). */
  get workers(): ReadonlyMap<string, PodWorker> {
    return this.#workers;
  }

  #sync(key: string): void {
    if (this.#stopped) return;
    const [namespace, name] = splitKey(key);
    const pod = this.#ctx.registry.store.get(T.pods, namespace, name) as Pod | undefined;
    let worker = this.#workers.get(key);
    if (worker && (!pod || pod.metadata.uid !== worker.uid)) {
      const gone = worker;
      this.#workers.delete(key);
      void gone.kill();
      worker = undefined;
    }
    if (!pod || pod.spec.nodeName !== this.#ctx.nodeName) return;
    const phase = podPhase(pod);
    if (!worker) {
      if (phase === 'Succeeded' || phase === 'Failed') {
        if (pod.metadata.deletionTimestamp) this.#finishDeletion(pod);
        return;
      }
      worker = new PodWorker(this.#ctx, pod);
      this.#workers.set(key, worker);
      const w = worker;
      void w.finished.then(() => {
        if (this.#workers.get(key) === w) this.#workers.delete(key);
      });
      worker.start();
    }
    if (pod.metadata.deletionTimestamp) worker.terminate(pod.metadata.deletionGracePeriodSeconds ?? 30);
  }

  #finishDeletion(pod: Pod): void {
    try {
      this.#ctx.registry.delete(T.pods, pod.metadata.namespace, pod.metadata.name ?? '', {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid ?? '' },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
    }
  }

  read(namespace: string, pod: string, container: string | undefined, previous: boolean): string {
    const logs = this.#workers.get(nsKey(namespace, pod))?.logs(container, previous);
    if (!logs && previous)
      throw new ApiError(400, 'BadRequest', `previous terminated container "${container ?? ''}" in pod "${pod}" not found`);
    return logs?.text ?? '';
  }

  follow(namespace: string, pod: string, container: string | undefined, onData: (chunk: string) => void, onEnd: () => void): () => void {
    const logs = this.#workers.get(nsKey(namespace, pod))?.logs(container, false);
    if (!logs) {
      onEnd();
      return () => {};
    }
    return logs.follow(onData, onEnd);
  }

  /** Kills every pod process and waits until they are gone. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.queue.stop();
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.all(workers.map((w) => w.kill()));
  }
}
