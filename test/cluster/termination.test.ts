// Pod termination through the real kubectl and the kubelet: deletionTimestamp, EndpointSlice
// conditions as Kubernetes changes them (KEP-1672; docs/kubernetes-notes.md), preStop, SIGTERM, SIGKILL at the grace
// deadline, the terminal phase, and containers that exit on their own.

import t from 'tap';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubectlOk, rawWatch, testCluster } from './helpers.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

interface Endpoint {
  targetRef: { name: string };
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
}
interface Slice {
  endpoints: Endpoint[] | null;
}
interface PodObj {
  metadata: { name: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  status: {
    phase: string;
    containerStatuses?: {
      restartCount: number;
      state: Record<string, { exitCode?: number; reason?: string }>;
      lastState: Record<string, { exitCode?: number; reason?: string }>;
    }[];
  };
}

const flags = (e: Endpoint | undefined): string =>
  e ? `${e.conditions.ready ? 'R' : '-'}${e.conditions.serving ? 'S' : '-'}${e.conditions.terminating ? 'T' : '-'}` : 'gone';

t.test('delete pod: ready drops at once, serving follows readiness, the endpoint goes before the pod', async (t) => {
  const cluster = await testCluster(t);
  const preStop = { lifecycle: { preStop: { sleep: { seconds: 1 } } } };
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: `${DEMO_DEPLOYMENT('api', { replicas: 2, grace: 3, env: { DRAIN_MS: '1000' }, container: preStop })}\n${DEMO_SERVICE('api')}`,
  });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/api', '--timeout=20s']);
  const victim = (await kubectlOk(cluster, ['get', 'pods', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  await waitFor('both endpoints ready', async () => {
    const s = JSON.parse(await kubectlOk(cluster, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=api', '-o', 'json']))
      .items[0] as Slice;
    return (s.endpoints ?? []).filter((e) => e.conditions.ready).length === 2;
  });

  const timeline: { at: number; what: string }[] = [];
  const sliceWatch = await rawWatch(
    cluster,
    '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dapi',
    (e) => {
      const state = flags(((e.object as unknown as Slice).endpoints ?? []).find((x) => x.targetRef.name === victim));
      if (timeline.filter((x) => x.what.startsWith('slice')).at(-1)?.what !== `slice ${state}`)
        timeline.push({ at: e.at, what: `slice ${state}` });
    },
  );
  const podWatch = await rawWatch(cluster, `/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3D${victim}`, (e) => {
    const p = e.object as unknown as PodObj;
    const what = e.type === 'DELETED' ? 'pod DELETED' : `pod ${p.status.phase}${p.metadata.deletionTimestamp ? ' terminating' : ''}`;
    if (timeline.filter((x) => x.what.startsWith('pod')).at(-1)?.what !== what) timeline.push({ at: e.at, what });
  });
  t.teardown(() => {
    sliceWatch.stop();
    podWatch.stop();
  });
  await sleep(100);

  const started = Date.now();
  t.match(await kubectlOk(cluster, ['delete', 'pod', victim]), new RegExp(`pod "${victim}" deleted`));
  const took = Date.now() - started;
  // kubectl delete waits for the pod to be gone: preStop (1 s) + drain (1 s), inside the 3 s grace
  // (the Succeeded phase below shows the app exited before any SIGKILL).
  t.ok(took >= 1900 && took < 8000, `deletion took ${took} ms`);
  const sequence = timeline.map((x) => x.what);
  t.same(
    sequence.filter((w) => w.startsWith('slice')).slice(0, 2),
    ['slice RS-', 'slice -ST'],
    'ready turns false, serving stays, terminating turns true',
  );
  t.same(
    sequence.filter((w) => w.startsWith('slice')).slice(2),
    ['slice --T', 'slice gone'],
    'the draining app fails readiness, so serving turns false, then the endpoint goes',
  );
  t.same(
    sequence.filter((w) => w.startsWith('pod')),
    ['pod Running', 'pod Running terminating', 'pod Succeeded terminating', 'pod DELETED'],
    'a drained exit is Succeeded',
  );
  const sliceGone = timeline.find((x) => x.what === 'slice gone')?.at ?? Infinity;
  const podGone = timeline.find((x) => x.what === 'pod DELETED')?.at ?? 0;
  t.ok(sliceGone <= podGone, 'the endpoint disappears before the pod object does');
  const events = await kubectlOk(cluster, ['get', 'events', '--field-selector', `involvedObject.name=${victim}`]);
  t.match(events, /Killing\s+pod\/\S+\s+Stopping container app/);
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/api', '--timeout=20s']);
});

t.test('a pod that ignores SIGTERM past its grace period is killed and Failed', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('slow', { replicas: 1, grace: 1, env: { DRAIN_MS: '30000' } }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/slow', '--timeout=20s']);
  const victim = (await kubectlOk(cluster, ['get', 'pods', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  let last: PodObj | undefined;
  const w = await rawWatch(cluster, `/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3D${victim}`, (e) => {
    if (e.type !== 'DELETED') last = e.object as unknown as PodObj;
  });
  t.teardown(() => w.stop());
  const started = Date.now();
  await kubectlOk(cluster, ['delete', 'pod', victim, '--wait=true']);
  const took = Date.now() - started;
  t.ok(took >= 900 && took < 6000, `killed at the 1 s deadline, not after the 30 s drain (took ${took} ms)`);
  t.equal(last?.metadata.deletionGracePeriodSeconds, 1);
  t.equal(last?.status.phase, 'Failed');
  t.match(last?.status.containerStatuses?.[0]?.state, { terminated: { exitCode: 137, reason: 'Error' } });
});

t.test('a container that exits on its own is restarted and counted', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('crashy', { replicas: 1, env: { CRASH_AFTER: '1' } }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/crashy', '--timeout=20s']);
  const pod = JSON.parse(await kubectlOk(cluster, ['get', 'pods', '-o', 'json'])).items[0] as {
    metadata: { name: string };
    status: { podIP: string };
  };
  await fetch(`http://${pod.status.podIP}:8080/one`).then((r) => r.text());
  await fetch(`http://${pod.status.podIP}:8080/two`)
    .then((r) => r.text())
    .catch(() => 'the pod crashed');
  const restarted = await waitFor(
    'the restart',
    async () => {
      const p = JSON.parse(await kubectlOk(cluster, ['get', 'pod', pod.metadata.name, '-o', 'json'])) as PodObj;
      const cs = p.status.containerStatuses?.[0];
      return cs && cs.restartCount === 1 && cs.state.running ? p : undefined;
    },
    10_000,
  );
  t.equal(restarted.status.phase, 'Running');
  t.match(restarted.status.containerStatuses?.[0]?.lastState, { terminated: { exitCode: 1, reason: 'Error' } });
  t.match(await kubectlOk(cluster, ['get', 'pods']), /crashy-\S+\s+\d\/1\s+Running\s+1 \(\d+s ago\)/);
  await waitFor(
    'ready again',
    async () => (await kubectlOk(cluster, ['get', 'deploy', 'crashy', '-o', 'jsonpath={.status.readyReplicas}'])) === '1',
  );
  t.equal(await fetch(`http://${pod.status.podIP}:8080/`).then((r) => r.status), 200, 'the restarted container listens on the same pod IP');
});
