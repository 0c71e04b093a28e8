// The simulated Deployment controller, a transcription of kubernetes/pkg/controller/deployment:
// new/old ReplicaSets, rolling and recreate steps, proportional scaling, pause, history cleanup,
// status and the Progressing/Available conditions with the real reasons and messages.

import { ApiError } from '../api/errors.ts';
import { clone, controllerRef, ownerRefTo } from '../api/objects.ts';
import { T } from '../api/resources.ts';
import type { Change } from '../api/store.ts';
import {
  activeReplicaSets,
  availableReplicas,
  byCreation,
  calculateStatus,
  canonical,
  compactStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  DESIRED_REPLICAS,
  equalIgnoreHash,
  findNewReplicaSet,
  getCondition,
  HASH_LABEL,
  hasProgressDeadline,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  podTemplateHash,
  proportion,
  removeCondition,
  revision,
  REVISION,
  setCondition,
  setDeploymentRevision,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  specReplicas,
  actualReplicas,
} from './deployment-util.ts';
import type { Deployment, DeploymentStatus, ReplicaSet } from './deployment-util.ts';
import { nsKey, splitKey } from './queue.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

const COMPONENT = 'deployment-controller';

export class DeploymentController extends Controller {
  constructor(deps: ControllerDeps) {
    super('deployment', deps);
  }

  override observe(c: Change): void {
    if (c.rt === T.deployments) this.queue.add(nsKey(c.object.metadata.namespace, c.object.metadata.name));
    else if (c.rt === T.replicasets) {
      const ref = controllerRef(c.object);
      if (ref?.kind === 'Deployment') this.queue.add(nsKey(c.object.metadata.namespace, ref.name));
    } else if (c.rt === T.pods && c.type === 'DELETED') {
      // Recreate waits for old pods to be gone; their deletion must wake the deployment.
      const rsRef = controllerRef(c.object);
      if (rsRef?.kind !== 'ReplicaSet') return;
      const rs = this.registry.store.get(T.replicasets, c.object.metadata.namespace, rsRef.name);
      const ref = rs ? controllerRef(rs) : undefined;
      if (ref?.kind === 'Deployment') this.queue.add(nsKey(c.object.metadata.namespace, ref.name));
    }
  }

  protected sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const d = this.registry.store.get(T.deployments, namespace, name) as Deployment | undefined;
    if (!d) return;
    const rsList = this.#replicaSetsFor(d);
    if (d.metadata.deletionTimestamp) return this.#syncStatusOnly(d, rsList);
    this.#checkPausedConditions(d);
    if (d.spec.paused) return this.#syncScaling(d, rsList);
    if (this.#isScalingEvent(d, rsList)) return this.#syncScaling(d, rsList);
    if (d.spec.strategy.type === 'Recreate') return this.#rolloutRecreate(d, rsList);
    return this.#rolloutRolling(d, rsList);
  }

  #replicaSetsFor(d: Deployment): ReplicaSet[] {
    return (this.registry.store.list(T.replicasets, d.metadata.namespace) as ReplicaSet[]).filter(
      (rs) => controllerRef(rs)?.uid === d.metadata.uid,
    );
  }

  #updateStatus(d: Deployment): void {
    const next = this.registry.update(
      T.deployments,
      d.metadata.namespace,
      d.metadata.name ?? '',
      { ...clone(d), metadata: { ...d.metadata, resourceVersion: undefined } },
      'status',
    ) as Deployment;
    d.metadata = next.metadata;
    d.status = next.status;
  }

  #checkPausedConditions(d: Deployment): void {
    if (!hasProgressDeadline(d)) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === 'ProgressDeadlineExceeded') return;
    const pausedExists = cond?.reason === 'DeploymentPaused';
    const status: DeploymentStatus = clone(d.status ?? {});
    if (d.spec.paused && !pausedExists)
      setCondition(status, newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused'));
    else if (!d.spec.paused && pausedExists)
      setCondition(status, newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed'));
    else return;
    d.status = status;
    this.#updateStatus(d);
  }

  #getAllReplicaSetsAndSyncRevision(
    d: Deployment,
    rsList: ReplicaSet[],
    create: boolean,
  ): { newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] } {
    const existing = findNewReplicaSet(d, rsList);
    const oldRSs = rsList.filter((rs) => rs !== existing);
    return { newRS: this.#getNewReplicaSet(d, rsList, oldRSs, create), oldRSs };
  }

  #getNewReplicaSet(d: Deployment, rsList: ReplicaSet[], oldRSs: ReplicaSet[], create: boolean): ReplicaSet | undefined {
    const existing = findNewReplicaSet(d, rsList);
    const newRevision = String(maxRevision(oldRSs) + 1);
    if (existing) {
      const rsCopy = clone(existing);
      const annotationsUpdated = setNewReplicaSetAnnotations(d, rsCopy, newRevision, true);
      const minReadyChanged = (rsCopy.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0);
      if (annotationsUpdated || minReadyChanged) {
        rsCopy.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        return this.#writeReplicaSet(rsCopy);
      }
      let needsUpdate = setDeploymentRevision(d, rsCopy.metadata.annotations?.[REVISION]);
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        d.status = clone(d.status ?? {});
        setCondition(
          d.status,
          newCondition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${rsCopy.metadata.name}"`),
        );
        needsUpdate = true;
      }
      if (needsUpdate) this.#updateDeploymentMetaAndStatus(d);
      return rsCopy;
    }
    if (!create) return undefined;
    const template = clone(d.spec.template);
    const hash = podTemplateHash(template, d.status?.collisionCount);
    const meta = (template.metadata ??= {}) as { labels?: Record<string, string> };
    meta.labels = { ...(meta.labels ?? {}), [HASH_LABEL]: hash };
    const selector = clone(d.spec.selector);
    selector.matchLabels = { ...((selector.matchLabels as Record<string, string> | undefined) ?? {}), [HASH_LABEL]: hash };
    const newRS: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...meta.labels },
        ownerReferences: [ownerRefTo(d, 'apps/v1', 'Deployment')],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    newRS.spec.replicas = newRSNewReplicas(d, [...oldRSs, newRS], newRS);
    setNewReplicaSetAnnotations(d, newRS, newRevision, false);
    let created: ReplicaSet;
    try {
      created = this.registry.create(T.replicasets, d.metadata.namespace, newRS) as ReplicaSet;
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 409) throw err;
      const clash = this.registry.store.get(T.replicasets, d.metadata.namespace, newRS.metadata.name ?? '') as ReplicaSet | undefined;
      if (clash && controllerRef(clash)?.uid === d.metadata.uid && equalIgnoreHash(clash.spec.template, d.spec.template)) return clash;
      // A hash collision: bump collisionCount so the next hash differs, as the real controller does.
      d.status = { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
      this.#updateStatus(d);
      throw err;
    }
    if (created.spec.replicas > 0) {
      this.events.record(
        COMPONENT,
        undefined,
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${created.metadata.name} from 0 to ${created.spec.replicas}`,
      );
    }
    setDeploymentRevision(d, newRevision);
    if (hasProgressDeadline(d)) {
      d.status = clone(d.status ?? {});
      setCondition(
        d.status,
        newCondition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${created.metadata.name}"`),
      );
    }
    this.#updateDeploymentMetaAndStatus(d);
    return created;
  }

  /** The revision annotation lives in metadata; the controller writes it with the status, as upstream does. */
  #updateDeploymentMetaAndStatus(d: Deployment): void {
    this.#updateStatus(d);
  }

  #writeReplicaSet(rs: ReplicaSet): ReplicaSet {
    return this.registry.update(T.replicasets, rs.metadata.namespace, rs.metadata.name ?? '', {
      ...rs,
      metadata: { ...rs.metadata, resourceVersion: undefined },
    }) as ReplicaSet;
  }

  /** `scaleReplicaSetAndRecordEvent`; returns the (possibly updated) ReplicaSet and whether its size changed. */
  #scaleReplicaSet(rs: ReplicaSet, newScale: number, d: Deployment, operation?: 'up' | 'down'): { scaled: boolean; rs: ReplicaSet } {
    const copy = clone(rs);
    const sizeChanged = rs.spec.replicas !== newScale;
    const annotationsChanged = setReplicasAnnotations(copy, d.spec.replicas, d.spec.replicas + maxSurge(d));
    if (!sizeChanged && !annotationsChanged) return { scaled: false, rs };
    const oldScale = rs.spec.replicas;
    copy.spec.replicas = newScale;
    const updated = this.#writeReplicaSet(copy);
    if (sizeChanged) {
      const op = operation ?? (oldScale < newScale ? 'up' : 'down');
      this.events.record(
        COMPONENT,
        undefined,
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${op} replica set ${rs.metadata.name} from ${oldScale} to ${newScale}`,
      );
    }
    return { scaled: sizeChanged, rs: updated };
  }

  #scaleAndRecord(rs: ReplicaSet, newScale: number, d: Deployment): { scaled: boolean; rs: ReplicaSet } {
    if (rs.spec.replicas === newScale) return { scaled: false, rs };
    return this.#scaleReplicaSet(rs, newScale, d);
  }

  #isScalingEvent(d: Deployment, rsList: ReplicaSet[]): boolean {
    const { newRS, oldRSs } = this.#getAllReplicaSetsAndSyncRevision(d, rsList, false);
    for (const rs of activeReplicaSets([...oldRSs, newRS])) {
      const desired = rs.metadata.annotations?.[DESIRED_REPLICAS];
      if (desired !== undefined && Number(desired) !== d.spec.replicas) return true;
    }
    return false;
  }

  /** `sync`: scaling and pause. */
  #syncScaling(d: Deployment, rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.#getAllReplicaSetsAndSyncRevision(d, rsList, false);
    this.#scale(d, newRS, oldRSs);
    const fresh = this.#replicaSetsFor(d);
    const freshNew = newRS ? fresh.find((rs) => rs.metadata.uid === newRS.metadata.uid) : undefined;
    const freshOld = fresh.filter((rs) => rs !== freshNew);
    if (d.spec.paused) this.#cleanup(freshOld, d);
    this.#syncDeploymentStatus([...freshOld, freshNew], freshNew, d);
  }

  #scale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): void {
    const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest) {
      if (activeOrLatest.spec.replicas !== d.spec.replicas) this.#scaleAndRecord(activeOrLatest, d.spec.replicas, d);
      return;
    }
    if (newRS && isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) this.#scaleAndRecord(old, 0, d);
      return;
    }
    if (d.spec.strategy.type !== 'RollingUpdate') return;
    const all = activeReplicaSets([...oldRSs, newRS]);
    const allowed = d.spec.replicas > 0 ? d.spec.replicas + maxSurge(d) : 0;
    const toAdd = allowed - specReplicas(all);
    let operation: 'up' | 'down' | undefined;
    if (toAdd > 0) {
      all.sort((a, b) => b.spec.replicas - a.spec.replicas || byCreation(b, a));
      operation = 'up';
    } else if (toAdd < 0) {
      all.sort((a, b) => b.spec.replicas - a.spec.replicas || byCreation(a, b));
      operation = 'down';
    }
    let added = 0;
    const sizes = new Map<ReplicaSet, number>();
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = proportion(rs, d, toAdd, added);
        sizes.set(rs, rs.spec.replicas + p);
        added += p;
      } else sizes.set(rs, rs.spec.replicas);
    }
    all.forEach((rs, i) => {
      if (i === 0 && toAdd !== 0) sizes.set(rs, Math.max(0, (sizes.get(rs) ?? 0) + toAdd - added));
      this.#scaleReplicaSet(rs, sizes.get(rs) ?? rs.spec.replicas, d, operation);
    });
  }

  #rolloutRolling(d: Deployment, rsList: ReplicaSet[]): void {
    const got = this.#getAllReplicaSetsAndSyncRevision(d, rsList, true);
    let newRS = got.newRS as ReplicaSet;
    let oldRSs = got.oldRSs;
    // Scale up, if we can.
    if (newRS.spec.replicas !== d.spec.replicas) {
      const target = newRS.spec.replicas > d.spec.replicas ? d.spec.replicas : newRSNewReplicas(d, [...oldRSs, newRS], newRS);
      const r = this.#scaleAndRecord(newRS, target, d);
      newRS = r.rs;
      if (r.scaled) return this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
    }
    // Scale down, if we can.
    const down = this.#reconcileOldReplicaSets(oldRSs, newRS, d);
    oldRSs = down.oldRSs;
    if (down.scaled) return this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
    if (deploymentComplete(d, d.status ?? {})) this.#cleanup(oldRSs, d);
    this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
  }

  /** `reconcileOldReplicaSets`: first unhealthy replicas, then down to `replicas - maxUnavailable` available. */
  #reconcileOldReplicaSets(oldRSs: ReplicaSet[], newRS: ReplicaSet, d: Deployment): { scaled: boolean; oldRSs: ReplicaSet[] } {
    const active = activeReplicaSets(oldRSs);
    if (specReplicas(active) === 0) return { scaled: false, oldRSs };
    const allPods = specReplicas([...oldRSs, newRS]);
    const minAvailable = d.spec.replicas - maxUnavailable(d);
    const newUnavailable = newRS.spec.replicas - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return { scaled: false, oldRSs };
    const replace = (rs: ReplicaSet): void => {
      oldRSs = oldRSs.map((o) => (o.metadata.uid === rs.metadata.uid ? rs : o));
    };
    // Clean up unhealthy replicas first, oldest ReplicaSets first.
    let cleaned = 0;
    for (const rs of [...active].sort(byCreation)) {
      if (cleaned >= maxScaledDown) break;
      const available = rs.status?.availableReplicas ?? 0;
      if (rs.spec.replicas === 0 || rs.spec.replicas === available) continue;
      const count = Math.min(maxScaledDown - cleaned, rs.spec.replicas - available);
      replace(this.#scaleAndRecord(rs, rs.spec.replicas - count, d).rs);
      cleaned += count;
    }
    // Then scale down as far as availability allows.
    const availableNow = availableReplicas([...oldRSs, newRS]);
    let scaledDown = 0;
    if (availableNow > minAvailable) {
      const total = availableNow - minAvailable;
      for (const rs of activeReplicaSets(oldRSs).sort(byCreation)) {
        if (scaledDown >= total) break;
        const count = Math.min(rs.spec.replicas, total - scaledDown);
        replace(this.#scaleAndRecord(rs, rs.spec.replicas - count, d).rs);
        scaledDown += count;
      }
    }
    return { scaled: cleaned + scaledDown > 0, oldRSs };
  }

  #rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): void {
    let { newRS, oldRSs } = this.#getAllReplicaSetsAndSyncRevision(d, rsList, false);
    let scaledDown = false;
    for (const rs of activeReplicaSets(oldRSs)) {
      const r = this.#scaleAndRecord(rs, 0, d);
      oldRSs = oldRSs.map((o) => (o.metadata.uid === rs.metadata.uid ? r.rs : o));
      scaledDown ||= r.scaled;
    }
    if (scaledDown) return this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
    if (this.#oldPodsRunning(newRS, oldRSs)) return this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
    if (!newRS) ({ newRS, oldRSs } = this.#getAllReplicaSetsAndSyncRevision(d, this.#replicaSetsFor(d), true));
    if (newRS && newRS.spec.replicas !== d.spec.replicas) newRS = this.#scaleAndRecord(newRS, d.spec.replicas, d).rs;
    if (deploymentComplete(d, d.status ?? {})) this.#cleanup(oldRSs, d);
    this.#syncRolloutStatus([...oldRSs, newRS], newRS, d);
  }

  #oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (actualReplicas(oldRSs) > 0) return true;
    const oldUids = new Set(oldRSs.map((rs) => rs.metadata.uid));
    return this.registry.store.peekAll(T.pods, newRS?.metadata.namespace ?? oldRSs[0]?.metadata.namespace).some((p) => {
      const ref = controllerRef(p);
      if (!ref || !oldUids.has(ref.uid)) return false;
      const phase = (p.status as { phase?: string } | undefined)?.phase;
      return phase !== 'Failed' && phase !== 'Succeeded';
    });
  }

  /** `cleanupDeployment`: old, empty ReplicaSets beyond revisionHistoryLimit go, lowest revision first. */
  #cleanup(oldRSs: ReplicaSet[], d: Deployment): void {
    if (d.spec.revisionHistoryLimit === undefined) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    const diff = cleanable.length - d.spec.revisionHistoryLimit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revision(a) - revision(b) || byCreation(a, b));
    for (const rs of cleanable.slice(0, diff)) {
      if (
        (rs.status?.replicas ?? 0) !== 0 ||
        rs.spec.replicas !== 0 ||
        (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)
      )
        continue;
      try {
        this.registry.delete(T.replicasets, rs.metadata.namespace, rs.metadata.name ?? '', {});
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 404) throw err;
      }
    }
  }

  #syncStatusOnly(d: Deployment, rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.#getAllReplicaSetsAndSyncRevision(d, rsList, false);
    this.#syncDeploymentStatus([...oldRSs, newRS], newRS, d);
  }

  #syncDeploymentStatus(all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, d: Deployment): void {
    const status = calculateStatus(all, newRS, d);
    if (canonical(status) === canonical(d.status ?? {})) return;
    d.status = status;
    this.#updateStatus(d);
  }

  /** `syncRolloutStatus`: counters plus the Progressing condition, and a timer for the progress deadline. */
  #syncRolloutStatus(all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, d: Deployment): void {
    const status = calculateStatus(all, newRS, d);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const isComplete = status.replicas === status.updatedReplicas && current?.reason === 'NewReplicaSetAvailable';
    const rsName = newRS?.metadata.name;
    if (hasProgressDeadline(d) && !isComplete) {
      if (deploymentComplete(d, status)) {
        const msg = rsName
          ? `ReplicaSet "${rsName}" has successfully progressed.`
          : `Deployment "${d.metadata.name}" has successfully progressed.`;
        setCondition(status, newCondition('Progressing', 'True', 'NewReplicaSetAvailable', msg));
      } else if (deploymentProgressing(d, status)) {
        const msg = rsName ? `ReplicaSet "${rsName}" is progressing.` : `Deployment "${d.metadata.name}" is progressing.`;
        const c = newCondition('Progressing', 'True', 'ReplicaSetUpdated', msg);
        if (current) {
          if (current.status === 'True') c.lastTransitionTime = current.lastTransitionTime;
          removeCondition(status, 'Progressing');
        }
        setCondition(status, c);
      } else if (deploymentTimedOut(d, status, Date.now())) {
        const msg = rsName
          ? `ReplicaSet "${rsName}" has timed out progressing.`
          : `Deployment "${d.metadata.name}" has timed out progressing.`;
        setCondition(status, newCondition('Progressing', 'False', 'ProgressDeadlineExceeded', msg));
      }
    }
    removeCondition(status, 'ReplicaFailure');
    const next = compactStatus(status);
    if (canonical(next) !== canonical(d.status ?? {})) {
      d.status = next;
      this.#updateStatus(d);
    }
    this.#requeueStuck(d, next);
  }

  #requeueStuck(d: Deployment, status: DeploymentStatus): void {
    const c = getCondition(status, 'Progressing');
    if (!hasProgressDeadline(d) || !c || c.reason === 'NewReplicaSetAvailable' || c.reason === 'ProgressDeadlineExceeded') return;
    if (deploymentComplete(d, status)) return;
    const deadline = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime) + (d.spec.progressDeadlineSeconds ?? 0) * 1000;
    this.queue.addAfter(nsKey(d.metadata.namespace, d.metadata.name), deadline - Date.now() + 1000);
  }
}

function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const olds = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([...olds, newRS]);
  if (active.length === 0) return newRS ?? olds[0];
  if (active.length === 1) return active[0];
  return undefined;
}

function isSaturated(d: Deployment, rs: ReplicaSet): boolean {
  return (
    rs.spec.replicas === d.spec.replicas &&
    Number(rs.metadata.annotations?.[DESIRED_REPLICAS]) === d.spec.replicas &&
    (rs.status?.availableReplicas ?? 0) === d.spec.replicas
  );
}
