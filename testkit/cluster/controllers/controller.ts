// What every simulated controller shares: it observes store changes, queues keys and reconciles
// one key at a time through the registry, like a client-go controller with a single worker.

import type { Registry } from '../api/registry.ts';
import type { Change } from '../api/store.ts';
import type { EventRecorder } from './events.ts';
import { WorkQueue } from './queue.ts';

export interface ControllerDeps {
  registry: Registry;
  events: EventRecorder;
  onError: (err: unknown) => void;
}

export abstract class Controller {
  protected readonly registry: Registry;
  protected readonly events: EventRecorder;
  readonly queue: WorkQueue;

  constructor(name: string, deps: ControllerDeps) {
    this.registry = deps.registry;
    this.events = deps.events;
    this.queue = new WorkQueue(name, (key) => this.sync(key), deps.onError);
  }

  /** Called for every change, synchronously inside the store: only enqueue here, never write. */
  abstract observe(change: Change): void;

  protected abstract sync(key: string): void;
}
