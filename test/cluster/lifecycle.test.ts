// Object lifecycles in the simulated cluster: garbage collection through ownerReferences for each
// propagation policy, namespace deletion, bearer-token auth, and the EndpointSlice propagation delay.

import https from 'node:https';
import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubeConfig, kubectl, kubectlOk, testCluster } from './helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';
import { waitFor } from '../../testkit/wait.ts';

async function count(cluster: Cluster, what: string, ns = 'default'): Promise<number> {
  return JSON.parse(await kubectlOk(cluster, ['get', what, '-n', ns, '-o', 'json'])).items.length;
}

t.test('deleting a Deployment cascades in the background; orphan keeps the ReplicaSet; foreground waits', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('bg', { replicas: 2, grace: 1 }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/bg', '--timeout=20s']);
  t.match(await kubectlOk(cluster, ['delete', 'deployment', 'bg']), /deployment.apps "bg" deleted/);
  await waitFor(
    'ReplicaSets and pods to be collected',
    async () => (await count(cluster, 'rs')) === 0 && (await count(cluster, 'pods')) === 0,
    10_000,
  );

  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('orph', { replicas: 1, grace: 1 }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/orph', '--timeout=20s']);
  await kubectlOk(cluster, ['delete', 'deployment', 'orph', '--cascade=orphan']);
  const rs = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items;
  t.equal(rs.length, 1, 'the ReplicaSet stays');
  t.notOk(rs[0].metadata.ownerReferences, 'and loses its owner reference');
  t.equal(await count(cluster, 'pods'), 1);
  await kubectlOk(cluster, ['delete', 'rs', '--all']);

  // Pods that drain for a while keep the foreground deletion pending long enough to look at it.
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('fg', { replicas: 1, grace: 5, env: { DRAIN_MS: '3000' } }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/fg', '--timeout=20s']);
  const fgDelete = kubectlOk(cluster, ['delete', 'deployment', 'fg', '--cascade=foreground', '--wait=false']);
  await fgDelete;
  const pending = JSON.parse(await kubectlOk(cluster, ['get', 'deploy', 'fg', '-o', 'json']));
  t.ok(pending.metadata.deletionTimestamp, 'the owner waits with a deletionTimestamp');
  t.same(pending.metadata.finalizers, ['foregroundDeletion']);
  await waitFor('the owner to go after its dependents', async () => (await kubectl(cluster, ['get', 'deploy', 'fg'])).code === 1, 10_000);
  t.equal(await count(cluster, 'pods'), 0);
});

t.test('deleting a namespace empties it, then removes it', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['create', 'namespace', 'team']);
  await kubectlOk(cluster, ['apply', '-n', 'team', '-f', '-'], {
    input: `${DEMO_DEPLOYMENT('web', { replicas: 1, grace: 5, env: { DRAIN_MS: '3000' } })}\n${DEMO_SERVICE('web')}`,
  });
  await kubectlOk(cluster, ['rollout', 'status', '-n', 'team', 'deployment/web', '--timeout=20s']);
  t.match(await kubectlOk(cluster, ['delete', 'namespace', 'team', '--wait=false']), /namespace "team" deleted/);
  t.match(await kubectlOk(cluster, ['get', 'namespace', 'team']), /team\s+Terminating/);
  const refused = await kubectl(cluster, ['create', 'configmap', 'late', '-n', 'team']);
  t.match(refused.stderr, /unable to create new content in namespace team because it is being terminated/);
  await waitFor('the namespace to go', async () => (await kubectl(cluster, ['get', 'namespace', 'team'])).code === 1, 10_000);
});

t.test('bearer-token authentication', async (t) => {
  const cluster = await testCluster(t, { token: 's3cret' });
  const anonymous = await fetch(`${cluster.url}/api/v1/namespaces`);
  t.equal(anonymous.status, 401);
  t.match(await anonymous.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
  t.equal((await fetch(`${cluster.url}/api/v1/namespaces`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
  t.equal((await fetch(`${cluster.url}/version`)).status, 200, '/version is public');
  t.match(cluster.kubeconfigYaml, /insecure-skip-tls-verify: true/);
  const namespaces = await kubeConfig(cluster).makeApiClient(k8s.CoreV1Api).listNamespace();
  t.ok(
    namespaces.items.some((n) => n.metadata?.name === 'default'),
    'client-node sends the token from the kubeconfig',
  );
  // client-go applies user credentials only over TLS, so kubectl sends no token to an http server.
  const kubectlResult = await kubectl(cluster, ['get', 'ns']);
  t.equal(kubectlResult.code, 1);
  t.match(kubectlResult.stderr, /You must be logged in to the server/);
});

t.test('with TLS, kubectl sends the token too', async (t) => {
  const cluster = await testCluster(t, { token: 's3cret', tls: true });
  t.match(cluster.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.match(cluster.kubeconfigYaml, /certificate-authority-data: /);
  t.match(await kubectlOk(cluster, ['get', 'ns']), /default\s+Active/);
  await kubectlOk(cluster, ['create', 'secret', 'generic', 'release', '--from-literal=k=v']);
  const secrets = await kubeConfig(cluster).makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: 'default' });
  t.ok(
    secrets.items.some((x) => x.metadata?.name === 'release'),
    'client-node verifies the CA from the kubeconfig',
  );
  const anonymous = await new Promise<number>((resolve, reject) => {
    https
      .get(`${cluster.url}/api/v1/namespaces`, { ca: cluster.caPem }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  t.equal(anonymous, 401);

  // glidepath's in-cluster path, unchanged: service-account files and KUBERNETES_SERVICE_* env.
  const pod = await cluster.inCluster('default');
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  t.teardown(() => {
    if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
    else process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
    else process.env.KUBERNETES_SERVICE_PORT = saved.port;
  });
  Object.assign(process.env, pod.env);
  const kc = new k8s.KubeConfig();
  kc.loadFromCluster(pod.pathPrefix);
  t.equal(kc.getContextObject(kc.currentContext)?.namespace, 'default');
  const fromPod = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: 'default' });
  t.ok(
    fromPod.items.some((x) => x.metadata?.name === 'release'),
    'loadFromCluster works against the simulator',
  );
});

t.test('EndpointSlices lag pod changes by the configured delay', async (t) => {
  const cluster = await testCluster(t, { endpointSliceDelayMs: 600 });
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: `${DEMO_DEPLOYMENT('lag', { replicas: 1, grace: 1 })}\n${DEMO_SERVICE('lag')}` });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/lag', '--timeout=20s']);
  await waitFor(
    'the endpoint',
    async () => {
      const s = JSON.parse(await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=lag', '-o', 'json']))
        .items[0];
      return (s?.endpoints ?? []).some((e: { conditions: { ready: boolean } }) => e.conditions.ready);
    },
    10_000,
  );
  const pod = (await kubectlOk(cluster, ['get', 'pods', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const podReady = async (): Promise<boolean> => {
    const s = JSON.parse(await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=lag', '-o', 'json']))
      .items[0];
    return (s?.endpoints ?? []).some(
      (e: { targetRef: { name: string }; conditions: { ready: boolean } }) => e.targetRef.name === pod && e.conditions.ready,
    );
  };
  const deletedAt = Date.now();
  const deleted = await fetch(`${cluster.url}/api/v1/namespaces/default/pods/${pod}`, { method: 'DELETE' });
  t.equal(deleted.status, 200);
  await waitFor('the endpoint to stop being ready', async () => !(await podReady()), 10_000, 20);
  const lag = Date.now() - deletedAt;
  t.ok(lag >= 600, `the slice changed ${lag} ms after the pod`);
});
