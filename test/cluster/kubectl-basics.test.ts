// The real kubectl against the simulated cluster: apply, rollout status, what `get` prints,
// imperative creates (protobuf bodies), logs, scale, and the error messages a real cluster gives.

import t from 'tap';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubectl, kubectlOk, testCluster } from './helpers.ts';
import { waitFor } from '../../testkit/wait.ts';

t.test('apply a Deployment and a Service, roll out, and get what a cluster shows', async (t) => {
  const cluster = await testCluster(t);
  const manifest = `${DEMO_DEPLOYMENT('web', { replicas: 3 })}\n${DEMO_SERVICE('web')}`;
  const applied = await kubectlOk(cluster, ['apply', '-f', '-'], { input: manifest });
  t.match(applied, /deployment.apps\/web created/);
  t.match(applied, /service\/web created/);
  t.match(await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=20s']), /deployment "web" successfully rolled out/);
  t.match(
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: manifest }),
    /deployment.apps\/web unchanged/,
    'a second apply changes nothing',
  );

  const pods = await kubectlOk(cluster, ['get', 'po', '-o', 'wide']);
  t.match(pods, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  const podLines = pods.trim().split('\n').slice(1);
  t.equal(podLines.length, 3);
  for (const line of podLines) t.match(line, /^web-[b-z2-9]{6,10}-[b-z2-9]{5}\s+1\/1\s+Running\s+0\s+\S+\s+127\.\d+\.\d+\.\d+\s+sim-node/);

  const rs = await kubectlOk(cluster, ['get', 'rs']);
  t.match(rs, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n/);
  t.match(rs, /web-[b-z2-9]+\s+3\s+3\s+3\s/);
  const deploy = await kubectlOk(cluster, ['get', 'deploy', 'web']);
  t.match(deploy, /web\s+3\/3\s+3\s+3\s/);
  const slices = await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web']);
  t.match(slices, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\n/);
  t.match(slices, /web-[b-z2-9]{5}\s+IPv4\s+8080\s+127\.\d+\.\d+\.\d+,127\.\d+\.\d+\.\d+,127\.\d+\.\d+\.\d+\s/);
  t.match(await kubectlOk(cluster, ['get', 'svc', 'web']), /web\s+ClusterIP\s+127\.96\.\d+\.\d+\s+<none>\s+80\/TCP\s/);

  const d = JSON.parse(await kubectlOk(cluster, ['get', 'deploy', 'web', '-o', 'json']));
  t.equal(d.spec.strategy.rollingUpdate.maxSurge, '25%', 'server-side defaults');
  t.equal(d.spec.revisionHistoryLimit, 10);
  t.equal(d.spec.progressDeadlineSeconds, 600);
  t.equal(d.spec.template.metadata.creationTimestamp, null, 'templates echo creationTimestamp: null');
  t.equal(d.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  t.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '1');
  t.equal(d.metadata.generation, 1);
  t.equal(d.status.observedGeneration, 1);
  t.same(d.status.conditions.map((c: { type: string; reason: string }) => `${c.type}/${c.reason}`).sort(), [
    'Available/MinimumReplicasAvailable',
    'Progressing/NewReplicaSetAvailable',
  ]);

  const slice = JSON.parse(await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json']))
    .items[0];
  t.equal(slice.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  t.match(slice.metadata.ownerReferences[0], { kind: 'Service', name: 'web', controller: true, blockOwnerDeletion: true });
  t.same(slice.ports, [{ name: 'web', port: 8080, protocol: 'TCP' }], 'the named targetPort is resolved');
  for (const e of slice.endpoints) {
    t.same(e.conditions, { ready: true, serving: true, terminating: false });
    t.equal(e.targetRef.kind, 'Pod');
    t.equal(e.nodeName, 'sim-node');
  }

  // Each pod really listens on its own loopback IP and port, and reports its version.
  for (const e of slice.endpoints) {
    const res = await fetch(`http://${e.addresses[0]}:8080/`);
    const body = (await res.json()) as { version: string; pod: string };
    t.equal(body.version, 'v1', 'APP_VERSION comes from the image tag');
    t.equal(body.pod, e.targetRef.name);
  }
  t.match(await kubectlOk(cluster, ['logs', `pod/${slice.endpoints[0].targetRef.name}`]), /demo app listening/);
});

t.test('imperative creates send protobuf, and the server decodes them', async (t) => {
  const cluster = await testCluster(t);
  t.match(
    await kubectlOk(cluster, ['create', 'deployment', 'imp', '--image=demo:v7', '--port=8080', '--replicas=2']),
    /deployment.apps\/imp created/,
  );
  t.ok(cluster.requests.some((r) => r.method === 'POST' && r.contentType === 'application/vnd.kubernetes.protobuf' && r.status === 201));
  t.match(await kubectlOk(cluster, ['expose', 'deployment', 'imp', '--port=80', '--target-port=8080']), /service\/imp exposed/);
  t.match(await kubectlOk(cluster, ['create', 'secret', 'generic', 'sec', '--from-literal=password=hunter2']), /secret\/sec created/);
  t.match(await kubectlOk(cluster, ['create', 'configmap', 'cfg', '--from-literal=k=v']), /configmap\/cfg created/);
  t.match(await kubectlOk(cluster, ['create', 'namespace', 'other']), /namespace\/other created/);
  t.equal(
    Buffer.from(await kubectlOk(cluster, ['get', 'secret', 'sec', '-o', 'jsonpath={.data.password}']), 'base64').toString(),
    'hunter2',
  );
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/imp', '--timeout=20s']);
  const d = JSON.parse(await kubectlOk(cluster, ['get', 'deploy', 'imp', '-o', 'json']));
  t.equal(d.spec.template.spec.containers[0].image, 'demo:v7');
  t.equal(d.spec.template.spec.containers[0].ports[0].containerPort, 8080);
  t.notOk('paused' in d.spec, 'zero values of non-pointer fields stay absent, as in JSON');
  t.match(await kubectlOk(cluster, ['get', 'sa', '-n', 'other']), /default/, 'a new namespace gets its default ServiceAccount');
});

t.test('scale, shortNames, errors', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas: 1 }) });
  t.match(await kubectlOk(cluster, ['scale', 'deploy/web', '--replicas=3']), /deployment.apps\/web scaled/);
  await waitFor(
    '3 ready replicas',
    async () => (await kubectlOk(cluster, ['get', 'deploy', 'web', '-o', 'jsonpath={.status.readyReplicas}'])) === '3',
    15_000,
  );
  const scale = cluster.requests.find((r) => r.method === 'PATCH' && r.url.includes('/deployments/web/scale'));
  t.equal(scale?.contentType, 'application/merge-patch+json', 'kubectl scale merge-patches the scale subresource');
  t.match(await kubectlOk(cluster, ['scale', 'rs', '--all', '--replicas=3']), /scaled/);

  const missing = await kubectl(cluster, ['get', 'deploy', 'nope']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /Error from server \(NotFound\): deployments.apps "nope" not found/);
  const dup = await kubectl(cluster, ['create', 'deployment', 'web', '--image=demo:v1']);
  t.match(dup.stderr, /AlreadyExists|already exists/);
  const bad = await kubectl(cluster, ['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bad' },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c', image: 'demo:v1' }] } },
      },
    }),
  });
  t.match(
    bad.stderr,
    /The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: map\[string\]string\{"app":"y"\}: `selector` does not match template `labels`/,
  );
  t.match(await kubectlOk(cluster, ['get', 'all']), /deployment.apps\/web/, '`get all` follows the categories');
});
