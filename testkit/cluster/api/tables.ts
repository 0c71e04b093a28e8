// `meta.k8s.io/v1 Table` rendering for `kubectl get`: the columns a real apiserver prints for each
// kind (what `kubectl get` asks for: `as=Table;g=meta.k8s.io`), so kubectl output against the
// simulator reads like a real cluster's.

import { getPath, humanDuration, isObject } from './objects.ts';
import type { JsonObject, KObject } from './objects.ts';
import type { ResourceType } from './resources.ts';
import { labelSelectorString } from './selectors.ts';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  priority?: number;
  cell: (o: KObject, now: number) => string | number;
}

const none = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));
const age = (o: KObject, now: number): string =>
  o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>';
const num = (o: KObject, path: string[]): number => Number(getPath(o, path) ?? 0);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const containers = (o: KObject): JsonObject[] => arr(getPath(o, ['spec', 'template', 'spec', 'containers'])).filter(isObject);

const AGE: Column = { name: 'Age', type: 'string', cell: age };

function podStatusReason(o: KObject): { reason: string; ready: number; restarts: number; lastRestart: number } {
  let reason = String(getPath(o, ['status', 'reason']) ?? getPath(o, ['status', 'phase']) ?? '');
  let ready = 0;
  let restarts = 0;
  let lastRestart = 0;
  let hasRunning = false;
  const statuses = arr(getPath(o, ['status', 'containerStatuses'])).filter(isObject);
  for (let i = statuses.length - 1; i >= 0; i--) {
    const cs = statuses[i] as JsonObject;
    restarts += Number(cs.restartCount ?? 0);
    const finished = getPath(cs, ['lastState', 'terminated', 'finishedAt']);
    if (typeof finished === 'string') lastRestart = Math.max(lastRestart, Date.parse(finished));
    const waiting = getPath(cs, ['state', 'waiting', 'reason']);
    const terminated = getPath(cs, ['state', 'terminated']);
    if (typeof waiting === 'string' && waiting) reason = waiting;
    else if (isObject(terminated) && typeof terminated.reason === 'string' && terminated.reason) reason = terminated.reason;
    else if (isObject(terminated))
      reason = terminated.signal ? `Signal:${String(terminated.signal)}` : `ExitCode:${String(terminated.exitCode)}`;
    else if (cs.ready === true && isObject(getPath(cs, ['state', 'running']))) {
      hasRunning = true;
      ready++;
    }
  }
  if (reason === 'Completed' && hasRunning) {
    const readyCond = arr(getPath(o, ['status', 'conditions'])).find((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
    reason = readyCond ? 'Running' : 'NotReady';
  }
  if (o.metadata.deletionTimestamp) reason = 'Terminating';
  return { reason, ready, restarts, lastRestart };
}

function servicePorts(o: KObject): string {
  const ports = arr(getPath(o, ['spec', 'ports'])).filter(isObject);
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`).join(',');
}

function firstThree(items: string[]): string {
  if (items.length === 0) return '<unset>';
  return items.length > 3 ? `${items.slice(0, 3).join(',')} + ${items.length - 3} more...` : items.join(',');
}

const WORKLOAD_WIDE: Column[] = [
  {
    name: 'Containers',
    type: 'string',
    priority: 1,
    cell: (o) =>
      containers(o)
        .map((c) => String(c.name))
        .join(','),
  },
  {
    name: 'Images',
    type: 'string',
    priority: 1,
    cell: (o) =>
      containers(o)
        .map((c) => String(c.image))
        .join(','),
  },
  { name: 'Selector', type: 'string', priority: 1, cell: (o) => labelSelectorString(getPath(o, ['spec', 'selector'])) },
];

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    { name: 'Ready', type: 'string', cell: (o) => `${podStatusReason(o).ready}/${arr(getPath(o, ['spec', 'containers'])).length}` },
    { name: 'Status', type: 'string', cell: (o) => podStatusReason(o).reason },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o, now) => {
        const s = podStatusReason(o);
        return s.lastRestart > 0 ? `${s.restarts} (${humanDuration(now - s.lastRestart)} ago)` : String(s.restarts);
      },
    },
    AGE,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => none(getPath(o, ['status', 'podIP'])) },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => none(getPath(o, ['spec', 'nodeName'])) },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: (o) => none(getPath(o, ['status', 'nominatedNodeName'])) },
    {
      name: 'Readiness Gates',
      type: 'string',
      priority: 1,
      cell: (o) => none(arr(getPath(o, ['spec', 'readinessGates'])).length || undefined),
    },
  ],
  Deployment: [
    { name: 'Ready', type: 'string', cell: (o) => `${num(o, ['status', 'readyReplicas'])}/${num(o, ['spec', 'replicas'])}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => num(o, ['status', 'updatedReplicas']) },
    { name: 'Available', type: 'integer', cell: (o) => num(o, ['status', 'availableReplicas']) },
    AGE,
    ...WORKLOAD_WIDE,
  ],
  ReplicaSet: [
    { name: 'Desired', type: 'integer', cell: (o) => num(o, ['spec', 'replicas']) },
    { name: 'Current', type: 'integer', cell: (o) => num(o, ['status', 'replicas']) },
    { name: 'Ready', type: 'integer', cell: (o) => num(o, ['status', 'readyReplicas']) },
    AGE,
    ...WORKLOAD_WIDE,
  ],
  Service: [
    { name: 'Type', type: 'string', cell: (o) => String(getPath(o, ['spec', 'type']) ?? 'ClusterIP') },
    { name: 'Cluster-IP', type: 'string', cell: (o) => none(getPath(o, ['spec', 'clusterIP'])) },
    { name: 'External-IP', type: 'string', cell: (o) => none(arr(getPath(o, ['spec', 'externalIPs'])).join(',')) },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    AGE,
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      cell: (o) =>
        none(
          Object.entries((getPath(o, ['spec', 'selector']) ?? {}) as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ),
    },
  ],
  EndpointSlice: [
    { name: 'AddressType', type: 'string', cell: (o) => String(o.addressType ?? '') },
    {
      name: 'Ports',
      type: 'string',
      cell: (o) =>
        firstThree(
          arr(o.ports)
            .filter(isObject)
            .map((p) => String(p.port)),
        ),
    },
    {
      name: 'Endpoints',
      type: 'string',
      cell: (o) =>
        firstThree(
          arr(o.endpoints)
            .filter(isObject)
            .flatMap((e) => arr(e.addresses).map(String)),
        ),
    },
    AGE,
  ],
  Namespace: [{ name: 'Status', type: 'string', cell: (o) => String(getPath(o, ['status', 'phase']) ?? '') }, AGE],
  Node: [
    { name: 'Status', type: 'string', cell: () => 'Ready' },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    AGE,
    { name: 'Version', type: 'string', cell: (o) => String(getPath(o, ['status', 'nodeInfo', 'kubeletVersion']) ?? '') },
  ],
  Event: [
    {
      name: 'Last Seen',
      type: 'string',
      cell: (o, now) => humanDuration(now - Date.parse(String(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp))),
    },
    { name: 'Type', type: 'string', cell: (o) => String(o.type ?? '') },
    { name: 'Reason', type: 'string', cell: (o) => String(o.reason ?? '') },
    {
      name: 'Object',
      type: 'string',
      cell: (o) =>
        `${String(getPath(o, ['involvedObject', 'kind']) ?? '').toLowerCase()}/${String(getPath(o, ['involvedObject', 'name']) ?? '')}`,
    },
    { name: 'Subobject', type: 'string', priority: 1, cell: (o) => String(getPath(o, ['involvedObject', 'fieldPath']) ?? '') },
    {
      name: 'Source',
      type: 'string',
      priority: 1,
      cell: (o) => [getPath(o, ['source', 'component']), getPath(o, ['source', 'host'])].filter(Boolean).join(', '),
    },
    { name: 'Message', type: 'string', cell: (o) => String(o.message ?? '') },
    {
      name: 'First Seen',
      type: 'string',
      priority: 1,
      cell: (o, now) => humanDuration(now - Date.parse(String(o.firstTimestamp ?? o.metadata.creationTimestamp))),
    },
    { name: 'Count', type: 'integer', priority: 1, cell: (o) => Number(o.count ?? 1) },
    { name: 'Name', type: 'string', priority: 1, cell: (o) => o.metadata.name ?? '' },
  ],
  Lease: [{ name: 'Holder', type: 'string', cell: (o) => String(getPath(o, ['spec', 'holderIdentity']) ?? '') }, AGE],
  ConfigMap: [
    {
      name: 'Data',
      type: 'integer',
      cell: (o) => Object.keys((o.data ?? {}) as object).length + Object.keys((o.binaryData ?? {}) as object).length,
    },
    AGE,
  ],
  Secret: [
    { name: 'Type', type: 'string', cell: (o) => String(o.type ?? '') },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data ?? {}) as object).length },
    AGE,
  ],
  ServiceAccount: [{ name: 'Secrets', type: 'integer', cell: (o) => arr(o.secrets).length }, AGE],
  PodDisruptionBudget: [
    { name: 'Min Available', type: 'string', cell: (o) => String(getPath(o, ['spec', 'minAvailable']) ?? 'N/A') },
    { name: 'Max Unavailable', type: 'string', cell: (o) => String(getPath(o, ['spec', 'maxUnavailable']) ?? 'N/A') },
    { name: 'Allowed Disruptions', type: 'integer', cell: (o) => num(o, ['status', 'disruptionsAllowed']) },
    AGE,
  ],
  RoleBinding: [
    { name: 'Role', type: 'string', cell: (o) => `${String(getPath(o, ['roleRef', 'kind']))}/${String(getPath(o, ['roleRef', 'name']))}` },
    AGE,
  ],
};
COLUMNS.ClusterRoleBinding = COLUMNS.RoleBinding as Column[];

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** True when the Accept header asks for a Table (`application/json;as=Table;v=v1;g=meta.k8s.io`). */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}

/** Events list their name only in `-o wide`, as the real event table does; every other kind leads with it. */
function columnsOf(rt: ResourceType): Column[] {
  const columns = COLUMNS[rt.kind] ?? [AGE];
  if (rt.kind === 'Event') return columns;
  return [{ name: 'Name', type: 'string', cell: (o) => o.metadata.name ?? '' }, ...columns];
}

function rowObject(o: KObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(rt: ResourceType, objects: KObject[], resourceVersion: string | undefined, include: IncludeObject): JsonObject {
  const columns = columnsOf(rt);
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: resourceVersion ? { resourceVersion } : {},
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.name === 'Name' ? 'name' : '',
      description: `${c.name} of the ${rt.singular}`,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const object = rowObject(o, include);
      return { cells: columns.map((c) => c.cell(o, now)), ...(object === undefined ? {} : { object }) };
    }),
  };
}
