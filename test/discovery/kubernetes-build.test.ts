// The pure parts of Kubernetes discovery: ports, conditions, versions and revisions, held and
// remembered endpoints, template equality, the cluster view, back-off, and config validation.

import t from 'tap';
import type * as k8s from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/load.ts';
import {
  buildClusterView,
  buildSnapshot,
  labelSelectorString,
  resolvePort,
  sameTemplate,
  type PortChoice,
} from '../../src/discovery/kubernetes/build.ts';
import { nextBackoff } from '../../src/discovery/kubernetes/informer.ts';
import { kubernetesError, RequestError } from '../../src/discovery/kubernetes/errors.ts';

const service = (ports: k8s.V1ServicePort[]): k8s.V1Service => ({
  metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { app: 'web' }, ports },
});

function pod(name: string, hash: string, rsUid = `uid-rs-${hash}`, extra: Partial<k8s.V1PodStatus> = {}): k8s.V1Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: { app: 'web', 'pod-template-hash': hash },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${hash}`, uid: rsUid, controller: true }],
    },
    status: { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }], ...extra },
  };
}

function rs(
  hash: string,
  revision: number,
  replicas = 1,
  template: k8s.V1PodTemplateSpec = templateOf('demo:v1', hash),
  ownerUid = 'uid-deploy',
): k8s.V1ReplicaSet {
  return {
    metadata: {
      name: `web-${hash}`,
      namespace: 'default',
      uid: `uid-rs-${hash}`,
      labels: { app: 'web', 'pod-template-hash': hash },
      annotations: { 'deployment.kubernetes.io/revision': String(revision) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: ownerUid, controller: true }],
      creationTimestamp: `2026-01-01T00:00:0${revision}Z` as unknown as Date,
    },
    spec: { replicas, selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } }, template },
    status: { replicas, readyReplicas: replicas, availableReplicas: replicas },
  };
}

function templateOf(image: string, hash?: string): k8s.V1PodTemplateSpec {
  return {
    metadata: { labels: { app: 'web', ...(hash ? { 'pod-template-hash': hash } : {}) } },
    spec: { containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

function endpoint(
  ip: string,
  podName: string,
  conditions: k8s.V1EndpointConditions = { ready: true, serving: true, terminating: false },
): k8s.V1Endpoint {
  return { addresses: [ip], conditions, targetRef: { kind: 'Pod', namespace: 'default', name: podName, uid: `uid-${podName}` } };
}

function slice(
  endpoints: k8s.V1Endpoint[],
  ports: k8s.DiscoveryV1EndpointPort[] = [{ name: 'web', port: 8080, protocol: 'TCP' }],
  addressType = 'IPv4',
): k8s.V1EndpointSlice {
  return {
    metadata: { name: `web-${Math.random().toString(36).slice(2, 7)}`, labels: { 'kubernetes.io/service-name': 'web' } },
    addressType,
    endpoints,
    ports,
  };
}

const BY_NAME: PortChoice = { byName: 'web' };

t.test('resolvePort: first port, by name, by Service port number, by target port number, unknown', async (t) => {
  const svc = service([
    { name: 'web', port: 80, targetPort: 'http' as unknown as k8s.IntOrString },
    { name: 'admin', port: 9000, targetPort: 9000 as unknown as k8s.IntOrString },
  ]);
  t.same(resolvePort(svc, ''), { byName: 'web' });
  t.same(resolvePort(svc, 'admin'), { byName: 'admin' });
  t.same(resolvePort(svc, '80'), { byName: 'web' });
  t.same(resolvePort(svc, '8080'), { byNumber: 8080 }, "not a Service port: the pods' port number");
  t.match(
    resolvePort(svc, 'grpc'),
    /Service "default\/web" has no port named "grpc" \(its ports: web 80→http, admin 9000→9000\); fix kubernetes.port/,
  );
  t.match(resolvePort(service([]), ''), /has no ports/);
  t.same(resolvePort(service([{ port: 80 }]), ''), { byName: '' }, 'an unnamed single port');
});

t.test('conditions: ready serves, terminating drains, serving-but-terminating is a fallback only', async (t) => {
  const pods = new Map([
    ['a', pod('a', 'h1')],
    ['b', pod('b', 'h1')],
    ['c', pod('c', 'h1')],
    ['d', pod('d', 'h1')],
    ['e', pod('e', 'h1')],
  ]);
  const { snapshot } = buildSnapshot({
    slices: [
      slice([
        endpoint('10.0.0.1', 'a'),
        endpoint('10.0.0.2', 'b', { ready: false, serving: true, terminating: true }),
        endpoint('10.0.0.3', 'c', { ready: false, serving: false, terminating: false }),
        endpoint('10.0.0.4', 'd', { ready: true, serving: false, terminating: false }), // publishNotReadyAddresses
        endpoint('10.0.0.5', 'e', {}), // nil conditions
      ]),
    ],
    pod: (n) => pods.get(n),
    replicaSets: [rs('h1', 3)],
    port: BY_NAME,
    remembered: new Map(),
  });
  const by = Object.fromEntries(snapshot.endpoints.map((e) => [e.host, [e.ready, e.serving, e.terminating]]));
  t.same(by, {
    '10.0.0.1': [true, true, false],
    '10.0.0.2': [false, true, true],
    '10.0.0.3': [false, false, false],
    '10.0.0.4': [false, false, false],
    '10.0.0.5': [true, true, false],
  });
  t.same(snapshot.versions, [{ name: 'h1', revision: 3 }]);
  t.ok(snapshot.endpoints.every((e) => e.port === 8080 && e.version === 'h1'));
  t.equal(snapshot.weights, undefined, 'Kubernetes discovery never sets weights');
});

t.test('versions: pod-template-hash, revision from the ReplicaSet, newest first; inactive old ReplicaSets left out', async (t) => {
  const pods = new Map([
    ['a', pod('a', 'old')],
    ['b', pod('b', 'new')],
  ]);
  const { snapshot } = buildSnapshot({
    slices: [slice([endpoint('10.0.0.1', 'a'), endpoint('10.0.0.2', 'b')])],
    pod: (n) => pods.get(n),
    replicaSets: [rs('old', 1), rs('new', 2), rs('ancient', 0, 0)],
    port: BY_NAME,
    remembered: new Map(),
  });
  t.same(snapshot.versions, [
    { name: 'new', revision: 2 },
    { name: 'old', revision: 1 },
  ]);
  t.same(
    snapshot.endpoints.map((e) => [e.host, e.version, e.name]),
    [
      ['10.0.0.1', 'old', 'a'],
      ['10.0.0.2', 'new', 'b'],
    ],
  );
});

t.test('a pod not yet seen: its ReplicaSet from the pod name, else held; a deleted pod keeps its version', async (t) => {
  const remembered = new Map<string, string>();
  const pods = new Map([['web-h1-aaaaa', pod('web-h1-aaaaa', 'h1')]]);
  const slices = [slice([endpoint('10.0.0.1', 'web-h1-aaaaa'), endpoint('10.0.0.2', 'web-h2-bbbbb'), endpoint('10.0.0.3', 'stray-pod')])];
  const first = buildSnapshot({ slices, pod: (n) => pods.get(n), replicaSets: [rs('h1', 1), rs('h2', 2)], port: BY_NAME, remembered });
  t.same(
    first.snapshot.endpoints.map((e) => [e.host, e.version]),
    [
      ['10.0.0.1', 'h1'],
      ['10.0.0.2', 'h2'],
    ],
  );
  t.same(first.pending, ['stray-pod'], 'no pod, no matching ReplicaSet: held until the pod is seen');

  pods.clear();
  const second = buildSnapshot({ slices, pod: () => undefined, replicaSets: [], port: BY_NAME, remembered });
  t.same(
    second.snapshot.endpoints.map((e) => [e.host, e.version]),
    [['10.0.0.1', 'h1']],
    'remembered after the pod left the cache',
  );

  buildSnapshot({ slices: [slice([])], pod: () => undefined, replicaSets: [], port: BY_NAME, remembered });
  t.equal(remembered.size, 0, 'forgotten once the endpoint left every slice');
});

t.test('several slices: ports per slice, an address in two slices takes the terminating copy, FQDN slices skipped', async (t) => {
  const pods = new Map([
    ['a', pod('a', 'h1')],
    ['b', pod('b', 'h1')],
  ]);
  const { snapshot } = buildSnapshot({
    slices: [
      slice([endpoint('10.0.0.1', 'a')]),
      slice([endpoint('10.0.0.1', 'a', { ready: false, serving: true, terminating: true })]),
      slice([endpoint('10.0.0.2', 'b')], [{ name: 'web', port: 9090, protocol: 'TCP' }]),
      slice([endpoint('10.0.0.9', 'b')], [{ name: 'other', port: 1 }]),
      slice([endpoint('example.com', 'b')], undefined, 'FQDN'),
    ],
    pod: (n) => pods.get(n),
    replicaSets: [rs('h1', 1)],
    port: BY_NAME,
    remembered: new Map(),
  });
  t.same(
    snapshot.endpoints.map((e) => [e.host, e.port, e.ready, e.terminating]),
    [
      ['10.0.0.1', 8080, false, true],
      ['10.0.0.2', 9090, true, false],
    ],
  );
  const byNumber = buildSnapshot({
    slices: [slice([endpoint('10.0.0.2', 'b')], [{ name: 'web', port: 9090 }])],
    pod: (n) => pods.get(n),
    replicaSets: [],
    port: { byNumber: 9090 },
    remembered: new Map(),
  });
  t.equal(byNumber.snapshot.endpoints[0]?.port, 9090);
});

t.test('template equality is semantic and ignores the hash label', async (t) => {
  t.ok(sameTemplate(templateOf('demo:v1', 'abc'), templateOf('demo:v1')));
  const withNulls = {
    ...templateOf('demo:v1'),
    metadata: { ...templateOf('demo:v1').metadata, creationTimestamp: null as unknown as Date, annotations: {} },
  };
  t.ok(sameTemplate(withNulls, templateOf('demo:v1')), 'null, absent and empty are equal');
  t.notOk(sameTemplate(templateOf('demo:v2'), templateOf('demo:v1')));
  t.equal(
    labelSelectorString({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'x', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,tier in (a,b),!x',
  );
});

t.test('the cluster view: template hash of the matching ReplicaSet, pod health per ReplicaSet', async (t) => {
  const deployment: k8s.V1Deployment = {
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'uid-deploy',
      generation: 4,
      resourceVersion: '99',
      annotations: { 'deployment.kubernetes.io/revision': '2' },
    },
    spec: {
      replicas: 2,
      paused: true,
      selector: { matchLabels: { app: 'web' } },
      template: templateOf('demo:v2'),
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: '25%' as unknown as k8s.IntOrString, maxUnavailable: 1 as unknown as k8s.IntOrString },
      },
    },
    status: {
      observedGeneration: 3,
      replicas: 3,
      updatedReplicas: 1,
      readyReplicas: 2,
      availableReplicas: 2,
      conditions: [
        {
          type: 'Progressing',
          status: 'Unknown',
          reason: 'DeploymentPaused',
          message: 'Deployment is paused',
          lastUpdateTime: '2026-01-01T00:00:00Z' as unknown as Date,
        },
      ],
    },
  };
  const crashing = pod('web-new-ccccc', 'new', 'uid-rs-new', {
    containerStatuses: [
      {
        name: 'app',
        image: 'demo:v2',
        imageID: '',
        ready: false,
        restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error' } },
      },
    ],
    conditions: [{ type: 'Ready', status: 'False' }],
  });
  const view = buildClusterView({
    namespace: 'default',
    service: 'web',
    deploymentName: 'web',
    deployment,
    synced: true,
    deploymentListed: true,
    replicaSets: [
      rs('old', 1, 2, templateOf('demo:v1', 'old')),
      rs('new', 2, 1, templateOf('demo:v2', 'new')),
      rs('foreign', 7, 1, templateOf('demo:v2', 'foreign'), 'uid-other'),
    ],
    pods: [pod('web-old-aaaaa', 'old'), pod('web-old-bbbbb', 'old'), crashing],
  });
  t.equal(view.deployment?.templateHash, 'new');
  t.equal(view.deployment?.newReplicaSet, 'web-new');
  t.equal(view.deployment?.paused, true);
  t.equal(view.deployment?.revision, 2);
  t.same([view.deployment?.generation, view.deployment?.observedGeneration], [4, 3]);
  t.same(view.deployment?.strategy, { type: 'RollingUpdate', maxSurge: '25%', maxUnavailable: 1 });
  t.equal(view.deployment?.conditions[0]?.reason, 'DeploymentPaused');
  t.same(
    view.replicaSets.map((r) => [r.name, r.hash, r.revision]),
    [
      ['web-new', 'new', 2],
      ['web-old', 'old', 1],
    ],
    'only ReplicaSets the Deployment controls, newest first',
  );
  const newHealth = view.replicaSets[0]?.podHealth;
  t.same([newHealth?.total, newHealth?.ready, newHealth?.restarts], [1, 0, 4]);
  t.same(newHealth?.waitingReasons, { CrashLoopBackOff: 1 });
  t.same(newHealth?.lastTerminationReasons, { Error: 1 });
  t.equal(view.replicaSets[1]?.podHealth.ready, 2);
  t.notOk(view.deploymentMissing);
  const plain = (v: unknown): boolean =>
    v === null ||
    typeof v !== 'object' ||
    ((Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype) && Object.values(v).every(plain));
  t.ok(plain(view), 'plain data: no class instances, no Dates');

  const missing = buildClusterView({
    namespace: 'default',
    service: 'web',
    deploymentName: 'web',
    deployment: undefined,
    synced: false,
    deploymentListed: true,
    replicaSets: [],
    pods: [],
  });
  t.ok(missing.deploymentMissing);
});

t.test('back-off doubles to its cap with equal jitter', async (t) => {
  const b = { initialMs: 100, maxMs: 1000 };
  let prev = 0;
  const bases: number[] = [];
  for (let i = 0; i < 6; i++) {
    const lo = nextBackoff(prev, b, () => 0);
    const hi = nextBackoff(prev, b, () => 1);
    bases.push(hi.delayMs);
    t.equal(lo.delayMs * 2, hi.delayMs, 'half fixed, half random');
    prev = hi.nextMs;
  }
  t.same(bases, [100, 200, 400, 800, 1000, 1000]);
});

t.test('errors say what to fix', async (t) => {
  const req = { resource: 'pods', group: '', namespace: 'shop' };
  const forbidden = kubernetesError({ ...req, verb: 'watch' }, Object.assign(new Error('Forbidden'), { statusCode: 403 }), 'https://k');
  t.equal(forbidden.code, 'GP_KUBERNETES_FORBIDDEN');
  t.match(forbidden.message, /forbidden to watch pods in namespace "shop".*Role in "shop" with apiGroups: \[""\], resources: \["pods"\]/);
  const listed = kubernetesError(
    { ...req, verb: 'watch' },
    new RequestError({ ...req, verb: 'list' }, Object.assign(new Error('x'), { code: 500, body: '{"message":"etcd is sad"}' })),
    'https://k',
  );
  t.equal(listed.code, 'GP_KUBERNETES_SERVER_ERROR');
  t.match(listed.message, /HTTP 500 to watch pods.*etcd is sad/);
  const refused = kubernetesError(
    { ...req, verb: 'list' },
    new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }),
    'https://k',
  );
  t.equal(refused.code, 'GP_KUBERNETES_UNREACHABLE');
  t.match(refused.message, /cannot reach the API server at https:\/\/k .*\(ECONNREFUSED\)/);
});

t.test('config: Kubernetes keys validated, exclusive with endpoints.file, flags and env', async (t) => {
  t.throws(() => loadConfig({ flags: { 'endpoints.file': 'x.yaml', 'kubernetes.service': 'web' } }), {
    message: /kubernetes\.service: set either kubernetes\.service .* or endpoints\.file \(x\.yaml\), not both/,
  });
  t.throws(() => loadConfig({ flags: { 'kubernetes.deployment': 'web' } }), {
    message: /kubernetes\.deployment: needs kubernetes\.service/,
  });
  t.throws(() => loadConfig({ flags: { 'kubernetes.service': 'Web_1' } }), { message: /kubernetes\.service/ });
  t.throws(() => loadConfig({ flags: { 'kubernetes.service': 'web', 'kubernetes.port': '70000' } }), {
    message: /kubernetes\.port: port number out of range/,
  });
  const c = loadConfig({
    env: {
      GLIDEPATH_KUBERNETES_SERVICE: 'web',
      GLIDEPATH_KUBERNETES_NAMESPACE: 'shop',
      GLIDEPATH_KUBERNETES_PORT: '8080',
      GLIDEPATH_KUBERNETES_REQUEST_TIMEOUT: '3s',
    },
  });
  t.same(c.kubernetes, { kubeconfig: '', namespace: 'shop', service: 'web', deployment: '', port: '8080', requestTimeout: 3000 });
});
