// Rolling updates driven by the real kubectl: `set image` rolls to a new ReplicaSet with maxSurge
// and maxUnavailable respected in every observed state, and `rollout undo` re-adopts the old one.

import t from 'tap';
import { DEMO_DEPLOYMENT, kubectlOk, rawWatch, testCluster } from './helpers.ts';
import type { WatchEvent } from './helpers.ts';
import { sleep } from '../../testkit/wait.ts';

interface PodLike {
  metadata: { name?: string; deletionTimestamp?: string; labels?: Record<string, string> };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

interface RsLike {
  metadata: { name?: string };
  spec: { replicas: number };
}

t.test('set image respects maxSurge and maxUnavailable at every moment; undo re-adopts the old ReplicaSet', async (t) => {
  const cluster = await testCluster(t);
  // replicas 5 with 25%/25%: surge rounds up to 2, unavailability down to 1 (ResolveFenceposts in
  // kubernetes pkg/controller/deployment/util/deployment_util.go).
  const replicas = 5;
  const maxTotal = replicas + 2;
  const minAvailable = replicas - 1;
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas, env: { READY_DELAY_MS: '200' } }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=30s'], { timeoutMs: 35_000 });
  const firstRs = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items[0].metadata.name as string;

  const pods = new Map<string, PodLike>();
  const rss = new Map<string, RsLike>();
  const violations: string[] = [];
  let maxSeenTotal = 0;
  let minSeenAvailable = Infinity;
  let rolling = false;
  const checkPods = (e: WatchEvent): void => {
    const p = e.object as PodLike;
    if (e.type === 'DELETED') pods.delete(p.metadata.name ?? '');
    else pods.set(p.metadata.name ?? '', p);
    if (!rolling) return;
    const live = [...pods.values()].filter(
      (x) => !x.metadata.deletionTimestamp && x.status?.phase !== 'Succeeded' && x.status?.phase !== 'Failed',
    );
    const available = live.filter((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    maxSeenTotal = Math.max(maxSeenTotal, live.length);
    minSeenAvailable = Math.min(minSeenAvailable, available);
    if (live.length > maxTotal) violations.push(`${live.length} pods > ${maxTotal}`);
    if (available < minAvailable) violations.push(`${available} available < ${minAvailable}`);
  };
  const checkRs = (e: WatchEvent): void => {
    const rs = e.object as unknown as RsLike;
    if (e.type === 'DELETED') rss.delete(rs.metadata.name ?? '');
    else rss.set(rs.metadata.name ?? '', rs);
    const total = [...rss.values()].reduce((n, x) => n + x.spec.replicas, 0);
    if (total > maxTotal) violations.push(`ReplicaSets want ${total} > ${maxTotal}`);
  };
  const podWatch = await rawWatch(cluster, '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb', checkPods);
  const rsWatch = await rawWatch(cluster, '/apis/apps/v1/namespaces/default/replicasets', checkRs);
  t.teardown(() => {
    podWatch.stop();
    rsWatch.stop();
  });
  await sleep(100);
  rolling = true;

  t.match(await kubectlOk(cluster, ['set', 'image', 'deployment/web', 'app=demo:v2']), /image updated/);
  const patch = cluster.requests.find((r) => r.method === 'PATCH' && r.url.includes('/deployments/web'));
  t.equal(patch?.contentType, 'application/strategic-merge-patch+json');
  t.match(
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=40s'], { timeoutMs: 45_000 }),
    /successfully rolled out/,
  );
  // The last old pods may still be terminating; the invariant holds through the end of that too.
  await sleep(300);
  t.same(violations, [], 'no observed state broke the rolling-update bounds');
  t.ok(maxSeenTotal > replicas, `surge was used (saw ${maxSeenTotal} pods)`);
  t.ok(minSeenAvailable <= replicas, `availability was at least ${minSeenAvailable}`);

  const afterSet = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items as {
    metadata: { name: string; annotations: Record<string, string> };
    spec: { replicas: number };
  }[];
  t.equal(afterSet.length, 2);
  const v2 = afterSet.find((r) => r.metadata.name !== firstRs);
  t.equal(v2?.spec.replicas, replicas);
  t.equal(v2?.metadata.annotations['deployment.kubernetes.io/revision'], '2');
  t.equal(v2?.metadata.annotations['deployment.kubernetes.io/max-replicas'], String(maxTotal));
  for (const p of pods.values())
    if (!p.metadata.deletionTimestamp) t.equal(p.metadata.labels?.['pod-template-hash'], v2?.metadata.name.slice('web-'.length));

  t.match(await kubectlOk(cluster, ['rollout', 'undo', 'deployment/web']), /rolled back/);
  const undo = cluster.requests.find((r) => r.method === 'PATCH' && r.contentType === 'application/json-patch+json');
  t.ok(undo, 'undo sends a JSON patch (kubectl pkg/polymorphichelpers/rollback.go)');
  t.match(
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=40s'], { timeoutMs: 45_000 }),
    /successfully rolled out/,
  );
  t.same(violations, [], 'the rollback respected the bounds too');
  const afterUndo = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items as {
    metadata: { name: string; annotations: Record<string, string> };
    spec: { replicas: number };
  }[];
  t.equal(afterUndo.length, 2, 'no duplicate ReplicaSet');
  const back = afterUndo.find((r) => r.metadata.name === firstRs);
  t.equal(back?.spec.replicas, replicas, 'the original ReplicaSet is scaled back up');
  t.equal(back?.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  t.equal(back?.metadata.annotations['deployment.kubernetes.io/revision-history'], '1');
  const history = await kubectlOk(cluster, ['rollout', 'history', 'deployment/web']);
  t.match(history, /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/);
  const events = await kubectlOk(cluster, ['get', 'events', '--field-selector', 'involvedObject.kind=Deployment']);
  t.match(events, new RegExp(`ScalingReplicaSet\\s+deployment/web\\s+Scaled up replica set ${firstRs} from 0 to ${replicas}`));
  t.match(events, /Scaled down replica set/);
});
