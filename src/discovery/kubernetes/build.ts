// Pure translation of cached Kubernetes objects (plain JSON) into glidepath's plain data: the
// endpoint snapshot the data plane routes by, and the cluster view the rollout controller reads.

import type * as k8s from '@kubernetes/client-node';
import { endpointKey, type DiscoverySnapshot, type Endpoint, type Version } from '../../core/types.ts';
import type { ClusterView, ConditionView, DeploymentView, PodHealthView, PodView, ReplicaSetView } from './view.ts';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Version of endpoints whose pod carries no template hash (a bare pod, a manually managed slice). */
export const UNVERSIONED = 'unversioned';

/** A label selector (`matchLabels` and `matchExpressions`) in the query-string form the API takes. */
export function labelSelectorString(selector: k8s.V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** A Service's `spec.selector` (equality only) as a label selector string. */
export function mapSelectorString(selector: Record<string, string> | undefined): string {
  return Object.entries(selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Which port of each EndpointSlice to route to: by Service port name, or by (target) port number. */
export type PortChoice = { readonly byName: string } | { readonly byNumber: number };

/**
 * Resolves `kubernetes.port` against the Service: empty → its first port; a name → that Service
 * port; a number → the Service port with that `port`, else slices' ports with that (target) number.
 * EndpointSlice ports carry the Service port's name and the resolved target port number, so a
 * Service port is followed into the slices by name. Returns an error message when nothing matches.
 */
export function resolvePort(service: k8s.V1Service, spec: string): PortChoice | string {
  const ports = service.spec?.ports ?? [];
  const list = ports.map((p) => `${p.name ? `${p.name} ` : ''}${p.port}→${String(p.targetPort ?? p.port)}`).join(', ') || 'none';
  const where = `Service "${service.metadata?.namespace}/${service.metadata?.name}"`;
  if (spec === '') {
    const first = ports[0];
    if (first === undefined) return `${where} has no ports; add one, or set kubernetes.port to the pods' port number`;
    return { byName: first.name ?? '' };
  }
  if (/^\d+$/.test(spec)) {
    const n = Number(spec);
    const byPort = ports.find((p) => p.port === n);
    if (byPort !== undefined) return { byName: byPort.name ?? '' };
    // Not a Service port: taken as the pods' (target) port number, as it appears in the slices.
    return { byNumber: n };
  }
  const named = ports.find((p) => p.name === spec);
  if (named === undefined) return `${where} has no port named "${spec}" (its ports: ${list}); fix kubernetes.port`;
  return { byName: spec };
}

function slicePort(slice: k8s.V1EndpointSlice, choice: PortChoice): number | undefined {
  for (const p of slice.ports ?? []) {
    if (p.protocol !== undefined && p.protocol !== 'TCP') continue;
    if ('byName' in choice ? (p.name ?? '') === choice.byName : p.port === choice.byNumber) return p.port;
  }
  return undefined;
}

function controllerOf(meta: k8s.V1ObjectMeta | undefined): k8s.V1OwnerReference | undefined {
  return meta?.ownerReferences?.find((o) => o.controller === true);
}

/** The version a pod belongs to: its ReplicaSet's pod-template-hash. */
export function podVersion(pod: k8s.V1Pod): string {
  const labels = pod.metadata?.labels ?? {};
  return labels[POD_TEMPLATE_HASH] ?? labels['controller-revision-hash'] ?? UNVERSIONED;
}

export function revisionOf(meta: k8s.V1ObjectMeta | undefined): number {
  const n = Number(meta?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export interface SnapshotInputs {
  readonly slices: readonly k8s.V1EndpointSlice[];
  readonly pod: (name: string) => k8s.V1Pod | undefined;
  readonly replicaSets: readonly k8s.V1ReplicaSet[];
  readonly port: PortChoice;
  /**
   * Versions learnt earlier, by pod uid (or name): a pod deleted from the pod cache before its
   * endpoint left the slice keeps its version. Updated in place and pruned to the current endpoints.
   */
  readonly remembered: Map<string, string>;
}

export interface SnapshotResult {
  readonly snapshot: DiscoverySnapshot;
  /** Pods in a slice whose version is not known yet (held back until their pod is seen). */
  readonly pending: readonly string[];
}

/**
 * Endpoints from every slice of the Service. Conditions (KEP-1672): an endpoint is ready only
 * when `ready` and `serving` hold and `terminating` does not, so `publishNotReadyAddresses` (which
 * forces `ready`) never routes to an unready or terminating pod; a serving, terminating endpoint is
 * kept as a fallback only; nil `ready` and `serving` mean true, nil `terminating` false. An address
 * in two slices (a pod moving between slices) takes the terminating copy if any (terminating never
 * reverts), else the ready one.
 */
export function buildSnapshot(input: SnapshotInputs): SnapshotResult {
  const byKey = new Map<string, Endpoint>();
  const pending: string[] = [];
  const seenPods = new Set<string>();
  const rsByName = new Map(input.replicaSets.map((rs) => [rs.metadata?.name ?? '', rs]));
  for (const slice of input.slices) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = slicePort(slice, input.port);
    if (port === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      const host = ep.addresses?.[0];
      if (host === undefined) continue;
      const ref = ep.targetRef;
      let version: string | undefined;
      let podName: string | undefined;
      if (ref?.kind === 'Pod' && ref.name) {
        podName = ref.name;
        const rememberKey = ref.uid ?? ref.name;
        seenPods.add(rememberKey);
        const pod = input.pod(ref.name);
        if (pod !== undefined && (ref.uid === undefined || pod.metadata?.uid === ref.uid)) {
          version = podVersion(pod);
          input.remembered.set(rememberKey, version);
        } else {
          version = input.remembered.get(rememberKey) ?? versionFromReplicaSetName(ref.name, rsByName);
        }
        if (version === undefined) {
          pending.push(ref.name);
          continue;
        }
      } else {
        version = UNVERSIONED;
      }
      const c = ep.conditions ?? {};
      const terminating = c.terminating === true;
      const serving = c.serving ?? c.ready ?? true;
      const ready = c.ready !== false && serving && !terminating;
      const endpoint: Endpoint = { host, port, version, ready, serving, terminating, name: podName };
      const key = endpointKey(host, port);
      const other = byKey.get(key);
      if (other === undefined || (!other.terminating && (terminating || (!other.ready && ready)))) byKey.set(key, endpoint);
    }
  }
  for (const key of input.remembered.keys()) if (!seenPods.has(key)) input.remembered.delete(key);

  const endpoints = [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
  const revisions = new Map<string, number>();
  for (const rs of input.replicaSets) {
    const hash = rs.metadata?.labels?.[POD_TEMPLATE_HASH];
    if (hash === undefined) continue;
    const active = (rs.spec?.replicas ?? 0) > 0 || (rs.status?.replicas ?? 0) > 0;
    const revision = revisionOf(rs.metadata);
    if (active || endpoints.some((e) => e.version === hash)) revisions.set(hash, Math.max(revision, revisions.get(hash) ?? 0));
  }
  for (const e of endpoints) if (!revisions.has(e.version)) revisions.set(e.version, 0);
  const versions: Version[] = [...revisions]
    .map(([name, revision]) => ({ name, revision }))
    .sort((a, b) => b.revision - a.revision || (a.name < b.name ? -1 : 1));
  return { snapshot: { versions, endpoints }, pending };
}

/** A pod seen in a slice before the pod watch delivered it: `<rs-name>-<5 chars>` names its ReplicaSet. */
function versionFromReplicaSetName(pod: string, rsByName: Map<string, k8s.V1ReplicaSet>): string | undefined {
  const dash = pod.lastIndexOf('-');
  if (dash <= 0 || pod.length - dash - 1 !== 5) return undefined;
  return rsByName.get(pod.slice(0, dash))?.metadata?.labels?.[POD_TEMPLATE_HASH];
}

/** Canonical JSON of a snapshot, to skip publishing one that did not change. */
export function snapshotKey(s: DiscoverySnapshot): string {
  return JSON.stringify([s.versions, s.endpoints]);
}

/**
 * apimachinery's semantic equality as the Deployment controller uses it to find the new
 * ReplicaSet: null, absent and empty are equal; the pod-template-hash label is ignored.
 */
export function sameTemplate(a: k8s.V1PodTemplateSpec | undefined, b: k8s.V1PodTemplateSpec | undefined): boolean {
  return JSON.stringify(normalize(withoutHash(a))) === JSON.stringify(normalize(withoutHash(b)));
}

function withoutHash(t: k8s.V1PodTemplateSpec | undefined): unknown {
  if (t === undefined) return undefined;
  const labels = { ...(t.metadata?.labels ?? {}) };
  delete labels[POD_TEMPLATE_HASH];
  return { ...t, metadata: { ...(t.metadata ?? {}), labels } };
}

function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    const items = v.map(normalize);
    return items.length === 0 ? undefined : items;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const n = normalize((v as Record<string, unknown>)[k]);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v;
}

/** Plain-JSON copy of a pod template (hash label included, as stored). */
function plainTemplate(t: k8s.V1PodTemplateSpec | undefined): unknown {
  return t === undefined ? undefined : (JSON.parse(JSON.stringify(t)) as unknown);
}

function conditions(list: readonly k8s.V1DeploymentCondition[] | undefined): ConditionView[] {
  const s = (v: unknown): string | undefined =>
    v === undefined || v === null ? undefined : typeof v === 'string' ? v : (v as Date).toISOString();
  return (list ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastUpdateTime: s(c.lastUpdateTime),
    lastTransitionTime: s(c.lastTransitionTime),
  }));
}

function podView(pod: k8s.V1Pod): PodView {
  const statuses = pod.status?.containerStatuses ?? [];
  return {
    name: pod.metadata?.name ?? '',
    ip: pod.status?.podIP,
    phase: pod.status?.phase,
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    terminating: pod.metadata?.deletionTimestamp != null,
    restarts: statuses.reduce((sum, c) => sum + (c.restartCount ?? 0), 0),
    waitingReason: statuses.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason,
  };
}

function podHealth(pods: readonly k8s.V1Pod[]): PodHealthView {
  const views = pods.map(podView).sort((a, b) => (a.name < b.name ? -1 : 1));
  const waitingReasons: Record<string, number> = {};
  const lastTerminationReasons: Record<string, number> = {};
  for (const pod of pods) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const w = c.state?.waiting?.reason;
      if (w) waitingReasons[w] = (waitingReasons[w] ?? 0) + 1;
      const t = c.lastState?.terminated?.reason;
      if (t) lastTerminationReasons[t] = (lastTerminationReasons[t] ?? 0) + 1;
    }
  }
  return {
    total: views.length,
    ready: views.filter((p) => p.ready).length,
    terminating: views.filter((p) => p.terminating).length,
    restarts: views.reduce((sum, p) => sum + p.restarts, 0),
    waitingReasons,
    lastTerminationReasons,
    pods: views,
  };
}

export interface ViewInputs {
  readonly namespace: string;
  readonly service: string;
  /** The configured Deployment name, or '' for none. */
  readonly deploymentName: string;
  readonly deployment: k8s.V1Deployment | undefined;
  readonly replicaSets: readonly k8s.V1ReplicaSet[];
  readonly pods: readonly k8s.V1Pod[];
  /** Every watch has listed once. */
  readonly synced: boolean;
  /** The Deployment watch has listed once (so an absent Deployment is really missing). */
  readonly deploymentListed: boolean;
}

export function buildClusterView(input: ViewInputs): ClusterView {
  const d = input.deployment;
  const uid = d?.metadata?.uid;
  const owned = input.replicaSets.filter((rs) =>
    uid === undefined ? input.deploymentName === '' : controllerOf(rs.metadata)?.uid === uid,
  );
  const podsByOwner = new Map<string, k8s.V1Pod[]>();
  for (const pod of input.pods) {
    const owner = controllerOf(pod.metadata)?.uid;
    if (owner === undefined) continue;
    let list = podsByOwner.get(owner);
    if (list === undefined) podsByOwner.set(owner, (list = []));
    list.push(pod);
  }
  const created = (rs: k8s.V1ReplicaSet): string => String(rs.metadata?.creationTimestamp ?? '');
  const replicaSets: ReplicaSetView[] = owned
    .map((rs) => ({
      name: rs.metadata?.name ?? '',
      uid: rs.metadata?.uid ?? '',
      resourceVersion: rs.metadata?.resourceVersion ?? '',
      hash: rs.metadata?.labels?.[POD_TEMPLATE_HASH] ?? '',
      revision: revisionOf(rs.metadata),
      createdAt: rs.metadata?.creationTimestamp === undefined ? undefined : String(rs.metadata.creationTimestamp),
      generation: rs.metadata?.generation ?? 0,
      observedGeneration: rs.status?.observedGeneration ?? 0,
      replicas: rs.spec?.replicas ?? 1,
      statusReplicas: rs.status?.replicas ?? 0,
      readyReplicas: rs.status?.readyReplicas ?? 0,
      availableReplicas: rs.status?.availableReplicas ?? 0,
      annotations: { ...(rs.metadata?.annotations ?? {}) },
      template: plainTemplate(rs.spec?.template),
      podHealth: podHealth(podsByOwner.get(rs.metadata?.uid ?? '') ?? []),
    }))
    .sort((a, b) => b.revision - a.revision || (a.name < b.name ? -1 : 1));

  let deployment: DeploymentView | undefined;
  if (d !== undefined) {
    // The Deployment controller takes the oldest owned ReplicaSet whose template matches.
    const matching = owned
      .filter((rs) => sameTemplate(rs.spec?.template, d.spec?.template))
      .sort((a, b) => (created(a) < created(b) ? -1 : 1))[0];
    const ru = d.spec?.strategy?.rollingUpdate;
    deployment = {
      name: d.metadata?.name ?? '',
      namespace: d.metadata?.namespace ?? input.namespace,
      uid: uid ?? '',
      resourceVersion: d.metadata?.resourceVersion ?? '',
      generation: d.metadata?.generation ?? 0,
      observedGeneration: d.status?.observedGeneration ?? 0,
      paused: d.spec?.paused === true,
      replicas: d.spec?.replicas ?? 1,
      statusReplicas: d.status?.replicas ?? 0,
      updatedReplicas: d.status?.updatedReplicas ?? 0,
      readyReplicas: d.status?.readyReplicas ?? 0,
      availableReplicas: d.status?.availableReplicas ?? 0,
      unavailableReplicas: d.status?.unavailableReplicas ?? 0,
      revision: revisionOf(d.metadata),
      annotations: { ...(d.metadata?.annotations ?? {}) },
      selector: labelSelectorString(d.spec?.selector),
      template: plainTemplate(d.spec?.template),
      templateHash: matching?.metadata?.labels?.[POD_TEMPLATE_HASH],
      newReplicaSet: matching?.metadata?.name,
      strategy: {
        type: d.spec?.strategy?.type ?? 'RollingUpdate',
        maxSurge: ru?.maxSurge as string | number | undefined,
        maxUnavailable: ru?.maxUnavailable as string | number | undefined,
      },
      conditions: conditions(d.status?.conditions),
    };
  }
  return {
    namespace: input.namespace,
    service: input.service,
    deployment,
    deploymentMissing: input.deploymentName !== '' && input.deploymentListed && d === undefined,
    replicaSets,
    synced: input.synced,
  };
}
