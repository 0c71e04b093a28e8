// Write semantics of the simulated API server: create, update and delete with the apiserver's Status
// objects (apimachinery pkg/api/errors), the three patch types, selectors, Tables and MicroTime validation of Leases.

import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { kubeConfig, testCluster } from './helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';

const CM = '/api/v1/namespaces/default/configmaps';
const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';

// Response bodies are arbitrary Kubernetes JSON that the assertions walk freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function api(
  cluster: Cluster,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${cluster.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  t.equal(res.headers.get('content-type'), 'application/json', `${method} ${path} answers JSON`);
  return { status: res.status, body: (await res.json()) as Json };
}

const deployment = {
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'demo:v1',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
          },
          { name: 'side', image: 'demo:v1' },
        ],
      },
    },
  },
};

t.test('create, conflicts and the Status objects clients parse', async (t) => {
  const cluster = await testCluster(t);
  const created = await api(cluster, 'POST', CM, { metadata: { name: 'one' }, data: { a: '1' } });
  t.equal(created.status, 201);
  t.match(created.body.metadata, {
    name: 'one',
    namespace: 'default',
    uid: /^[0-9a-f-]{36}$/,
    resourceVersion: /^\d+$/,
    creationTimestamp: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  });
  const dup = await api(cluster, 'POST', CM, { metadata: { name: 'one' } });
  t.same(dup.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'configmaps "one" already exists',
    reason: 'AlreadyExists',
    details: { name: 'one', kind: 'configmaps' },
    code: 409,
  });
  t.equal(dup.status, 409);
  const generated = await api(cluster, 'POST', CM, { metadata: { generateName: 'gen-' } });
  t.match(generated.body.metadata.name, /^gen-[b-z2-9]{5}$/);

  const stale = { ...created.body, data: { a: '2' } };
  t.equal((await api(cluster, 'PUT', `${CM}/one`, stale)).status, 200);
  const conflict = await api(cluster, 'PUT', `${CM}/one`, { ...stale, data: { a: '3' } });
  t.equal(conflict.status, 409);
  t.equal(conflict.body.reason, 'Conflict');
  t.equal(
    conflict.body.message,
    'Operation cannot be fulfilled on configmaps "one": the object has been modified; please apply your changes to the latest version and try again',
  );

  const missing = await api(cluster, 'GET', `${DEPLOY}/nope`);
  t.same(missing.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'deployments.apps "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: 'apps', kind: 'deployments' },
    code: 404,
  });
  t.equal(
    (await api(cluster, 'POST', '/api/v1/namespaces/nowhere/configmaps', { metadata: { name: 'x' } })).body.message,
    'namespaces "nowhere" not found',
  );
  t.equal((await api(cluster, 'POST', CM, '{not json')).status, 400);

  const deleted = await api(cluster, 'DELETE', `${CM}/one`);
  t.match(deleted.body, {
    kind: 'Status',
    status: 'Success',
    details: { name: 'one', kind: 'configmaps', uid: created.body.metadata.uid },
  });

  // Generation counts spec changes only; status and metadata writes leave it.
  const d = await api(cluster, 'POST', DEPLOY, deployment);
  t.equal(d.body.metadata.generation, 1);
  const relabeled = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    { metadata: { labels: { extra: 'x' } } },
    { 'content-type': 'application/merge-patch+json' },
  );
  t.equal(relabeled.body.metadata.generation, 1);
  const respec = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    { spec: { paused: true } },
    { 'content-type': 'application/merge-patch+json' },
  );
  t.equal(respec.body.metadata.generation, 2);
  const cm = await api(cluster, 'POST', CM, { metadata: { name: 'still' }, data: { k: 'v' } });
  const same = await api(cluster, 'PATCH', `${CM}/still`, { data: { k: 'v' } }, { 'content-type': 'application/merge-patch+json' });
  t.equal(same.body.metadata.resourceVersion, cm.body.metadata.resourceVersion, 'a no-op write does not bump the resourceVersion');
  const scale = await api(cluster, 'GET', `${DEPLOY}/web/scale`);
  t.match(scale.body, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 0 }, status: { selector: 'app=web' } });
});

t.test('json-patch, merge-patch and strategic merge patch with merge keys and directives', async (t) => {
  const cluster = await testCluster(t);
  await api(cluster, 'POST', DEPLOY, deployment);
  const smp = { 'content-type': 'application/strategic-merge-patch+json' };
  // What `kubectl set image` sends: containers merge by name, the other container survives.
  const setImage = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    {
      spec: {
        template: {
          spec: {
            $setElementOrder: undefined,
            '$setElementOrder/containers': [{ name: 'app' }, { name: 'side' }],
            containers: [{ name: 'app', image: 'demo:v2' }],
          },
        },
      },
    },
    smp,
  );
  t.same(
    setImage.body.spec.template.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`),
    ['app=demo:v2', 'side=demo:v1'],
  );
  const env = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                env: [
                  { name: 'B', value: 'two' },
                  { name: 'C', value: '3' },
                  { name: 'A', $patch: 'delete' },
                ],
              },
            ],
          },
        },
      },
    },
    smp,
  );
  t.same(
    env.body.spec.template.spec.containers[0].env,
    [
      { name: 'B', value: 'two' },
      { name: 'C', value: '3' },
    ],
    'env merges by name; $patch: delete removes',
  );
  const retain = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
    smp,
  );
  t.same(retain.body.spec.strategy, { type: 'Recreate' });
  const replaced = await api(cluster, 'PATCH', `${DEPLOY}/web`, { metadata: { labels: { $patch: 'replace', only: 'this' } } }, smp);
  t.same(replaced.body.metadata.labels, { only: 'this' });

  const jp = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    [
      { op: 'replace', path: '/spec/replicas', value: 0 },
      { op: 'add', path: '/metadata/annotations', value: { a: 'b' } },
    ],
    { 'content-type': 'application/json-patch+json' },
  );
  t.equal(jp.status, 200);
  t.equal(jp.body.metadata.annotations.a, 'b');
  const failedTest = await api(cluster, 'PATCH', `${DEPLOY}/web`, [{ op: 'test', path: '/spec/replicas', value: 9 }], {
    'content-type': 'application/json-patch+json',
  });
  t.equal(failedTest.status, 422);
  const objectAsJsonPatch = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    { spec: { replicas: 1 } },
    { 'content-type': 'application/json-patch+json' },
  );
  t.equal(objectAsJsonPatch.status, 400, 'an object sent as a JSON patch is refused (a JSON patch is an array, RFC 6902 §3)');
  const ssa = await api(cluster, 'PATCH', `${DEPLOY}/web`, 'apiVersion: apps/v1', { 'content-type': 'application/apply-patch+yaml' });
  t.equal(ssa.status, 415);
  t.equal(ssa.body.reason, 'UnsupportedMediaType');
  const merge = await api(
    cluster,
    'PATCH',
    `${DEPLOY}/web`,
    { metadata: { annotations: { a: null, c: 'd' } } },
    { 'content-type': 'application/merge-patch+json' },
  );
  t.equal(merge.body.metadata.annotations.c, 'd');
  t.notOk('a' in merge.body.metadata.annotations, 'null deletes a key');
});

t.test('label and field selectors, and Tables', async (t) => {
  const cluster = await testCluster(t);
  for (const [name, labels] of [
    ['a', { env: 'prod', tier: 'web' }],
    ['b', { env: 'dev', tier: 'web' }],
    ['c', { env: 'prod' }],
  ] as const) {
    await api(cluster, 'POST', CM, { metadata: { name, labels } });
  }
  const names = async (q: string): Promise<string[]> =>
    (await api(cluster, 'GET', `${CM}?${q}`)).body.items
      .map((i: { metadata: { name: string } }) => i.metadata.name)
      .filter((n: string) => n.length === 1);
  t.same(await names('labelSelector=env%3Dprod'), ['a', 'c']);
  t.same(await names('labelSelector=env%3D%3Dprod,tier'), ['a']);
  t.same(await names('labelSelector=env!%3Dprod'), ['b']);
  t.same(await names('labelSelector=env%20in%20(dev,qa)'), ['b']);
  t.same(await names('labelSelector=env%20notin%20(dev)'), ['a', 'c']);
  t.same(await names('labelSelector=!tier'), ['c']);
  t.same(await names('fieldSelector=metadata.name%3Db'), ['b']);
  const bad = await api(cluster, 'GET', `${CM}?fieldSelector=spec.nodeName%3Dx`);
  t.equal(bad.status, 400);
  t.equal(bad.body.message, 'field label not supported: spec.nodeName');
  const table = await api(cluster, 'GET', CM, undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
  t.equal(table.body.kind, 'Table');
  t.same(
    table.body.columnDefinitions.map((c: { name: string }) => c.name),
    ['Name', 'Data', 'Age'],
  );
  t.equal(table.body.rows[0].object.kind, 'PartialObjectMetadata');
});

t.test('Leases take MicroTime: six fractional digits, else 400', async (t) => {
  const cluster = await testCluster(t);
  const coord = kubeConfig(cluster).makeApiClient(k8s.CoordinationV1Api);
  const now = new k8s.V1MicroTime();
  const lease = await coord.createNamespacedLease({
    namespace: 'default',
    body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now } },
  });
  t.match(String(lease.spec?.renewTime), /\.\d{6}Z$/);
  const err = (await coord
    .createNamespacedLease({
      namespace: 'default',
      body: { metadata: { name: 'bad' }, spec: { holderIdentity: 'a', renewTime: new Date() as k8s.V1MicroTime } },
    })
    .catch((e: unknown) => e)) as k8s.ApiException<string>;
  t.equal(err.code, 400);
  t.match(
    JSON.parse(err.body).message,
    /^Lease in version "v1" cannot be handled as a Lease: parsing time ".*\.\d{3}Z" as "2006-01-02T15:04:05\.000000Z07:00": cannot parse/,
  );
  const stale = { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } };
  await coord.replaceNamespacedLease({ name: 'leader', namespace: 'default', body: stale });
  const lost = (await coord
    .replaceNamespacedLease({ name: 'leader', namespace: 'default', body: { ...stale, spec: { ...stale.spec, holderIdentity: 'c' } } })
    .catch((e: unknown) => e)) as k8s.ApiException<string>;
  t.equal(lost.code, 409, 'optimistic concurrency: the second writer with a stale resourceVersion loses');
  const created = await coord.replaceNamespacedLease({
    name: 'fresh',
    namespace: 'default',
    body: { metadata: { name: 'fresh' }, spec: { holderIdentity: 'x' } },
  });
  t.equal(created.metadata?.name, 'fresh', 'PUT creates a missing Lease, as its strategy allows');
});
