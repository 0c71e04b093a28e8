// The simulated kubelet on bare pods: env from ConfigMaps and Secrets, liveness restarts, pods that
// run to completion, and several containers sharing one pod IP.

import t from 'tap';
import { kubectlOk, testCluster } from './helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';
import { waitFor } from '../../testkit/wait.ts';

interface PodJson {
  metadata: { name: string };
  status: {
    phase: string;
    podIP?: string;
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state: Record<string, { exitCode?: number }> }[];
  };
}

async function pod(cluster: Cluster, name: string): Promise<PodJson> {
  return JSON.parse(await kubectlOk(cluster, ['get', 'pod', name, '-o', 'json'])) as PodJson;
}

const podManifest = (name: string, spec: Record<string, unknown>): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: { terminationGracePeriodSeconds: 1, ...spec },
  });

t.test('container env resolves ConfigMap and Secret references; the image tag is only a default', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['create', 'configmap', 'cfg', '--from-literal=version=from-configmap']);
  await kubectlOk(cluster, ['create', 'secret', 'generic', 'sec', '--from-literal=latency=5']);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: podManifest('envy', {
      containers: [
        {
          name: 'app',
          image: 'demo:v9',
          ports: [{ containerPort: 8080 }],
          env: [
            { name: 'APP_VERSION', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'version' } } },
            { name: 'LATENCY_MS', valueFrom: { secretKeyRef: { name: 'sec', key: 'latency' } } },
          ],
        },
      ],
    }),
  });
  const running = await waitFor('the pod to run', async () => {
    const p = await pod(cluster, 'envy');
    return p.status.containerStatuses?.[0]?.ready ? p : undefined;
  });
  const info = await waitFor('the app to answer', () =>
    fetch(`http://${running.status.podIP}:8080/__pod/info`).then(
      (r) => r.json() as Promise<{ version: string; pod: string; behaviour: { latencyMs: number } }>,
    ),
  );
  t.equal(info.version, 'from-configmap');
  t.equal(info.pod, 'envy', 'POD_NAME is the pod name');
  t.equal(info.behaviour.latencyMs, 5);
});

t.test('a failing liveness probe restarts the container', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: podManifest('unwell', {
      containers: [
        {
          name: 'app',
          image: 'demo:v1',
          ports: [{ containerPort: 8080 }],
          livenessProbe: { httpGet: { path: '/status/500', port: 8080 }, initialDelaySeconds: 1, failureThreshold: 2 },
        },
      ],
    }),
  });
  await waitFor('a restart', async () => ((await pod(cluster, 'unwell')).status.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 10_000);
  const events = await kubectlOk(cluster, ['get', 'events', '--field-selector', 'involvedObject.name=unwell']);
  t.match(events, /Unhealthy\s+pod\/unwell\s+Liveness probe failed: HTTP probe failed with statuscode: 500/);
  t.match(events, /Killing\s+pod\/unwell\s+Container app failed liveness probe, will be restarted/);
});

t.test('restartPolicy Never: a crashed container leaves the pod Failed, and its endpoint goes', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: `${podManifest('once', { restartPolicy: 'Never', containers: [{ name: 'app', image: 'demo:v1', ports: [{ name: 'http', containerPort: 8080 }], env: [{ name: 'CRASH_AFTER', value: '1' }] }] })}
${JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'once' }, spec: { selector: { app: 'once' }, ports: [{ port: 80, targetPort: 'http' }] } })}`,
  });
  const p = await waitFor('the pod to run', async () => {
    const x = await pod(cluster, 'once');
    return x.status.containerStatuses?.[0]?.ready ? x : undefined;
  });
  // Without a readiness probe the pod is Ready as soon as its process starts, before it listens.
  await waitFor('the first answer', () => fetch(`http://${p.status.podIP}:8080/a`).then((r) => r.text()));
  await fetch(`http://${p.status.podIP}:8080/b`).catch(() => undefined);
  const failed = await waitFor('the Failed phase', async () => {
    const x = await pod(cluster, 'once');
    return x.status.phase === 'Failed' ? x : undefined;
  });
  t.equal(failed.status.containerStatuses?.[0]?.state.terminated?.exitCode, 1);
  t.equal(failed.status.containerStatuses?.[0]?.restartCount, 0);
  await waitFor('the endpoint to go', async () => {
    const s = JSON.parse(await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=once', '-o', 'json'])).items;
    return s.length === 1 && s[0].endpoints === null;
  });
  t.match(await kubectlOk(cluster, ['get', 'pod', 'once']), /once\s+0\/1\s+Error\s+0\s/);
});

t.test('containers of one pod share its IP, each on its own port', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: podManifest('pair', {
      containers: [
        { name: 'main', image: 'demo:v1', ports: [{ containerPort: 8080 }] },
        { name: 'side', image: 'sidecar:v5', ports: [{ containerPort: 9090 }] },
      ],
    }),
  });
  const p = await waitFor('both containers ready', async () => {
    const x = await pod(cluster, 'pair');
    return x.status.containerStatuses?.every((c) => c.ready) ? x : undefined;
  });
  t.match(await kubectlOk(cluster, ['get', 'pod', 'pair']), /pair\s+2\/2\s+Running/);
  const versions = await Promise.all(
    [8080, 9090].map((port) =>
      waitFor(`port ${port}`, () => fetch(`http://${p.status.podIP}:${port}/`).then((r) => r.json() as Promise<{ version: string }>)),
    ),
  );
  t.same(
    versions.map((v) => v.version),
    ['v1', 'v5'],
  );
  t.match(await kubectlOk(cluster, ['logs', 'pair', '-c', 'side']), /"port":9090/);
});
