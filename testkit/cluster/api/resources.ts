// The resource types the simulated API server serves: one table that discovery, OpenAPI, routing,
// the registry and the tables all read, so a kind is added in one place.

export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** `v1` or `apps/v1`. */
  readonly apiVersion: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** `status`, `scale` and `log` (pods). */
  readonly subresources: readonly string[];
  /** `metadata.generation` counts spec changes (Deployments, ReplicaSets, PDBs). */
  readonly generation: boolean;
  /** PUT of a missing object creates it (Leases, Events), as those strategies allow. */
  readonly allowCreateOnUpdate: boolean;
  /** Field selector labels besides metadata.name and metadata.namespace. */
  readonly fieldSelectors: readonly string[];
}

interface Spec {
  group?: string;
  version?: string;
  plural: string;
  kind: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  generation?: boolean;
  allowCreateOnUpdate?: boolean;
  fieldSelectors?: string[];
}

function define(s: Spec): ResourceType {
  const group = s.group ?? '';
  const version = s.version ?? 'v1';
  return {
    group,
    version,
    apiVersion: group ? `${group}/${version}` : version,
    plural: s.plural,
    singular: s.kind.toLowerCase(),
    kind: s.kind,
    namespaced: s.namespaced ?? true,
    shortNames: s.shortNames ?? [],
    categories: s.categories ?? [],
    subresources: s.subresources ?? [],
    generation: s.generation ?? false,
    allowCreateOnUpdate: s.allowCreateOnUpdate ?? false,
    fieldSelectors: s.fieldSelectors ?? [],
  };
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  define({
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    fieldSelectors: ['status.phase'],
  }),
  define({
    plural: 'nodes',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
    fieldSelectors: ['spec.unschedulable'],
  }),
  define({
    plural: 'pods',
    kind: 'Pod',
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'log'],
    fieldSelectors: [
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  }),
  define({ plural: 'services', kind: 'Service', shortNames: ['svc'], categories: ['all'], subresources: ['status'] }),
  define({
    plural: 'events',
    kind: 'Event',
    shortNames: ['ev'],
    allowCreateOnUpdate: true,
    fieldSelectors: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  }),
  define({ plural: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] }),
  define({ plural: 'secrets', kind: 'Secret', fieldSelectors: ['type'] }),
  define({ plural: 'serviceaccounts', kind: 'ServiceAccount', shortNames: ['sa'] }),
  define({
    group: 'apps',
    plural: 'deployments',
    kind: 'Deployment',
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    generation: true,
  }),
  define({
    group: 'apps',
    plural: 'replicasets',
    kind: 'ReplicaSet',
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    generation: true,
    fieldSelectors: ['status.replicas'],
  }),
  define({ group: 'discovery.k8s.io', plural: 'endpointslices', kind: 'EndpointSlice' }),
  define({ group: 'coordination.k8s.io', plural: 'leases', kind: 'Lease', allowCreateOnUpdate: true }),
  define({ group: 'rbac.authorization.k8s.io', plural: 'roles', kind: 'Role' }),
  define({ group: 'rbac.authorization.k8s.io', plural: 'rolebindings', kind: 'RoleBinding' }),
  define({ group: 'rbac.authorization.k8s.io', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false }),
  define({ group: 'rbac.authorization.k8s.io', plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false }),
  define({
    group: 'policy',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    shortNames: ['pdb'],
    subresources: ['status'],
    generation: true,
  }),
];

function byKind(kind: string): ResourceType {
  const rt = RESOURCE_TYPES.find((r) => r.kind === kind);
  if (!rt) throw new Error(`no resource type for kind ${kind}`);
  return rt;
}

/** The types the controllers use, by name. */
export const T = {
  namespaces: byKind('Namespace'),
  nodes: byKind('Node'),
  pods: byKind('Pod'),
  services: byKind('Service'),
  events: byKind('Event'),
  configmaps: byKind('ConfigMap'),
  secrets: byKind('Secret'),
  serviceaccounts: byKind('ServiceAccount'),
  deployments: byKind('Deployment'),
  replicasets: byKind('ReplicaSet'),
  endpointslices: byKind('EndpointSlice'),
  leases: byKind('Lease'),
} as const;

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceKey(rt: ResourceType): string {
  return `${rt.apiVersion}/${rt.plural}`;
}

/** Group versions in discovery order (the core group is served under /api, not /apis). */
export function groupVersions(): { group: string; version: string; types: ResourceType[] }[] {
  const out: { group: string; version: string; types: ResourceType[] }[] = [];
  for (const rt of RESOURCE_TYPES) {
    let gv = out.find((g) => g.group === rt.group && g.version === rt.version);
    if (!gv) out.push((gv = { group: rt.group, version: rt.version, types: [] }));
    gv.types.push(rt);
  }
  return out;
}
