// The verbs of the simulated API server (get, list, create, update, patch, delete) with the
// apiserver's write semantics; the HTTP layer and the in-process controllers both go through it.

import { randomUUID } from 'node:crypto';
import { alreadyExists, ApiError, badRequest, conflict, forbidden, notFound, qualifiedResource, unsupportedMediaType } from './errors.ts';
import { applyDefaults } from './defaults.ts';
import { canonicalJson, clone, getPath, isObject, randomSuffix, timestamp } from './objects.ts';
import type { JsonObject, KObject } from './objects.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH } from './patch.ts';
import { RESOURCE_TYPES, T } from './resources.ts';
import type { ResourceType } from './resources.ts';
import { labelSelectorString, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Store } from './store.ts';
import { checkMicroTimes, validate } from './validation.ts';

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface WriteOptions {
  dryRun?: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface DeleteResult {
  /** The object as it is now (graceful or pending finalizers) or as it was when removed. */
  object: KObject;
  removed: boolean;
}

const SERVER_FIELDS = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'selfLink',
] as const;

export const FOREGROUND_FINALIZER = 'foregroundDeletion';

export class Registry {
  readonly store: Store;
  #nextClusterIp = 10;
  readonly #clusterIpPrefix: string;

  constructor(store: Store, clusterIpPrefix: string) {
    this.store = store;
    this.#clusterIpPrefix = clusterIpPrefix;
  }

  #allocateClusterIp = (): string => {
    const n = this.#nextClusterIp++;
    return `${this.#clusterIpPrefix}.${Math.floor(n / 256) % 256}.${n % 256}`;
  };

  get(rt: ResourceType, namespace: string | undefined, name: string): KObject {
    const o = this.store.get(rt, namespace, name);
    if (!o) throw notFound(rt, name);
    return withTypeMeta(rt, o);
  }

  list(rt: ResourceType, namespace: string | undefined, opts: ListOptions = {}): { items: KObject[]; resourceVersion: string } {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, ['metadata.name', 'metadata.namespace', ...rt.fieldSelectors], rt.kind);
    const items = this.store.list(rt, namespace).filter((o) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o));
    return { items, resourceVersion: String(this.store.resourceVersion) };
  }

  #checkNamespace(rt: ResourceType, namespace: string | undefined, name: string): void {
    if (!rt.namespaced) return;
    const ns = this.store.get(T.namespaces, undefined, namespace ?? '');
    if (!ns) throw notFound(T.namespaces, namespace ?? '');
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(rt, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  #decode(rt: ResourceType, body: unknown, namespace: string | undefined): KObject {
    if (!isObject(body))
      throw badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: the object is not a JSON object`);
    if (body.apiVersion !== undefined && body.apiVersion !== rt.apiVersion && !(body.kind === 'Scale')) {
      throw badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${rt.apiVersion})`,
      );
    }
    if (body.kind !== undefined && body.kind !== rt.kind)
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${rt.kind})`);
    checkMicroTimes(rt, body);
    const o = clone(body) as KObject;
    if (!isObject(o.metadata)) o.metadata = {};
    if (rt.namespaced) {
      if (o.metadata.namespace && namespace && o.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = namespace;
    } else delete o.metadata.namespace;
    return withTypeMeta(rt, o);
  }

  create(rt: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): KObject {
    const o = this.#decode(rt, body, namespace);
    const meta = o.metadata;
    for (const f of SERVER_FIELDS) delete meta[f];
    if (!meta.name && meta.generateName) {
      do meta.name = `${meta.generateName}${randomSuffix()}`;
      while (this.store.get(rt, namespace, meta.name));
    }
    if (!meta.name) {
      throw new ApiError(422, 'Invalid', `${rt.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {
        kind: rt.kind,
        ...(rt.group ? { group: rt.group } : {}),
        causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }],
      });
    }
    this.#checkNamespace(rt, namespace, meta.name);
    if (rt.subresources.includes('status') && rt.kind !== 'Namespace') delete o.status;
    applyDefaults(o, { allocateClusterIp: this.#allocateClusterIp });
    validate(rt, o, undefined);
    if (this.store.get(rt, namespace, meta.name)) throw alreadyExists(rt, meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    if (rt.generation) meta.generation = 1;
    if (opts.dryRun) return o;
    return withTypeMeta(rt, this.store.put(rt, o));
  }

  /** PUT of the main resource or of `status`; `scale` goes through `updateScale`. */
  update(rt: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource = '', opts: WriteOptions = {}): KObject {
    const o = this.#decode(rt, body, namespace);
    if (o.metadata.name !== undefined && o.metadata.name !== name) {
      throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${name})`);
    }
    const old = this.store.get(rt, namespace, name);
    if (!old) {
      if (rt.allowCreateOnUpdate && !subresource) return this.create(rt, namespace, { ...o, metadata: { ...o.metadata, name } }, opts);
      throw notFound(rt, name);
    }
    const rv = o.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(rt, name);
    let next: KObject;
    if (subresource === 'status') {
      next = clone(old);
      next.status = o.status;
      // Status writers may also touch annotations (the deployment controller records revisions this way).
      if (o.metadata.annotations !== undefined) next.metadata.annotations = o.metadata.annotations;
    } else {
      next = o;
      next.metadata.name = name;
      for (const f of SERVER_FIELDS) {
        if (f === 'resourceVersion' || f === 'generation') continue;
        if (old.metadata[f] === undefined) delete next.metadata[f];
        else (next.metadata as JsonObject)[f] = old.metadata[f];
      }
      if (rt.subresources.includes('status')) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      applyDefaults(next, { allocateClusterIp: this.#allocateClusterIp });
      if (rt.kind === 'Service' && isObject(next.spec) && isObject(old.spec)) next.spec.clusterIP = old.spec.clusterIP;
      validate(rt, next, old);
    }
    if (rt.generation) {
      next.metadata.generation = (old.metadata.generation ?? 1) + (canonicalJson(old.spec) === canonicalJson(next.spec) ? 0 : 1);
    }
    return this.#commit(rt, old, next, opts);
  }

  #commit(rt: ResourceType, old: KObject, next: KObject, opts: WriteOptions): KObject {
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    withTypeMeta(rt, next);
    // A no-op write changes nothing: no new resourceVersion, no watch event.
    if (canonicalJson(next) === canonicalJson(withTypeMeta(rt, old))) return next;
    if (opts.dryRun) return next;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && rt.kind !== 'Pod' && rt.kind !== 'Namespace') {
      this.store.put(rt, next);
      return withTypeMeta(rt, this.store.remove(rt, next.metadata.namespace, next.metadata.name ?? '') as KObject);
    }
    return withTypeMeta(rt, this.store.put(rt, next));
  }

  patch(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    patch: unknown,
    subresource = '',
    opts: WriteOptions = {},
  ): KObject {
    const old = this.store.get(rt, namespace, name);
    if (!old) throw notFound(rt, name);
    if (subresource === 'scale') {
      const scale = this.getScale(rt, namespace, name);
      const patched = applyPatch(contentType, scale, patch, 'Scale');
      return this.updateScale(rt, namespace, name, patched, opts);
    }
    const current = withTypeMeta(rt, old);
    const patched = applyPatch(contentType, current, patch, rt.kind);
    if (!isObject(patched)) throw badRequest('the patch did not produce an object');
    return this.update(rt, namespace, name, patched, subresource, opts);
  }

  /** The `autoscaling/v1 Scale` view of a Deployment or ReplicaSet. */
  getScale(rt: ResourceType, namespace: string | undefined, name: string): KObject {
    const o = this.get(rt, namespace, name);
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name,
        namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: getPath(o, ['spec', 'replicas']) ?? 0 },
      status: { replicas: getPath(o, ['status', 'replicas']) ?? 0, selector: labelSelectorString(getPath(o, ['spec', 'selector'])) },
    };
  }

  updateScale(rt: ResourceType, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions = {}): KObject {
    if (!isObject(body)) throw badRequest('Scale cannot be decoded');
    const old = this.get(rt, namespace, name);
    const rv = getPath(body, ['metadata', 'resourceVersion']);
    if (typeof rv === 'string' && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(rt, name);
    const replicas = getPath(body, ['spec', 'replicas']);
    if (typeof replicas !== 'number' || replicas < 0 || !Number.isInteger(replicas)) {
      throw new ApiError(
        422,
        'Invalid',
        `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      );
    }
    const next = clone(old);
    (next.spec as JsonObject).replicas = replicas;
    next.metadata.generation = (old.metadata.generation ?? 1) + (replicas === getPath(old, ['spec', 'replicas']) ? 0 : 1);
    this.#commit(rt, old, next, opts);
    return this.getScale(rt, namespace, name);
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): DeleteResult {
    const old = this.store.get(rt, namespace, name);
    if (!old) throw notFound(rt, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
        { name, kind: rt.plural },
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) throw conflict(rt, name);
    if (opts.dryRun) return { object: withTypeMeta(rt, old), removed: false };
    const policy = opts.propagationPolicy ?? 'Background';
    if (policy === 'Orphan') this.#orphanDependents(old);
    const next = clone(old);
    const now = Date.now();
    if (rt.kind === 'Namespace') {
      if (!next.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = timestamp(now);
        (next.status as JsonObject).phase = 'Terminating';
        return { object: withTypeMeta(rt, this.store.put(rt, next)), removed: false };
      }
      return { object: withTypeMeta(rt, old), removed: false };
    }
    if (policy === 'Foreground' && !(next.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER)) {
      next.metadata.finalizers = [...(next.metadata.finalizers ?? []), FOREGROUND_FINALIZER];
    }
    if (rt.kind === 'Pod') {
      const result = this.#deletePodGracefully(rt, old, next, opts.gracePeriodSeconds, now);
      if (result) return result;
    }
    if ((next.metadata.finalizers ?? []).length > 0) {
      if (!next.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = timestamp(now);
        next.metadata.deletionGracePeriodSeconds = 0;
        if (rt.generation) next.metadata.generation = (next.metadata.generation ?? 1) + 1;
      }
      return { object: this.#commit(rt, old, next, {}), removed: false };
    }
    return { object: withTypeMeta(rt, this.store.remove(rt, namespace, name) as KObject), removed: true };
  }

  /**
   * Graceful pod deletion: a scheduled, non-terminal pod gets `deletionTimestamp = now + grace`
   * and stays until the kubelet has stopped it (Kubernetes docs, pod lifecycle, "Termination of Pods"). Undefined: remove now.
   */
  #deletePodGracefully(
    rt: ResourceType,
    old: KObject,
    next: KObject,
    requested: number | undefined,
    now: number,
  ): DeleteResult | undefined {
    const spec = (next.spec ?? {}) as JsonObject;
    const phase = getPath(next, ['status', 'phase']);
    let grace = requested ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
    if (grace === 0 && (next.metadata.finalizers ?? []).length === 0) return undefined;
    const current = old.metadata.deletionGracePeriodSeconds;
    if (old.metadata.deletionTimestamp && current !== undefined && current <= grace)
      return { object: withTypeMeta(rt, old), removed: false };
    next.metadata.deletionTimestamp = timestamp(now + grace * 1000);
    next.metadata.deletionGracePeriodSeconds = grace;
    return { object: this.#commit(rt, old, next, {}), removed: false };
  }

  #orphanDependents(owner: KObject): void {
    const uid = owner.metadata.uid;
    for (const [, o] of [...this.store.allObjects()]) {
      if (!o.metadata.ownerReferences?.some((r) => r.uid === uid)) continue;
      const rt = typeOf(o);
      if (!rt) continue;
      this.removeOwnerReference(rt, o, uid ?? '');
    }
  }

  removeOwnerReference(rt: ResourceType, o: KObject, uid: string): void {
    const next = clone(o);
    next.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
    if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
    this.#commit(rt, clone(o), next, {});
  }

  /** Removes finalizer `name` (and the object with it, when it was the last one and deletion was requested). */
  removeFinalizer(rt: ResourceType, o: KObject, name: string): void {
    const next = clone(o);
    next.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== name);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    this.#commit(rt, clone(o), next, {});
  }

  deleteCollection(rt: ResourceType, namespace: string | undefined, list: ListOptions, opts: DeleteOptions): KObject[] {
    return this.list(rt, namespace, list).items.map((o) => this.delete(rt, namespace, o.metadata.name ?? '', opts).object);
  }
}

function applyPatch(contentType: string, current: KObject, patch: unknown, kind: string): unknown {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === JSON_PATCH) return applyJsonPatch(current, patch);
  if (type === MERGE_PATCH) return applyMergePatch(current, patch);
  if (type === STRATEGIC_MERGE_PATCH) return applyStrategicMergePatch(current, patch, kind);
  throw unsupportedMediaType(contentType);
}

export function withTypeMeta<O extends KObject>(rt: ResourceType, o: O): O {
  o.apiVersion = rt.apiVersion;
  o.kind = rt.kind;
  return o;
}

let typesByVersionKind: Map<string, ResourceType> | undefined;

/** The resource type of a stored object, from its apiVersion and kind. */
export function typeOf(o: KObject): ResourceType | undefined {
  if (!typesByVersionKind) {
    typesByVersionKind = new Map();
    for (const rt of RESOURCE_TYPES) typesByVersionKind.set(`${rt.apiVersion}/${rt.kind}`, rt);
  }
  return typesByVersionKind.get(`${o.apiVersion}/${o.kind}`);
}
