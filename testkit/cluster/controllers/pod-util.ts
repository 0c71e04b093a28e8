// Pod predicates shared by the simulated controllers and kubelet (k8s.io/kubernetes/pkg/api/v1/pod):
// readiness, availability, activity and the ReplicaSet controller's deletion ranking.

import { isObject } from '../api/objects.ts';
import type { KObject } from '../api/objects.ts';

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
}

export interface PodStatus {
  phase?: string;
  conditions?: PodCondition[];
  hostIP?: string;
  hostIPs?: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  containerStatuses?: ContainerStatus[];
  qosClass?: string;
  reason?: string;
  message?: string;
}

export interface Pod extends KObject {
  spec: Record<string, unknown> & { nodeName?: string; containers: Record<string, unknown>[] };
  status?: PodStatus;
}

export function podCondition(p: KObject, type: string): PodCondition | undefined {
  const s = p.status;
  if (!isObject(s) || !Array.isArray(s.conditions)) return undefined;
  return (s.conditions as PodCondition[]).find((c) => c.type === type);
}

export function isPodReady(p: KObject): boolean {
  return podCondition(p, 'Ready')?.status === 'True';
}

export function isPodAvailable(p: KObject, minReadySeconds: number, now: number): boolean {
  const c = podCondition(p, 'Ready');
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  return Date.parse(c.lastTransitionTime ?? '') + minReadySeconds * 1000 < now;
}

export function podPhase(p: KObject): string {
  return isObject(p.status) ? String(p.status.phase ?? '') : '';
}

/** `FilterActivePods`: not terminating and not in a terminal phase. */
export function isPodActive(p: KObject): boolean {
  const phase = podPhase(p);
  return !p.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

function restarts(p: KObject): number {
  const cs = isObject(p.status) && Array.isArray(p.status.containerStatuses) ? (p.status.containerStatuses as ContainerStatus[]) : [];
  return cs.reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** `ActivePods` ordering: the pods earlier in this order are deleted first when scaling down. */
export function deletionOrder(a: KObject, b: KObject): number {
  const assigned = (p: KObject): number => (isObject(p.spec) && p.spec.nodeName ? 1 : 0);
  if (assigned(a) !== assigned(b)) return assigned(a) - assigned(b);
  const phase = (p: KObject): number => PHASE_RANK[podPhase(p)] ?? 0;
  if (phase(a) !== phase(b)) return phase(a) - phase(b);
  const ready = (p: KObject): number => (isPodReady(p) ? 1 : 0);
  if (ready(a) !== ready(b)) return ready(a) - ready(b);
  if (isPodReady(a) && isPodReady(b)) {
    const since = (p: KObject): number => Date.parse(podCondition(p, 'Ready')?.lastTransitionTime ?? '') || 0;
    if (since(a) !== since(b)) return since(b) - since(a);
  }
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const created = (p: KObject): number => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  return created(b) - created(a);
}
