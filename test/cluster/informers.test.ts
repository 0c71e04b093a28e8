// client-node 2.0.1 against the simulated cluster: informers list and watch, relist after 410
// Expired, and a restart wrapper (docs/kubernetes-notes.md) surviving a 500 and a dropped connection.

import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { kubeConfig, testCluster } from './helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

const NS = 'default';
const PATH = `/api/v1/namespaces/${NS}/pods`;
const SELECTOR = 'app=web';

function deploymentBody(replicas: number): k8s.V1Deployment {
  return {
    metadata: { name: 'web' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'demo:v1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

/** An informer stops for good on errors (client-node's ListWatch.doneHandler), so restart it with back-off. */
function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  listFn: () => Promise<k8s.KubernetesListObject<T>>,
  labelSelector?: string,
) {
  const informer = k8s.makeInformer<T>(kc, path, listFn, labelSelector);
  let stopping = false;
  let delay = 200;
  let timer: NodeJS.Timeout | undefined;
  const errors: unknown[] = [];
  const reset = (): void => {
    delay = 200;
  };
  informer.on('add', reset);
  informer.on('update', reset);
  informer.on('error', (err: unknown) => {
    if (stopping || (err as { name?: string })?.name === 'AbortError') return;
    errors.push(err);
    timer = setTimeout(() => {
      if (!stopping) void informer.start().catch(() => {});
    }, delay);
    delay = Math.min(delay * 2, 10_000);
  });
  return {
    informer,
    errors,
    start: () => informer.start(),
    stop: async () => {
      stopping = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}

function listRequests(cluster: Cluster): number {
  return cluster.requests.filter((r) => r.method === 'GET' && r.url.startsWith(PATH) && !r.url.includes('watch=true')).length;
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const cluster = await testCluster(t);
  const kc = kubeConfig(cluster);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const names = new Set<string>();
  const w = resilientInformer<k8s.V1Pod>(kc, PATH, () => core.listNamespacedPod({ namespace: NS, labelSelector: SELECTOR }), SELECTOR);
  w.informer.on('add', (p) => names.add(p.metadata?.name ?? ''));
  w.informer.on('delete', (p) => names.delete(p.metadata?.name ?? ''));
  t.teardown(() => w.stop());
  await w.start();
  return { cluster, apps, names, w };
}

t.test('an informer lists, then watches adds, updates and deletes', async (t) => {
  const { apps, names, w } = await setup(t);
  let readyUpdates = 0;
  w.informer.on('update', (p) => {
    if (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) readyUpdates++;
  });
  await apps.createNamespacedDeployment({ namespace: NS, body: deploymentBody(2) });
  await waitFor('two pods in the cache', () => names.size === 2);
  await waitFor('ready updates', () => readyUpdates >= 2);
  const cached = w.informer.list(NS);
  t.equal(cached.length, 2);
  for (const p of cached) t.match(p.metadata?.name, /^web-[b-z2-9]+-[b-z2-9]{5}$/);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 0 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('the pods to be deleted from the cache', () => names.size === 0, 10_000);
  t.same(w.errors, []);
});

t.test('410 Expired makes the informer relist', async (t) => {
  const { cluster, apps, names, w } = await setup(t);
  await apps.createNamespacedDeployment({ namespace: NS, body: deploymentBody(1) });
  await waitFor('one pod', () => names.size === 1);
  const listsBefore = listRequests(cluster);

  cluster.faults.expireNextWatch();
  cluster.faults.endWatches();
  await waitFor('a relist after the in-stream 410', () => listRequests(cluster) > listsBefore);

  // Compaction: the informer's resourceVersion is now too old for the server's history.
  await sleep(200);
  const listsMid = listRequests(cluster);
  // Any write moves the global resourceVersion past the informer's; compaction then makes it too old.
  const core = kubeConfig(cluster).makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'bump' } } });
  cluster.faults.compact();
  cluster.faults.endWatches();
  await waitFor('a relist after compaction', () => listRequests(cluster) > listsMid, 5_000);

  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 2 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('the informer keeps following changes', () => names.size === 2);
  t.same(w.errors, [], '410 is not an error for an informer');
});

t.test('the restart wrapper recovers from a 500 and from a dropped connection', async (t) => {
  const { cluster, apps, names, w } = await setup(t);
  await apps.createNamespacedDeployment({ namespace: NS, body: deploymentBody(1) });
  await waitFor('one pod', () => names.size === 1);

  cluster.faults.failNext(500, { watchOnly: true });
  cluster.faults.endWatches();
  await waitFor('the 500 to reach the informer', () => w.errors.length === 1);
  t.equal((w.errors[0] as { statusCode?: number }).statusCode, 500);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 2 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('changes after the restart', () => names.size === 2);

  cluster.faults.dropWatches();
  await waitFor('the reset to reach the informer', () => w.errors.length === 2);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 1 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('changes after the second restart', () => names.size === 1, 10_000);

  cluster.faults.dropNextConnection();
  cluster.faults.endWatches();
  await waitFor('the dropped reconnect to reach the informer', () => w.errors.length === 3);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 2 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('changes after the third restart', () => names.size === 2);
});

t.test('a plain informer stops for good on a 500 (the pitfall the wrapper exists for)', async (t) => {
  const cluster = await testCluster(t);
  const kc = kubeConfig(cluster);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1Pod>(kc, PATH, () => core.listNamespacedPod({ namespace: NS }));
  const errors: unknown[] = [];
  informer.on('error', (e) => errors.push(e));
  await informer.start();
  t.teardown(() => informer.stop());
  await waitFor('the watch to open', () => cluster.requests.some((r) => r.url.includes('watch=true')) || undefined);
  cluster.faults.failNext(500, { watchOnly: true });
  cluster.faults.endWatches();
  await waitFor('the error', () => errors.length === 1);
  const watchesBefore = cluster.requests.filter((r) => r.url.includes('watch=true')).length;
  await sleep(1200);
  t.equal(cluster.requests.filter((r) => r.url.includes('watch=true')).length, watchesBefore, 'no reconnect');
});
