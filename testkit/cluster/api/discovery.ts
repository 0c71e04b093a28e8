// Legacy discovery (`/api`, `/apis`, group versions with shortNames and subresources) and the
// minimal OpenAPI v3 that lets plain `kubectl apply` validate through the server (docs/kubernetes-notes.md, "kubectl").

import { groupVersions, RESOURCE_TYPES } from './resources.ts';
import type { ResourceType } from './resources.ts';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T16:00:00Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(group: string): unknown {
  const versions = groupVersions()
    .filter((g) => g.group === group)
    .map((g) => ({ groupVersion: `${group}/${g.version}`, version: g.version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): unknown {
  const groups = [
    ...new Set(
      groupVersions()
        .map((g) => g.group)
        .filter((g) => g !== ''),
    ),
  ];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) };
}

export function apiGroupDoc(group: string): unknown | undefined {
  if (!RESOURCE_TYPES.some((r) => r.group === group && group !== '')) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...(apiGroup(group) as object) };
}

function subresourceEntries(rt: ResourceType): unknown[] {
  return rt.subresources.map((sub) => {
    if (sub === 'scale')
      return {
        name: `${rt.plural}/scale`,
        singularName: '',
        namespaced: rt.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      };
    if (sub === 'log') return { name: `${rt.plural}/log`, singularName: '', namespaced: rt.namespaced, kind: 'Pod', verbs: ['get'] };
    return { name: `${rt.plural}/${sub}`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: ['get', 'patch', 'update'] };
  });
}

export function apiResourceList(group: string, version: string): unknown | undefined {
  const gv = groupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: gv.types.flatMap((rt) => [
      {
        name: rt.plural,
        singularName: rt.singular,
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: VERBS,
        ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
        ...(rt.categories.length ? { categories: rt.categories } : {}),
      },
      ...subresourceEntries(rt),
    ]),
  };
}

const OPENAPI_HASH = 'GLIDEPATHSIM1';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Index(): unknown {
  const paths: Record<string, unknown> = {};
  for (const g of groupVersions())
    paths[gvPath(g.group, g.version)] = { serverRelativeURL: `/openapi/v3/${gvPath(g.group, g.version)}?hash=${OPENAPI_HASH}` };
  return { paths };
}

/**
 * A group version's OpenAPI v3 document reduced to what kubectl reads: operations with their
 * group-version-kind and the `fieldValidation` parameter (server-side validation is then used).
 */
export function openApiV3Document(path: string): unknown | undefined {
  const gv = groupVersions().find((g) => gvPath(g.group, g.version) === path);
  if (!gv) return undefined;
  const writeParams = ['fieldValidation', 'fieldManager', 'dryRun', 'pretty'].map((name) => ({
    name,
    in: 'query',
    schema: { type: 'string', uniqueItems: true },
  }));
  const paths: Record<string, unknown> = {};
  for (const rt of gv.types) {
    const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
    const op = (action: string, params: unknown[] = []): unknown => ({
      operationId: `${action}${rt.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      parameters: params,
      responses: {},
    });
    const base = `/${gvPath(rt.group, rt.version)}${rt.namespaced ? '/namespaces/{namespace}' : ''}/${rt.plural}`;
    paths[base] = { get: op('list'), post: op('post', writeParams), delete: op('deletecollection') };
    paths[`${base}/{name}`] = { get: op('get'), put: op('put', writeParams), patch: op('patch', writeParams), delete: op('delete') };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion }, paths, components: { schemas: {} } };
}
