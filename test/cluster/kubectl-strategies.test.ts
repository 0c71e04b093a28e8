// Deployment behaviours beyond the plain rolling update, through the real kubectl: pause and resume,
// the progress deadline, the Recreate strategy and revisionHistoryLimit cleanup.

import t from 'tap';
import { DEMO_DEPLOYMENT, kubectl, kubectlOk, rawWatch, testCluster } from './helpers.ts';
import type { WatchEvent } from './helpers.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

async function deployment(
  cluster: Parameters<typeof kubectlOk>[0],
  name: string,
): Promise<{ metadata: { generation: number }; status: { observedGeneration?: number; conditions?: Condition[] } }> {
  return JSON.parse(await kubectlOk(cluster, ['get', 'deploy', name, '-o', 'json']));
}

const progressing = (d: { status: { conditions?: Condition[] } }): Condition | undefined =>
  d.status.conditions?.find((c) => c.type === 'Progressing');
const rsCount = async (cluster: Parameters<typeof kubectlOk>[0]): Promise<number> =>
  JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items.length;

t.test('rollout pause holds template changes; resume rolls them out', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas: 2 }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=20s']);
  await kubectlOk(cluster, ['set', 'image', 'deployment/web', 'app=demo:v2']);
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=20s']);
  t.match(await kubectlOk(cluster, ['rollout', 'pause', 'deployment/web']), /paused/);
  await waitFor('the paused condition', async () => progressing(await deployment(cluster, 'web'))?.reason === 'DeploymentPaused');
  const paused = progressing(await deployment(cluster, 'web'));
  t.match(paused, { status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' });
  await kubectlOk(cluster, ['set', 'image', 'deployment/web', 'app=demo:v3']);
  await waitFor('the spec change to be observed', async () => {
    const d = await deployment(cluster, 'web');
    return d.status.observedGeneration === d.metadata.generation;
  });
  await sleep(300);
  t.equal(await rsCount(cluster), 2, 'no new ReplicaSet while paused');
  const undo = await kubectl(cluster, ['rollout', 'undo', 'deployment/web']);
  t.match(undo.stderr, /you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again/);
  t.match(await kubectlOk(cluster, ['rollout', 'resume', 'deployment/web']), /resumed/);
  t.match(
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/web', '--timeout=30s'], { timeoutMs: 35_000 }),
    /successfully rolled out/,
  );
  t.equal(await rsCount(cluster), 3);
  t.match(progressing(await deployment(cluster, 'web')), { status: 'True', reason: 'NewReplicaSetAvailable' });
  t.match(await kubectlOk(cluster, ['get', 'deploy', 'web', '-o', 'wide']), /demo:v3/);
});

t.test('a rollout that makes no progress exceeds its progress deadline', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('stuck', { replicas: 1, env: { READY_DELAY_MS: '600000' }, extraSpec: { progressDeadlineSeconds: 1 } }),
  });
  const status = await kubectl(cluster, ['rollout', 'status', 'deployment/stuck', '--timeout=20s'], { timeoutMs: 25_000 });
  t.equal(status.code, 1);
  t.match(status.stderr, /error: deployment "stuck" exceeded its progress deadline/);
  const c = progressing(await deployment(cluster, 'stuck'));
  t.match(c, { status: 'False', reason: 'ProgressDeadlineExceeded' });
  t.match(c?.message, /^ReplicaSet "stuck-[b-z2-9]+" has timed out progressing\.$/);
  const available = (await deployment(cluster, 'stuck')).status.conditions?.find((x) => x.type === 'Available');
  t.match(available, { status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' });
});

t.test('Recreate never runs old and new pods together', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('rec', { replicas: 2, grace: 1, extraSpec: { strategy: { type: 'Recreate' } } }),
  });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/rec', '--timeout=20s']);
  const pods = new Map<string, WatchEvent['object']>();
  let overlap = false;
  let sawNew = false;
  const w = await rawWatch(cluster, '/api/v1/namespaces/default/pods?labelSelector=app%3Drec', (e) => {
    if (e.type === 'DELETED') pods.delete(e.object.metadata.name ?? '');
    else pods.set(e.object.metadata.name ?? '', e.object);
    // A pod in a terminal phase has no process left; Recreate (like Kubernetes) only waits for those.
    const running = [...pods.values()].filter(
      (p) => !['Succeeded', 'Failed'].includes((p.status as { phase?: string } | undefined)?.phase ?? ''),
    );
    const images = new Set(running.map((p) => (p.spec as { containers: { image: string }[] }).containers[0]?.image));
    if (images.has('demo:v2')) sawNew = true;
    if (images.size > 1) overlap = true;
  });
  t.teardown(() => w.stop());
  await kubectlOk(cluster, ['set', 'image', 'deployment/rec', 'app=demo:v2']);
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/rec', '--timeout=30s'], { timeoutMs: 35_000 });
  t.ok(sawNew);
  t.notOk(overlap, 'old pods were gone before new ones were created');
});

t.test('scaling in the middle of a rollout scales both ReplicaSets proportionally', async (t) => {
  const cluster = await testCluster(t);
  const strategy = { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } } };
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('prop', { replicas: 4, grace: 1, extraSpec: strategy }) });
  await kubectlOk(cluster, ['rollout', 'status', 'deployment/prop', '--timeout=20s']);
  // The new version never becomes ready, so the rollout stalls at old 4 + new 1 (surge 1, unavailable 0).
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('prop', { replicas: 4, grace: 1, image: 'demo:v2', env: { READY_DELAY_MS: '600000' }, extraSpec: strategy }),
  });
  const sizes = async (): Promise<string> => {
    const items = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items as {
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    }[];
    return items
      .map((r) => `${r.spec.template.spec.containers[0]?.image}=${r.spec.replicas}`)
      .sort()
      .join(' ');
  };
  // Each wait keeps the last sizes it read, so that a timeout fails on them rather than on the wait.
  let seen = '';
  await waitFor('the stalled rollout', async () => (seen = await sizes()) === 'demo:v1=4 demo:v2=1').catch(() => undefined);
  t.equal(seen, 'demo:v1=4 demo:v2=1', 'stalled at old 4 + new 1 (surge 1, unavailable 0)');
  await kubectlOk(cluster, ['scale', 'deployment/prop', '--replicas=8']);
  // 8 + surge 2 = 10 shared by the old max-replicas (5): old 4 * 10/5 = 8, new 1 * 10/5 = 2.
  await waitFor('proportional sizes', async () => (seen = await sizes()) === 'demo:v1=8 demo:v2=2').catch(() => undefined);
  t.equal(seen, 'demo:v1=8 demo:v2=2', 'scaled in proportion: old 8, new 2');
  // The new pods never become ready: the rollout stays where the proportional step left it.
  await sleep(300);
  t.equal(await sizes(), 'demo:v1=8 demo:v2=2', 'and stays there');
});

t.test('revisionHistoryLimit removes the oldest empty ReplicaSets', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('hist', { replicas: 1, grace: 1, extraSpec: { revisionHistoryLimit: 1 } }),
  });
  for (const v of ['v2', 'v3', 'v4']) {
    await kubectlOk(cluster, ['set', 'image', 'deployment/hist', `app=demo:${v}`]);
    await kubectlOk(cluster, ['rollout', 'status', 'deployment/hist', '--timeout=20s']);
  }
  const rs = await waitFor('old ReplicaSets to be cleaned up', async () => {
    const items = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-o', 'json'])).items as {
      metadata: { annotations: Record<string, string> };
    }[];
    return items.length === 2 ? items : undefined;
  });
  t.same(rs.map((r) => r.metadata.annotations['deployment.kubernetes.io/revision']).sort(), ['3', '4']);
});
