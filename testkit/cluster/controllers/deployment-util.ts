// The pure half of the Deployment controller, after kubernetes/pkg/controller/deployment/util:
// fenceposts, revisions, template matching, annotations, proportions, status and conditions.

import { canonicalJson, clone, fnv32a, safeEncode, semanticEqual, timestamp } from '../api/objects.ts';
import type { JsonObject, KObject } from '../api/objects.ts';

export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const HASH_LABEL = 'pod-template-hash';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ROLLBACK_TO = 'deprecated.deployment.rollback.to';
const MAX_REV_HISTORY_CHARS = 2000;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastUpdateTime?: string;
  lastTransitionTime: string;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

export interface Deployment extends KObject {
  spec: {
    replicas: number;
    paused?: boolean;
    minReadySeconds?: number;
    progressDeadlineSeconds?: number;
    revisionHistoryLimit?: number;
    strategy: { type: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    selector: JsonObject;
    template: JsonObject & { metadata?: { labels?: Record<string, string> } };
  };
  status?: DeploymentStatus;
}

export interface ReplicaSet extends KObject {
  spec: {
    replicas: number;
    minReadySeconds?: number;
    selector: JsonObject;
    template: JsonObject & { metadata?: { labels?: Record<string, string> } };
  };
  status?: {
    replicas?: number;
    fullyLabeledReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

/** `intstr.GetScaledValueFromIntOrPercent`. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const pct = Number(v.replace('%', ''));
  const exact = (pct * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** `ResolveFenceposts`: surge rounds up, unavailability down, and both zero means one unavailable. */
export function resolveFenceposts(d: Deployment): { surge: number; unavailable: number } {
  const ru = d.spec.strategy.rollingUpdate ?? {};
  const surge = scaledValue(ru.maxSurge ?? 0, d.spec.replicas, true);
  let unavailable = scaledValue(ru.maxUnavailable ?? 0, d.spec.replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

const isRolling = (d: Deployment): boolean => d.spec.strategy.type === 'RollingUpdate';

export function maxSurge(d: Deployment): number {
  return isRolling(d) ? resolveFenceposts(d).surge : 0;
}

export function maxUnavailable(d: Deployment): number {
  if (!isRolling(d) || d.spec.replicas === 0) return 0;
  return Math.min(resolveFenceposts(d).unavailable, d.spec.replicas);
}

export const specReplicas = (rss: (ReplicaSet | undefined)[]): number => rss.reduce((n, rs) => n + (rs?.spec.replicas ?? 0), 0);
export const actualReplicas = (rss: (ReplicaSet | undefined)[]): number => rss.reduce((n, rs) => n + (rs?.status?.replicas ?? 0), 0);
export const readyReplicas = (rss: (ReplicaSet | undefined)[]): number => rss.reduce((n, rs) => n + (rs?.status?.readyReplicas ?? 0), 0);
export const availableReplicas = (rss: (ReplicaSet | undefined)[]): number =>
  rss.reduce((n, rs) => n + (rs?.status?.availableReplicas ?? 0), 0);

export function revision(o: KObject): number {
  const v = Number(o.metadata.annotations?.[REVISION] ?? 0);
  return Number.isFinite(v) ? v : 0;
}

export function maxRevision(rss: ReplicaSet[]): number {
  return rss.reduce((m, rs) => Math.max(m, revision(rs)), 0);
}

const created = (o: KObject): number => Date.parse(o.metadata.creationTimestamp ?? '') || 0;

/** `ReplicaSetsByCreationTimestamp`: oldest first, ties by name. */
export function byCreation(a: KObject, b: KObject): number {
  return created(a) - created(b) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

export function activeReplicaSets(rss: (ReplicaSet | undefined)[]): ReplicaSet[] {
  return rss.filter((rs): rs is ReplicaSet => rs !== undefined && rs.spec.replicas > 0);
}

function templateWithoutHash(t: JsonObject): JsonObject {
  const c = clone(t);
  const labels = (c.metadata as JsonObject | undefined)?.labels as Record<string, string> | undefined;
  if (labels) delete labels[HASH_LABEL];
  return c;
}

/** `EqualIgnoreHash` under semantic equality, so `kubectl rollout undo` re-adopts its ReplicaSet (docs/kubernetes-notes.md). */
export function equalIgnoreHash(a: JsonObject, b: JsonObject): boolean {
  return semanticEqual(templateWithoutHash(a), templateWithoutHash(b));
}

export function findNewReplicaSet(d: Deployment, rss: ReplicaSet[]): ReplicaSet | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
}

/** A deterministic `pod-template-hash` over the template (Go hashes its spew dump; only stability matters). */
export function podTemplateHash(template: JsonObject, collisionCount: number | undefined): string {
  return safeEncode(String(fnv32a(canonicalJson(template) + (collisionCount ? `#${collisionCount}` : ''))));
}

export function newRSNewReplicas(d: Deployment, all: (ReplicaSet | undefined)[], newRS: ReplicaSet): number {
  if (!isRolling(d)) return d.spec.replicas;
  const maxTotal = d.spec.replicas + maxSurge(d);
  const current = specReplicas(all);
  if (current >= maxTotal) return newRS.spec.replicas;
  const scaleUp = Math.min(maxTotal - current, d.spec.replicas - newRS.spec.replicas);
  return newRS.spec.replicas + scaleUp;
}

export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = (rs.metadata.annotations ??= {});
  let changed = false;
  if (a[DESIRED_REPLICAS] !== String(desired)) {
    a[DESIRED_REPLICAS] = String(desired);
    changed = true;
  }
  if (a[MAX_REPLICAS] !== String(max)) {
    a[MAX_REPLICAS] = String(max);
    changed = true;
  }
  return changed;
}

function skipCopyAnnotation(key: string): boolean {
  return (
    key === LAST_APPLIED ||
    key === REVISION ||
    key === REVISION_HISTORY ||
    key === DESIRED_REPLICAS ||
    key === MAX_REPLICAS ||
    key === ROLLBACK_TO
  );
}

/** `SetNewReplicaSetAnnotations`: copied annotations, the revision, and the revision history on re-adoption. */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: string, exists: boolean): boolean {
  const a = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (skipCopyAnnotation(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const oldRevision = a[REVISION];
  const oldInt = oldRevision === undefined || oldRevision === '' ? 0 : Number(oldRevision);
  if (!Number.isFinite(oldInt)) return false;
  const newInt = Number(newRevision);
  if (oldInt < newInt) {
    a[REVISION] = newRevision;
    changed = true;
    if (oldRevision !== undefined) {
      const history = a[REVISION_HISTORY] ?? '';
      if (history === '') a[REVISION_HISTORY] = oldRevision;
      else {
        let revisions = history.split(',');
        let total = history.length + oldRevision.length + 1;
        while (total > MAX_REV_HISTORY_CHARS && revisions.length > 0) {
          total -= (revisions[0] as string).length + 1;
          revisions = revisions.slice(1);
        }
        if (total <= MAX_REV_HISTORY_CHARS) a[REVISION_HISTORY] = [...revisions, oldRevision].join(',');
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, d.spec.replicas, d.spec.replicas + maxSurge(d))) changed = true;
  return changed;
}

export function setDeploymentRevision(d: Deployment, rev: string | undefined): boolean {
  if (rev === undefined) return false;
  const a = (d.metadata.annotations ??= {});
  if (a[REVISION] === rev) return false;
  a[REVISION] = rev;
  return true;
}

export function getCondition(status: DeploymentStatus | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export function newCondition(type: string, status: Condition['status'], reason: string, message: string): Condition {
  const now = timestamp();
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

/** `SetDeploymentCondition`: same status and reason is a no-op; same status keeps lastTransitionTime. */
export function setCondition(status: DeploymentStatus, c: Condition): void {
  const current = getCondition(status, c.type);
  if (current && current.status === c.status && current.reason === c.reason) return;
  if (current && current.status === c.status) c.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== c.type), c];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((c) => c.type !== type);
  if (status.conditions.length === 0) delete status.conditions;
}

export function hasProgressDeadline(d: Deployment): boolean {
  return d.spec.progressDeadlineSeconds !== undefined && d.spec.progressDeadlineSeconds !== 2147483647;
}

export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const n = d.spec.replicas;
  return (
    (s.updatedReplicas ?? 0) === n &&
    (s.replicas ?? 0) === n &&
    (s.availableReplicas ?? 0) === n &&
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: number): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  return Date.parse(c.lastUpdateTime ?? c.lastTransitionTime) + (d.spec.progressDeadlineSeconds ?? 0) * 1000 < now;
}

/** `calculateStatus`: counters from the ReplicaSets and the Available condition. */
export function calculateStatus(all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, d: Deployment): DeploymentStatus {
  const available = availableReplicas(all);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: actualReplicas(all),
    updatedReplicas: actualReplicas([newRS]),
    readyReplicas: readyReplicas(all),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, specReplicas(all) - available),
    ...(d.status?.collisionCount !== undefined ? { collisionCount: d.status.collisionCount } : {}),
    conditions: [...(d.status?.conditions ?? []).map((c) => ({ ...c }))],
  };
  if (available >= d.spec.replicas - maxUnavailable(d))
    setCondition(status, newCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'));
  else
    setCondition(
      status,
      newCondition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'),
    );
  return compactStatus(status);
}

/** Go's omitempty: zero counters and empty lists are absent on the wire. */
export function compactStatus<S extends object>(s: S): S {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(s)) {
    if (v === 0 && k !== 'observedGeneration') continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (v !== undefined) out[k] = v;
  }
  return out as S;
}

/** `getReplicaSetFraction`: the share of a scaling change that one ReplicaSet takes. */
function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  if (d.spec.replicas === 0) return -rs.spec.replicas;
  const deploymentReplicas = d.spec.replicas + maxSurge(d);
  const annotated = Number(rs.metadata.annotations?.[MAX_REPLICAS]);
  const base = Number.isFinite(annotated) && rs.metadata.annotations?.[MAX_REPLICAS] !== undefined ? annotated : (d.status?.replicas ?? 0);
  if (base === 0) return 0;
  return roundHalfAwayFromZero((rs.spec.replicas * deploymentReplicas) / base) - rs.spec.replicas;
}

function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function proportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (rs.spec.replicas === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/** Key-order-independent identity of a status, for "nothing changed" checks. */
export function canonical(v: unknown): string {
  return canonicalJson(v);
}
