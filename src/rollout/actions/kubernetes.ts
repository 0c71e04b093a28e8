// The rollout controller's hands on Kubernetes: pause and resume the Deployment, roll it back as
// `kubectl rollout undo` does, record Events, and keep glidepath's state and abort record in
// annotations; every method idempotent and safe against concurrent edits of the Deployment.

import { hostname } from 'node:os';
import { systemClock } from '../../core/control.ts';
import type { Clock } from '../../core/control.ts';
import { GlidepathError } from '../../core/errors.ts';
import { KubeClient, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH } from './client.ts';
import type { KubeConfigSource } from './client.ts';
import { KubernetesError } from './errors.ts';
import type { Operation } from './errors.ts';
import { MAX_ABORT_RECORD_BYTES } from './abort-record.ts';
import {
  checkAnnotationKey,
  equalIgnoreHash,
  labelSelectorString,
  POD_TEMPLATE_HASH,
  REVISION,
  rollbackAnnotations,
  withoutHashLabel,
} from './template.ts';
import type { LabelSelector } from './template.ts';
import { ABORT_ANNOTATION, STATE_ANNOTATION } from './types.ts';
import type { AbortActionKind, ActionResult, DeploymentActions, EventType, RollbackOptions } from './types.ts';

/** The rollout state may use this much of the 256 KiB all annotations share (the controller copies them onto ReplicaSets too). */
export const MAX_STATE_BYTES = 32 * 1024;
/** Event messages longer than this are refused by the apiserver. */
const MAX_EVENT_MESSAGE = 1024;
/** Any other annotation glidepath writes. */
export const MAX_ANNOTATION_BYTES = 16 * 1024;

interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { uid: string; controller?: boolean }[];
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** The fields of an apps/v1 Deployment the actions read; the rest passes through untouched. */
export interface DeploymentJson {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: { paused?: boolean; selector: LabelSelector; template: PodTemplate; [k: string]: unknown };
  status?: Record<string, unknown>;
}

interface ReplicaSetJson {
  metadata: ObjectMeta;
  spec: { template: PodTemplate; [k: string]: unknown };
}

interface EventJson {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  involvedObject: Record<string, unknown>;
  reason: string;
  message: string;
  type: string;
  count?: number;
  source?: { component?: string; host?: string };
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
}

export interface KubernetesActionsOptions {
  readonly namespace: string;
  readonly deployment: string;
  /** Event `source.component` / `reportingComponent` (default 'glidepath'). */
  readonly component?: string;
  /** Event `reportingInstance`, e.g. the pod name (default the host name). */
  readonly instance?: string;
  readonly clock?: Clock;
  /** Re-reads after a 409 before giving up with GP_KUBERNETES_CONFLICT (default 5). */
  readonly conflictRetries?: number;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
}

/** What the forbidden message suggests instead of granting a Deployment write. */
const AVOID_WRITES = 'set rollout.mode: observe and rollout.abortAction: none';

/** metav1.Time: RFC 3339 in whole seconds, as the apiserver writes it. */
function metaTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export class KubernetesActions implements DeploymentActions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly deployment: string;
  readonly #component: string;
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #conflictRetries: number;
  /** client-go's correlator cache, reduced to what glidepath needs: event key → Event name. */
  readonly #events = new Map<string, { name: string; count: number }>();
  #eventSeq = 0;

  constructor(config: KubeConfigSource | KubeClient, options: KubernetesActionsOptions) {
    this.client =
      config instanceof KubeClient
        ? config
        : new KubeClient(config, { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    this.namespace = options.namespace;
    this.deployment = options.deployment;
    this.#component = options.component ?? 'glidepath';
    this.#instance = options.instance ?? process.env.POD_NAME ?? hostname();
    this.#clock = options.clock ?? systemClock;
    this.#conflictRetries = options.conflictRetries ?? 5;
  }

  #path(): string {
    return `/apis/apps/v1/namespaces/${encodeURIComponent(this.namespace)}/deployments/${encodeURIComponent(this.deployment)}`;
  }

  #op(verb: string, alternative?: string): Operation {
    return {
      verb,
      group: 'apps',
      resource: 'deployments',
      namespace: this.namespace,
      name: this.deployment,
      ...(alternative ? { alternative } : {}),
    };
  }

  readDeployment(): Promise<DeploymentJson> {
    return this.client.request<DeploymentJson>(this.#op('get'), 'GET', this.#path());
  }

  #patch(body: unknown, contentType: string): Promise<DeploymentJson> {
    return this.client.request<DeploymentJson>(this.#op('patch', AVOID_WRITES), 'PATCH', this.#path(), { body, contentType });
  }

  /**
   * Runs `attempt` on fresh reads until it does not meet a 409, at most conflictRetries + 1 times.
   * Each attempt re-reads, so a concurrent writer's change is seen and either kept or acted on.
   */
  async #withConflictRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    let last: KubernetesError | undefined;
    for (let i = 0; i <= this.#conflictRetries; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof KubernetesError) || err.httpStatus !== 409) throw err;
        last = err;
      }
    }
    throw new KubernetesError(
      'GP_KUBERNETES_CONFLICT',
      `${what} on deployments/${this.deployment} in namespace ${this.namespace} met a concurrent edit on each of ${this.#conflictRetries + 1} tries; something else keeps writing the Deployment (another glidepath with the same target?)`,
      last?.operation ?? this.#op('patch'),
      409,
      true,
      { cause: last },
    );
  }

  async setPaused(paused: boolean): Promise<ActionResult> {
    const d = await this.readDeployment();
    if ((d.spec.paused === true) === paused)
      return { changed: false, detail: `deployments/${this.deployment} already ${paused ? 'paused' : 'running'}` };
    // kubectl rollout pause|resume send exactly these (null removes the field).
    await this.#patch({ spec: { paused: paused ? true : null } }, STRATEGIC_MERGE_PATCH);
    return { changed: true, detail: `${paused ? 'paused' : 'resumed'} deployments/${this.deployment}` };
  }

  pauseOnAbort(): Promise<ActionResult> {
    return this.setPaused(true);
  }

  async abortAction(kind: AbortActionKind, stable: string, options: RollbackOptions = {}): Promise<ActionResult> {
    if (kind === 'rollback') return this.rollback(stable, options);
    if (kind === 'pause') return this.pauseOnAbort();
    return { changed: false, detail: 'abort action none: the Deployment is left as it is' };
  }

  /** The ReplicaSets the Deployment controls (kubectl lists by selector, then keeps the controller-owned ones). */
  async #replicaSets(d: DeploymentJson): Promise<ReplicaSetJson[]> {
    const list = await this.client.request<{ items: ReplicaSetJson[] }>(
      { verb: 'list', group: 'apps', resource: 'replicasets', namespace: this.namespace },
      'GET',
      `/apis/apps/v1/namespaces/${encodeURIComponent(this.namespace)}/replicasets`,
      { query: { labelSelector: labelSelectorString(d.spec.selector) } },
    );
    return list.items.filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller === true && o.uid === d.metadata.uid));
  }

  async rollback(stable: string, options: RollbackOptions = {}): Promise<ActionResult> {
    return this.#withConflictRetries('rollback', async () => {
      const d = await this.readDeployment();
      const owned = await this.#replicaSets(d);
      const find = (v: string): ReplicaSetJson | undefined =>
        owned.find((rs) => rs.metadata.name === v) ?? owned.find((rs) => rs.metadata.labels?.[POD_TEMPLATE_HASH] === v);
      const target = find(stable);
      if (!target) {
        throw new KubernetesError(
          'GP_KUBERNETES_NOT_FOUND',
          `rollback of deployments/${this.deployment} in namespace ${this.namespace}: no ReplicaSet it controls is named or has pod-template-hash ${JSON.stringify(stable)} ` +
            `(it has ${owned.map((rs) => rs.metadata.name).join(', ') || 'none'}); was it pruned by revisionHistoryLimit?`,
          { verb: 'list', group: 'apps', resource: 'replicasets', namespace: this.namespace },
          404,
          false,
        );
      }
      const rsName = target.metadata.name;
      const revision = target.metadata.annotations?.[REVISION] ?? '?';
      const bad = options.canary === undefined ? undefined : find(options.canary);
      if (bad && !equalIgnoreHash(bad.spec.template, d.spec.template) && !equalIgnoreHash(target.spec.template, d.spec.template)) {
        return {
          changed: false,
          detail: `deployments/${this.deployment} no longer has the template of ${bad.metadata.name}: changed since the abort, so not rolled back (a new rollout)`,
        };
      }
      const guard = { op: 'replace', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion };
      if (equalIgnoreHash(target.spec.template, d.spec.template)) {
        if (d.spec.paused !== true)
          return { changed: false, detail: `deployments/${this.deployment} already has the template of ${rsName} (revision ${revision})` };
        // Template restored by an earlier attempt that did not get to unpause (or paused since).
        await this.#patch([guard, { op: 'replace', path: '/spec/paused', value: false }], JSON_PATCH);
        return {
          changed: true,
          detail: `resumed deployments/${this.deployment}, which already had the template of ${rsName} (revision ${revision})`,
        };
      }
      // kubectl rollout undo's patch (rollback.go getDeploymentPatch), plus two things: the
      // resourceVersion precondition, so a template someone changed meanwhile is never overwritten
      // unseen (the registry store compares a resourceVersion in the patched object with the
      // stored one: 409, re-read, decide again); and the unpause, which kubectl demands beforehand.
      const ops: unknown[] = [
        guard,
        { op: 'replace', path: '/spec/template', value: withoutHashLabel(target.spec.template) },
        { op: 'add', path: '/metadata/annotations', value: rollbackAnnotations(d.metadata.annotations, target.metadata.annotations) },
      ];
      if (d.spec.paused === true) ops.push({ op: 'replace', path: '/spec/paused', value: false });
      await this.#patch(ops, JSON_PATCH);
      return { changed: true, detail: `rolled deployments/${this.deployment} back to the template of ${rsName} (revision ${revision})` };
    });
  }

  async recordEvent(reason: string, fullMessage: string, type: EventType): Promise<ActionResult> {
    // The apiserver refuses Event messages over 1024 characters (validation NoteLengthLimit); the
    // full evidence goes to the abort annotation and the log, the Event carries the sentence.
    const message = fullMessage.length > MAX_EVENT_MESSAGE ? `${fullMessage.slice(0, MAX_EVENT_MESSAGE - 1)}…` : fullMessage;
    const d = await this.readDeployment();
    const involvedObject = {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      namespace: this.namespace,
      name: d.metadata.name,
      uid: d.metadata.uid,
      resourceVersion: d.metadata.resourceVersion,
    };
    // client-go's aggregation key (tools/record/events_cache.go getEventKey) without fieldPath.
    const key = JSON.stringify([this.#component, d.metadata.uid, type, reason, message]);
    const now = metaTime(this.#clock.wallNow());
    const eventsPath = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/events`;
    const eventsOp = (verb: string, name?: string): Operation => ({
      verb,
      group: '',
      resource: 'events',
      namespace: this.namespace,
      ...(name ? { name } : {}),
    });
    const seen = this.#events.get(key) ?? (await this.#findEvent(eventsPath, eventsOp('list'), d.metadata.uid, type, reason, message));
    if (seen) {
      try {
        // What client-go's recorder sends for a repeat: count, lastTimestamp and message.
        const ev = await this.client.request<EventJson>(
          eventsOp('patch', seen.name),
          'PATCH',
          `${eventsPath}/${encodeURIComponent(seen.name)}`,
          { body: { count: seen.count + 1, lastTimestamp: now, message }, contentType: STRATEGIC_MERGE_PATCH },
        );
        this.#events.set(key, { name: seen.name, count: ev.count ?? seen.count + 1 });
        return {
          changed: true,
          detail: `Event ${reason} on deployments/${this.deployment} repeated (count ${ev.count ?? seen.count + 1})`,
        };
      } catch (err) {
        // Expired (the apiserver's --event-ttl) or deleted: record it afresh, as client-go does.
        if (!(err instanceof KubernetesError) || err.httpStatus !== 404) throw err;
        this.#events.delete(key);
      }
    }
    // client-go names Events `<object>.<unix nanoseconds in hex>`.
    const nanos = BigInt(this.#clock.wallNow()) * 1_000_000n + BigInt(this.#eventSeq++ % 1_000_000);
    const name = `${this.deployment}.${nanos.toString(16)}`;
    await this.client.request<EventJson>(eventsOp('create'), 'POST', eventsPath, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: this.namespace },
        involvedObject,
        reason,
        message,
        type,
        source: { component: this.#component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        reportingComponent: this.#component,
        reportingInstance: this.#instance.slice(0, 128),
      },
    });
    this.#events.set(key, { name, count: 1 });
    return { changed: true, detail: `Event ${reason} recorded on deployments/${this.deployment}` };
  }

  /** After a restart the cache is empty; an earlier identical Event is found on the server instead. */
  async #findEvent(
    path: string,
    op: Operation,
    uid: string,
    type: string,
    reason: string,
    message: string,
  ): Promise<{ name: string; count: number } | undefined> {
    const list = await this.client.request<{ items: EventJson[] }>(op, 'GET', path, {
      query: { fieldSelector: `involvedObject.uid=${uid},reason=${reason}` },
    });
    const same = list.items
      .filter((e) => e.type === type && e.message === message && e.source?.component === this.#component)
      .sort((a, b) => String(b.lastTimestamp ?? '').localeCompare(String(a.lastTimestamp ?? '')))[0];
    return same ? { name: same.metadata.name, count: same.count ?? 1 } : undefined;
  }

  async annotate(key: string, value: string | null): Promise<ActionResult> {
    this.#checkAnnotation(key, value, MAX_ANNOTATION_BYTES);
    const d = await this.readDeployment();
    if ((d.metadata.annotations?.[key] ?? null) === value)
      return { changed: false, detail: `${key} already ${value === null ? 'absent' : 'set'}` };
    // A merge patch of one key: concurrent edits of anything else are kept.
    await this.#patch({ metadata: { annotations: { [key]: value } } }, MERGE_PATCH);
    return { changed: true, detail: `${value === null ? 'removed' : 'set'} ${key} on deployments/${this.deployment}` };
  }

  #checkAnnotation(key: string, value: string | null, max: number): void {
    const bad = checkAnnotationKey(key);
    const op = this.#op('patch');
    if (bad) throw new KubernetesError('GP_KUBERNETES_REJECTED', bad, op, 0, false);
    const size = value === null ? 0 : Buffer.byteLength(value, 'utf8');
    if (size > max) {
      throw new KubernetesError(
        'GP_KUBERNETES_REJECTED',
        `annotation ${key} would be ${size} bytes; glidepath keeps its annotations under ${max} bytes (Kubernetes allows 256 KiB for all of an object's annotations together)`,
        op,
        0,
        false,
      );
    }
  }

  async readState(): Promise<string | null> {
    const d = await this.readDeployment();
    return d.metadata.annotations?.[STATE_ANNOTATION] ?? null;
  }

  writeState(json: string): Promise<ActionResult> {
    try {
      JSON.parse(json);
    } catch (err) {
      return Promise.reject(
        new GlidepathError('GP_KUBERNETES_REJECTED', `rollout state must be JSON: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    return this.updateState(() => json);
  }

  updateState(mutate: (current: string | null) => string | null | Promise<string | null>): Promise<ActionResult> {
    return this.#withConflictRetries('rollout state write', async () => {
      const d = await this.readDeployment();
      const current = d.metadata.annotations?.[STATE_ANNOTATION] ?? null;
      const next = await mutate(current);
      if (next === current) return { changed: false, detail: 'rollout state unchanged' };
      this.#checkAnnotation(STATE_ANNOTATION, next, MAX_STATE_BYTES);
      // metadata.resourceVersion in a patch is a precondition: a write based on a stale read is
      // answered 409 (as `kubectl annotate --resource-version` relies on), and the read is redone.
      await this.#patch(
        { metadata: { resourceVersion: d.metadata.resourceVersion, annotations: { [STATE_ANNOTATION]: next } } },
        MERGE_PATCH,
      );
      return { changed: true, detail: `rollout state saved on deployments/${this.deployment}` };
    });
  }

  recordAbort(recordJson: string): Promise<ActionResult> {
    if (Buffer.byteLength(recordJson, 'utf8') > MAX_ABORT_RECORD_BYTES) {
      return Promise.reject(
        new KubernetesError(
          'GP_KUBERNETES_REJECTED',
          `abort record is over ${MAX_ABORT_RECORD_BYTES} bytes; build it with abortRecordJson()`,
          this.#op('patch'),
          0,
          false,
        ),
      );
    }
    return this.annotate(ABORT_ANNOTATION, recordJson);
  }
}
