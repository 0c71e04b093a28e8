// The pure parts of the simulated cluster, without a server: selectors, the three patch types,
// the Deployment controller's arithmetic and annotations, and the apiserver's duration format.

import t from 'tap';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../testkit/cluster/api/patch.ts';
import { humanDuration, semanticEqual } from '../../testkit/cluster/api/objects.ts';
import { labelSelectorString, matchesLabels, parseLabelSelector } from '../../testkit/cluster/api/selectors.ts';
import { ApiError } from '../../testkit/cluster/api/errors.ts';
import {
  equalIgnoreHash,
  maxSurge,
  maxUnavailable,
  newRSNewReplicas,
  proportion,
  setNewReplicaSetAnnotations,
} from '../../testkit/cluster/controllers/deployment-util.ts';
import type { Deployment, ReplicaSet } from '../../testkit/cluster/controllers/deployment-util.ts';

t.test('label selectors', async (t) => {
  const sel = parseLabelSelector('app=web,tier in (a, b),!canary,env!=dev,track');
  t.ok(matchesLabels(sel, { app: 'web', tier: 'b', env: 'prod', track: 'x' }));
  t.notOk(matchesLabels(sel, { app: 'web', tier: 'b', env: 'prod', track: 'x', canary: '1' }));
  t.notOk(matchesLabels(sel, { app: 'web', tier: 'c', track: 'x' }));
  t.ok(matchesLabels(parseLabelSelector(''), {}), 'empty matches all');
  t.throws(() => parseLabelSelector('a=b=c'), ApiError);
  t.equal(
    labelSelectorString({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['x'] }] }),
    'app=web,tier notin (x)',
  );
});

t.test('JSON patch and merge patch', async (t) => {
  const doc = { a: [1, 2], b: { c: 1 } };
  t.same(
    applyJsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'move', from: '/b/c', path: '/d' },
      { op: 'copy', from: '/d', path: '/e' },
      { op: 'remove', path: '/a/0' },
    ]),
    { a: [2, 3], b: {}, d: 1, e: 1 },
  );
  t.same(doc, { a: [1, 2], b: { c: 1 } }, 'the input is not mutated');
  t.throws(() => applyJsonPatch(doc, [{ op: 'replace', path: '/missing', value: 1 }]));
  t.same(applyJsonPatch({ 'x/y': { '~': 1 } }, [{ op: 'replace', path: '/x~1y/~0', value: 2 }]), { 'x/y': { '~': 2 } });
  t.same(applyMergePatch({ a: { b: 1, c: 2 }, l: [1] }, { a: { b: null, d: 3 }, l: [2] }), { a: { c: 2, d: 3 }, l: [2] });
});

t.test('strategic merge patch keys and directives', async (t) => {
  const pod = {
    spec: { containers: [{ name: 'a', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 81 }] }] },
    metadata: { finalizers: ['x'], ownerReferences: [{ uid: '1', name: 'o' }] },
  };
  const out = applyStrategicMergePatch(
    pod,
    {
      spec: { containers: [{ name: 'a', ports: [{ containerPort: 81, name: 'admin' }] }] },
      metadata: { finalizers: ['y'], ownerReferences: [{ uid: '1', controller: true }], '$deleteFromPrimitiveList/finalizers': ['x'] },
    },
    'Pod',
  ) as typeof pod;
  t.same(
    out.spec.containers[0]?.ports,
    [
      { containerPort: 80, name: 'http' },
      { containerPort: 81, name: 'admin' },
    ],
    'container ports merge by containerPort',
  );
  t.same(out.metadata.finalizers, ['y'], 'finalizers are a set; $deleteFromPrimitiveList removes');
  t.same(out.metadata.ownerReferences, [{ uid: '1', name: 'o', controller: true }], 'ownerReferences merge by uid');
  const svc = applyStrategicMergePatch(
    { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } },
    { spec: { ports: [{ port: 80, targetPort: 9090 }] } },
    'Service',
  ) as { spec: { ports: unknown[] } };
  t.same(svc.spec.ports, [{ port: 80, targetPort: 9090 }, { port: 443 }], 'service ports merge by port');
  const replaced = applyStrategicMergePatch(
    { spec: { containers: [{ name: 'a' }, { name: 'b' }] } },
    { spec: { containers: [{ name: 'c' }, { $patch: 'replace' }] } },
    'Pod',
  );
  t.same(replaced, { spec: { containers: [{ name: 'c' }] } });
  t.same(
    applyStrategicMergePatch({ spec: { tolerations: [{ key: 'a' }] } }, { spec: { tolerations: [{ key: 'b' }] } }, 'Pod'),
    { spec: { tolerations: [{ key: 'b' }] } },
    'lists without a strategy are replaced',
  );
});

function deployment(replicas: number, maxSurge: number | string, maxUnavailable: number | string): Deployment {
  return {
    metadata: { name: 'web', annotations: {} },
    spec: { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } }, selector: {}, template: {} },
  };
}

function rs(name: string, replicas: number, annotations: Record<string, string> = {}): ReplicaSet {
  return { metadata: { name, annotations }, spec: { replicas, selector: {}, template: {} } };
}

t.test('rolling-update fenceposts round surge up and unavailability down', async (t) => {
  const cases: [number, string | number, string | number, number, number][] = [
    [4, '25%', '25%', 1, 1],
    [1, '25%', '25%', 1, 0],
    [10, '25%', '25%', 3, 2],
    [5, '25%', '25%', 2, 1],
    [3, 0, '10%', 0, 1],
    [2, 5, 5, 5, 2],
    [0, '25%', '25%', 0, 0],
  ];
  for (const [replicas, surge, unavailable, wantSurge, wantUnavailable] of cases) {
    const d = deployment(replicas, surge, unavailable);
    t.equal(maxSurge(d), wantSurge, `replicas ${replicas}: surge ${surge} -> ${wantSurge}`);
    t.equal(maxUnavailable(d), wantUnavailable, `replicas ${replicas}: unavailable ${unavailable} -> ${wantUnavailable}`);
  }
  const d = deployment(4, 1, 1);
  t.equal(newRSNewReplicas(d, [rs('old', 4), rs('new', 0)], rs('new', 0)), 1, 'scale up by the surge');
  t.equal(newRSNewReplicas(d, [rs('old', 3), rs('new', 2)], rs('new', 2)), 2, 'no room above replicas + surge');
  t.equal(newRSNewReplicas({ ...d, spec: { ...d.spec, strategy: { type: 'Recreate' } } }, [], rs('new', 0)), 4);
});

t.test('proportional scaling shares out a resize by the max-replicas annotation', async (t) => {
  // Scaled from 10 to 15 replicas (surge 3): a ReplicaSet sized for 13 grows by its share of 18.
  const d = deployment(15, 3, 2);
  t.equal(proportion(rs('a', 8, { 'deployment.kubernetes.io/max-replicas': '13' }), d, 5, 0), 3, 'round(8 * 18 / 13) - 8');
  t.equal(proportion(rs('b', 5, { 'deployment.kubernetes.io/max-replicas': '10' }), d, 3, 0), 3, 'capped by what is left to add');
  t.equal(proportion(rs('c', 0), d, 3, 0), 0, 'never from zero');
});

t.test('template matching ignores the hash label and null/absent/empty differences', async (t) => {
  const live = {
    metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' }, creationTimestamp: null },
    spec: { containers: [{ name: 'a', image: 'x', resources: {} }], hostNetwork: false },
  };
  const fromUndo = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'a', image: 'x' }] } };
  t.ok(equalIgnoreHash(live, fromUndo));
  t.notOk(equalIgnoreHash(live, { ...fromUndo, spec: { containers: [{ name: 'a', image: 'y' }] } }));
  t.notOk(semanticEqual({ a: [1, 2] }, { a: [2, 1] }), 'list order matters');
});

t.test('revision annotations and the revision history on re-adoption', async (t) => {
  const d = deployment(3, 1, 0);
  d.metadata.annotations = { 'kubernetes.io/change-cause': 'v1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
  const first = rs('first', 0);
  t.ok(setNewReplicaSetAnnotations(d, first, '1', false));
  t.same(
    first.metadata.annotations,
    {
      'kubernetes.io/change-cause': 'v1',
      'deployment.kubernetes.io/revision': '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
    },
    'last-applied is not copied',
  );
  setNewReplicaSetAnnotations(d, first, '3', true);
  t.equal(first.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
  setNewReplicaSetAnnotations(d, first, '5', true);
  t.equal(first.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1,3');
  t.equal(first.metadata.annotations?.['deployment.kubernetes.io/revision'], '5');
  t.notOk(setNewReplicaSetAnnotations(d, first, '4', true), 'a lower revision changes nothing');
});

t.test('human durations as kubectl prints AGE', async (t) => {
  const s = 1000;
  t.same(
    [5 * s, 119 * s, 150 * s, 600 * s, 3 * 3600 * s, 3 * 3600 * s + 120 * s, 30 * 3600 * s, 50 * 3600 * s, 400 * 86400 * s].map(
      humanDuration,
    ),
    ['5s', '119s', '2m30s', '10m', '3h', '3h2m', '30h', '2d2h', '400d'],
  );
});
