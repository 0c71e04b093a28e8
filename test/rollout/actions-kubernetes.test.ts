// The rollout actions against the simulated cluster with real pod processes, through the real
// client-node, checked with the real kubectl: pause and `rollout status`, rollback equal to
// `kubectl rollout undo` on a twin, Events, state under concurrent writers, 403, API down.

import t from 'tap';
import * as k8s from '@kubernetes/client-node';
import { abortRecordJson } from '../../src/rollout/actions/abort-record.ts';
import type { KubernetesError } from '../../src/rollout/actions/errors.ts';
import { KubeClient } from '../../src/rollout/actions/client.ts';
import type { RequestOptions } from '../../src/rollout/actions/client.ts';
import type { Operation } from '../../src/rollout/actions/errors.ts';
import { ActionExecutor } from '../../src/rollout/actions/executor.ts';
import { KubernetesActions } from '../../src/rollout/actions/kubernetes.ts';
import type { DeploymentJson } from '../../src/rollout/actions/kubernetes.ts';
import { semanticForm } from '../../src/rollout/actions/template.ts';
import { ABORT_ANNOTATION, STATE_ANNOTATION } from '../../src/rollout/actions/types.ts';
import { DEMO_DEPLOYMENT, kubeConfig, kubectl, kubectlOk, testCluster } from '../cluster/helpers.ts';
import { unusedPort, waitFor } from '../../testkit/wait.ts';

interface RsJson {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { uid: string }[] };
  spec: { replicas: number; template: unknown };
  status?: { readyReplicas?: number };
}

const cluster = await testCluster(t);
const kc = kubeConfig(cluster);
const actions = (deployment: string, extra: Partial<ConstructorParameters<typeof KubernetesActions>[1]> = {}): KubernetesActions =>
  new KubernetesActions(kc, { namespace: 'default', deployment, instance: 'glidepath-0', ...extra });

/** The ReplicaSets a Deployment owns, read straight from the API. */
async function replicaSets(owner: DeploymentJson): Promise<RsJson[]> {
  const res = await fetch(`${cluster.url}/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3D${owner.metadata.name}`);
  const list = (await res.json()) as { items: RsJson[] };
  return list.items.filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === owner.metadata.uid));
}

/** What `kubectl rollout status` waits for, read through the API (cheaper than a kubectl process). */
async function rolledOut(a: KubernetesActions, timeoutMs = 25_000): Promise<DeploymentJson> {
  return waitFor(
    `deployments/${a.deployment} rolled out`,
    async () => {
      const d = await a.readDeployment();
      const s = (d.status ?? {}) as Record<string, number | undefined>;
      const want = (d.spec.replicas as number | undefined) ?? 1;
      const done =
        (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        (s.updatedReplicas ?? 0) === want &&
        (s.replicas ?? 0) === want &&
        (s.availableReplicas ?? 0) === want;
      return done ? d : undefined;
    },
    timeoutMs,
    100,
  );
}

const rejection = async (p: Promise<unknown>): Promise<KubernetesError> => {
  try {
    await p;
  } catch (err) {
    return err as KubernetesError;
  }
  throw new Error('expected a rejection');
};

t.test('pause holds the rollout; kubectl rollout status waits while paused and finishes after resume', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('gate', { replicas: 1 }) });
  const a = actions('gate');
  await rolledOut(a);
  t.same(await a.setPaused(true), { changed: true, detail: 'paused deployments/gate' });
  t.same(await a.setPaused(true), { changed: false, detail: 'deployments/gate already paused' }, 'idempotent');
  const pause = cluster.requests.filter(
    (r) => r.method === 'PATCH' && r.url.startsWith('/apis/apps/v1/namespaces/default/deployments/gate'),
  );
  t.equal(pause.length, 1, 'the repeat wrote nothing');
  t.equal(pause[0]?.contentType, 'application/strategic-merge-patch+json', 'the patch kubectl rollout pause sends');
  t.match(pause[0]?.url, /fieldManager=glidepath/);

  await kubectlOk(cluster, ['set', 'image', 'deployment/gate', 'app=demo:v2']);
  await new Promise((r) => setTimeout(r, 300));
  const paused = await a.readDeployment();
  t.equal((await replicaSets(paused)).length, 1, 'no new ReplicaSet while paused');
  // kubectl 1.32 keeps waiting on a paused Deployment (it does not report the pause); with a
  // timeout it gives up with exit 1, with --watch=false it prints the state and exits 0.
  const waiting = await kubectl(cluster, ['rollout', 'status', 'deployment/gate', '--timeout=1s']);
  t.equal(waiting.code, 1);
  t.match(waiting.stdout, /Waiting for deployment "gate" rollout to finish: 0 out of 1 new replicas have been updated\.\.\./);
  t.match(waiting.stderr, /timed out waiting for the condition/);

  const status = kubectl(cluster, ['rollout', 'status', 'deployment/gate', '--timeout=30s'], { timeoutMs: 35_000 });
  await new Promise((r) => setTimeout(r, 1000));
  t.same(await a.setPaused(false), { changed: true, detail: 'resumed deployments/gate' });
  const done = await status;
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /deployment "gate" successfully rolled out/, 'the same kubectl process finishes once resumed');
  t.equal((await a.readDeployment()).spec.paused, undefined, 'resume removes the field, as kubectl rollout resume does');
  t.same(await a.setPaused(false), { changed: false, detail: 'deployments/gate already running' });
});

t.test('rollback is kubectl rollout undo: same template and annotations, the old ReplicaSet re-adopted, revision bumped', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: `${DEMO_DEPLOYMENT('web', { replicas: 1 })}\n${DEMO_DEPLOYMENT('twin', { replicas: 1 })}`,
  });
  const web = actions('web');
  const twin = actions('twin');
  const [web1, twin1] = await Promise.all([rolledOut(web), rolledOut(twin)]);
  const [webRs1] = await replicaSets(web1);
  const [twinRs1] = await replicaSets(twin1);
  t.ok(webRs1 && twinRs1);
  await web.writeState('{"step":0}');

  await kubectlOk(cluster, ['set', 'image', 'deployment/web', 'deployment/twin', 'app=demo:v2']);
  await Promise.all([rolledOut(web), rolledOut(twin)]);
  // State written during the rollout: the old ReplicaSet still carries the copy from revision 1.
  await web.writeState('{"step":3}');
  await web.recordAbort(
    abortRecordJson({
      reason: 'latency',
      message: 'canary adds 480 ms at p90',
      at: Date.now(),
      canary: 'v2hash',
      stable: 'v1hash',
      action: 'rollback',
    }),
  );

  const hash = webRs1?.metadata.labels?.['pod-template-hash'] ?? '';
  const result = await web.rollback(hash);
  t.equal(result.changed, true);
  t.match(result.detail, new RegExp(`rolled deployments/web back to the template of ${webRs1?.metadata.name} \\(revision 1\\)`));
  const patch = cluster.requests.filter(
    (r) => r.method === 'PATCH' && r.url.startsWith('/apis/apps/v1/namespaces/default/deployments/web?'),
  );
  t.equal(patch.at(-1)?.contentType, 'application/json-patch+json', 'a JSON patch, as kubectl rollout undo sends');
  t.match(await kubectlOk(cluster, ['rollout', 'undo', 'deployment/twin']), /rolled back/);

  const [web3, twin3] = await Promise.all([rolledOut(web), rolledOut(twin)]);
  // kubectl round-trips the template through Go structs, which drop empty lists (`env: []`);
  // apimachinery's semantic equality (what the Deployment controller matches on) ignores that too.
  const rename = (x: unknown): unknown => JSON.parse(JSON.stringify(x).replaceAll('twin', 'web'));
  t.same(semanticForm(web3.spec.template), semanticForm(rename(twin3.spec.template)), 'the same template as kubectl undo produced');
  t.equal(JSON.stringify(web3.spec.template).includes('demo:v1'), true);
  const own = (d: DeploymentJson): Record<string, string> =>
    Object.fromEntries(Object.entries(d.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('glidepath.io/')));
  t.same(own(web3), rename(own(twin3)), 'the same annotations as kubectl undo produced (glidepath records aside)');
  t.equal(web3.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
  t.equal(
    web3.metadata.annotations?.[STATE_ANNOTATION],
    '{"step":3}',
    'the current state survives, not the stale copy on the old ReplicaSet',
  );
  t.equal(JSON.parse(web3.metadata.annotations?.[ABORT_ANNOTATION] ?? '{}').reason, 'latency', 'the abort record survives');

  for (const [d, first] of [
    [web3, webRs1],
    [twin3, twinRs1],
  ] as const) {
    const rss = await replicaSets(d);
    t.equal(rss.length, 2, `${d.metadata.name}: no duplicate ReplicaSet`);
    const back = rss.find((rs) => rs.metadata.name === first?.metadata.name);
    t.equal(back?.spec.replicas, 1, `${d.metadata.name}: the original ReplicaSet is scaled back up`);
    t.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    t.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
  }
  t.match(await kubectlOk(cluster, ['rollout', 'history', 'deployment/web']), /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/);

  const rv = web3.metadata.resourceVersion;
  t.same(await web.rollback(hash), {
    changed: false,
    detail: `deployments/web already has the template of ${webRs1?.metadata.name} (revision 3)`,
  });
  t.same(
    await web.rollback(webRs1?.metadata.name ?? ''),
    { changed: false, detail: `deployments/web already has the template of ${webRs1?.metadata.name} (revision 3)` },
    'by ReplicaSet name too',
  );
  t.equal((await web.readDeployment()).metadata.resourceVersion, rv, 'repeats write nothing');

  const missing = await rejection(web.rollback('nosuchhash'));
  t.equal(missing.code, 'GP_KUBERNETES_NOT_FOUND');
  t.match(
    missing.message,
    /no ReplicaSet it controls is named or has pod-template-hash "nosuchhash" \(it has web-\w+, web-\w+\); was it pruned by revisionHistoryLimit\?/,
  );
});

t.test('gated abort: rollback of a paused, half-rolled Deployment resumes it onto the stable ReplicaSet', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('half', {
      replicas: 2,
      extraSpec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } },
    }),
  });
  const a = actions('half');
  const d1 = await rolledOut(a);
  const [stable] = await replicaSets(d1);
  // A canary that never becomes ready holds the rollout at one surge pod: the state gated mode
  // pauses in, and the one an abort for unhealthy pods rolls back from.
  await kubectlOk(cluster, [
    'patch',
    'deployment/half',
    '-p',
    JSON.stringify({
      spec: { template: { spec: { containers: [{ name: 'app', image: 'demo:v2', env: [{ name: 'READY_DELAY_MS', value: '600000' }] }] } } },
    }),
  ]);
  const canary = await waitFor(
    'the canary ReplicaSet',
    async () => (await replicaSets(d1)).find((rs) => rs.metadata.name !== stable?.metadata.name && rs.spec.replicas === 1),
    10_000,
    100,
  );
  await a.setPaused(true);

  const r = await a.rollback(stable?.metadata.name ?? '');
  t.equal(r.changed, true);
  const after = await a.readDeployment();
  t.equal(after.spec.paused, false, 'unpaused in the same patch');
  const d3 = await rolledOut(a);
  const rss = await waitFor('the canary scaled to 0', async () => {
    const list = await replicaSets(d3);
    return list.find((rs) => rs.metadata.name === canary.metadata.name)?.spec.replicas === 0 ? list : undefined;
  });
  t.equal(rss.length, 2, 'no duplicate ReplicaSet');
  const back = rss.find((rs) => rs.metadata.name === stable?.metadata.name);
  t.equal(back?.spec.replicas, 2, 'stable at full size');
  t.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3', 'the stable ReplicaSet re-adopted as revision 3');

  // Paused again after the rollback (an operator, or a lost race): a repeat only resumes it.
  await a.setPaused(true);
  t.match((await a.rollback(stable?.metadata.name ?? '')).detail, /^resumed deployments\/half, which already had the template/);
  t.equal((await a.readDeployment()).spec.paused, false);
  t.same((await a.rollback(stable?.metadata.name ?? '')).changed, false);
});

/** The real client, with a hook that lets another writer in just before its next PATCH. */
class RacingClient extends KubeClient {
  race: (() => Promise<void>) | undefined;

  override async request<T>(
    op: Operation,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: RequestOptions,
  ): Promise<T> {
    const race = method === 'PATCH' ? this.race : undefined;
    if (race) {
      this.race = undefined;
      await race();
    }
    return super.request<T>(op, method, path, options);
  }
}

t.test('rollback under a concurrent template edit: 409, re-read, and a template pushed since the abort is left alone', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('race', { replicas: 0 }) });
  const plain = actions('race');
  const d1 = await rolledOut(plain);
  const [v1] = await replicaSets(d1);
  await kubectlOk(cluster, ['set', 'image', 'deployment/race', 'app=demo:v2']);
  const v2 = await waitFor('the v2 ReplicaSet', async () => (await replicaSets(d1)).find((rs) => rs.metadata.name !== v1?.metadata.name));
  const hashOf = (rs: RsJson | undefined): string => rs?.metadata.labels?.['pod-template-hash'] ?? '';
  const client = new RacingClient(kc);
  const a = new KubernetesActions(client, { namespace: 'default', deployment: 'race' });
  const setImage = (image: string) => async (): Promise<void> => {
    await kubectlOk(cluster, ['set', 'image', 'deployment/race', `app=${image}`]);
  };

  // Someone pushes v3 between glidepath's read and its patch: the patch is refused, and on the
  // fresh read the Deployment no longer carries the aborted v2, so v3 is left to roll out.
  client.race = setImage('demo:v3');
  let before = cluster.requests.length;
  const skipped = await a.rollback(hashOf(v1), { canary: hashOf(v2) });
  t.equal(skipped.changed, false);
  t.match(skipped.detail, new RegExp(`no longer has the template of ${v2.metadata.name}: changed since the abort`));
  t.same(
    cluster.requests
      .slice(before)
      .filter((r) => r.method === 'PATCH' && r.url.includes('/deployments/race'))
      .map((r) => r.status),
    [200, 409],
    "kubectl set image went through; glidepath's stale patch was refused",
  );
  t.match(JSON.stringify((await a.readDeployment()).spec.template), /demo:v3/);

  // Without a canary to check against, the rollback is redone on the fresh read and lands.
  client.race = setImage('demo:v4');
  before = cluster.requests.length;
  t.equal((await a.rollback(hashOf(v1))).changed, true);
  t.same(
    cluster.requests
      .slice(before)
      .filter((r) => r.method === 'PATCH' && r.url.includes('/deployments/race'))
      .map((r) => r.status),
    [200, 409, 200],
  );
  const d = await rolledOut(plain);
  t.match(JSON.stringify(d.spec.template), /demo:v1/);
  t.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '5', 'v1 re-adopted after revisions 2 (v2), 3 (v3), 4 (v4)');
  t.equal((await replicaSets(d)).length, 4, 'no duplicate of v1');
});

t.test('Events: on the Deployment, repeats bump the count (also after a restart), visible to kubectl', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('ev', { replicas: 0 }) });
  const a = actions('ev');
  const d = await a.readDeployment();
  const msg = 'rollout aborted: canary c5d6 failed 9 of 412 requests (stable 3 of 7830); rolled back to b7f8';
  t.same(await a.recordEvent('RolloutAborted', msg, 'Warning'), {
    changed: true,
    detail: 'Event RolloutAborted recorded on deployments/ev',
  });
  t.same(await a.recordEvent('RolloutAborted', msg, 'Warning'), {
    changed: true,
    detail: 'Event RolloutAborted on deployments/ev repeated (count 2)',
  });
  const restarted = actions('ev');
  t.match(
    (await restarted.recordEvent('RolloutAborted', msg, 'Warning')).detail,
    /repeated \(count 3\)/,
    'found on the server after a restart',
  );
  await a.recordEvent('RolloutStarted', 'canary c5d6 at 5%', 'Normal');

  const table = await kubectlOk(cluster, ['get', 'events', '--field-selector', 'involvedObject.name=ev', '-o', 'wide']);
  const lines = table.split('\n').filter((l) => l.includes('deployment/ev'));
  t.equal(lines.length, 2, table);
  t.match(table, new RegExp(`Warning\\s+RolloutAborted\\s+deployment/ev\\s+glidepath\\s+${msg.replace(/[()]/g, '\\$&')}\\s+\\S+\\s+3\\s`));
  t.match(table, /Normal\s+RolloutStarted\s+deployment\/ev\s+glidepath\s+canary c5d6 at 5%\s+\S+\s+1\s/);
  const describe = await kubectlOk(cluster, ['describe', 'deployment', 'ev']);
  t.match(describe, /Warning\s+RolloutAborted\s+\S+ \(x3 over \S+\)\s+glidepath\s+rollout aborted: canary c5d6/);

  const events = JSON.parse(await kubectlOk(cluster, ['get', 'events', '--field-selector', 'reason=RolloutAborted', '-o', 'json']))
    .items as Record<string, unknown>[];
  t.equal(events.length, 1);
  const ev = events[0] as {
    metadata: { name: string };
    involvedObject: Record<string, string>;
    firstTimestamp: string;
    lastTimestamp: string;
    [k: string]: unknown;
  };
  t.same(ev.involvedObject, {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    namespace: 'default',
    name: 'ev',
    uid: d.metadata.uid,
    resourceVersion: d.metadata.resourceVersion,
  });
  t.match(ev, {
    type: 'Warning',
    count: 3,
    reportingComponent: 'glidepath',
    reportingInstance: 'glidepath-0',
    source: { component: 'glidepath' },
  });
  t.match(ev.metadata.name, /^ev\.[0-9a-f]+$/, 'named <object>.<unix nanoseconds in hex>, as client-go names Events');
  t.match(ev.firstTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'metav1.Time in whole seconds');

  // The apiserver refuses messages over 1024 characters: a long one is shortened, not lost.
  await a.recordEvent('RolloutEvidence', 'é'.repeat(3000), 'Normal');
  const long = (await (await fetch(`${cluster.url}/api/v1/namespaces/default/events?fieldSelector=reason%3DRolloutEvidence`)).json()) as {
    items: { message: string }[];
  };
  t.equal(long.items[0]?.message.length, 1024);
  t.match(long.items[0]?.message, /é…$/);

  // Expired or deleted (--event-ttl): the next repeat records it afresh.
  await kubectlOk(cluster, ['delete', 'event', ev.metadata.name]);
  t.same(await a.recordEvent('RolloutAborted', msg, 'Warning'), {
    changed: true,
    detail: 'Event RolloutAborted recorded on deployments/ev',
  });
});

t.test('state: optimistic concurrency against a concurrent writer; annotations bounded and checked', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('st', { replicas: 0 }) });
  const a = actions('st');
  const other = actions('st');
  t.equal(await a.readState(), null);
  t.equal((await a.writeState('{"a":1}')).changed, true);
  t.equal(await other.readState(), '{"a":1}');
  t.equal((await a.writeState('{"a":1}')).changed, false, 'same value: no write');

  let calls = 0;
  const seen: (string | null)[] = [];
  const before = cluster.requests.length;
  const r = await a.updateState(async (current) => {
    seen.push(current);
    // Another replica writes between this read and this write: the first patch must be refused.
    if (++calls === 1) await other.writeState('{"a":1,"b":2}');
    return JSON.stringify({ ...JSON.parse(current ?? '{}'), c: 3 });
  });
  t.equal(r.changed, true);
  t.same(seen, ['{"a":1}', '{"a":1,"b":2}'], 'redone on the fresh value');
  t.equal(await a.readState(), '{"a":1,"b":2,"c":3}', 'no lost update');
  const statuses = cluster.requests
    .slice(before)
    .filter((x) => x.method === 'PATCH')
    .map((x) => x.status);
  t.same(statuses, [200, 409, 200], 'the stale write was answered 409 by the API server');

  let n = 0;
  const busy = actions('st', { conflictRetries: 2 });
  const err = await rejection(
    busy.updateState(async () => {
      n++;
      await other.annotate('example.com/ticker', String(n));
      return '{"never":true}';
    }),
  );
  t.equal(err.code, 'GP_KUBERNETES_CONFLICT');
  t.equal(err.retryable, true, 'the executor may try again later');
  t.equal(n, 3, 'bounded: 1 + conflictRetries');
  t.match(err.message, /rollout state write on deployments\/st in namespace default met a concurrent edit on each of 3 tries/);

  t.same(await a.annotate('example.com/owner', 'team-a'), { changed: true, detail: 'set example.com/owner on deployments/st' });
  t.same(await a.annotate('example.com/owner', 'team-a'), { changed: false, detail: 'example.com/owner already set' });
  t.same(await a.annotate('example.com/owner', null), { changed: true, detail: 'removed example.com/owner on deployments/st' });
  t.equal((await rejection(a.annotate('not a key', 'x'))).code, 'GP_KUBERNETES_REJECTED');
  const big = await rejection(a.writeState(JSON.stringify({ pad: 'x'.repeat(40_000) })));
  t.equal(big.code, 'GP_KUBERNETES_REJECTED');
  t.match(big.message, /glidepath.io\/rollout-state would be 40\d\d\d bytes; glidepath keeps its annotations under 32768 bytes/);
  t.equal((await rejection(a.writeState('{oops'))).code, 'GP_KUBERNETES_REJECTED');
  t.equal(await a.readState(), '{"a":1,"b":2,"c":3}', 'refused writes changed nothing');
});

t.test('forbidden and missing: typed errors that say what to fix; reads still work', async (t) => {
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('rbac', { replicas: 0 }) });
  const a = actions('rbac');
  const lift = cluster.faults.forbid('deployments', 'patch');
  const denied = await rejection(a.setPaused(true));
  t.equal(denied.code, 'GP_KUBERNETES_FORBIDDEN');
  t.equal(
    denied.message,
    'patch deployments/rbac in namespace default is forbidden for system:anonymous: grant verb patch on apps/deployments (or set rollout.mode: observe and rollout.abortAction: none)',
  );
  t.equal(denied.retryable, false);
  t.equal(await a.readState(), null, 'get is still allowed');
  const ex = new ActionExecutor({ baseDelayMs: 10 });
  const out = await ex.run('pause', () => a.setPaused(true));
  t.equal(out.attempts, 1, 'not retried');
  t.match(ex.status()[0]?.lastError, { code: 'GP_KUBERNETES_FORBIDDEN', retryable: false });
  // kubectl meets the same 403 (the fault is the apiserver's answer, not a client-node quirk).
  const kubectlDenied = await kubectl(cluster, ['annotate', 'deployment/rbac', 'a=b']);
  t.match(
    kubectlDenied.stderr,
    /deployments.apps "rbac" is forbidden: User "system:anonymous" cannot patch resource "deployments" in API group "apps" in the namespace "default"/,
  );
  lift();
  t.equal((await a.setPaused(true)).changed, true, 'allowed again once lifted');

  const liftEvents = cluster.faults.forbid('events', 'create');
  const noEvents = await rejection(a.recordEvent('RolloutAborted', 'x', 'Warning'));
  t.equal(
    noEvents.message,
    'create events in namespace default is forbidden for system:anonymous: grant verb create on events (core API group "")',
  );
  liftEvents();

  const ghost = actions('ghost');
  const missing = await rejection(ghost.setPaused(true));
  t.equal(missing.code, 'GP_KUBERNETES_NOT_FOUND');
  t.equal(
    missing.message,
    'get deployments/ghost in namespace default: not found: deployments.apps "ghost" not found; check the name and the namespace glidepath was given',
  );
});

t.test('API down, slow or failing: GP_KUBERNETES_UNREACHABLE, and the executor retries until it answers', async (t) => {
  const port = await unusedPort();
  const dead = new k8s.KubeConfig();
  dead.loadFromClusterAndUser({ name: 'down', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }, { name: 'u' });
  const down = new KubernetesActions(dead, { namespace: 'default', deployment: 'web' });
  const err = await rejection(down.setPaused(true));
  t.equal(err.code, 'GP_KUBERNETES_UNREACHABLE');
  t.equal(err.retryable, true);
  t.match(
    err.message,
    new RegExp(`get deployments/web in namespace default: the Kubernetes API at http://127.0.0.1:${port} is unreachable: ECONNREFUSED`),
  );
  const ex = new ActionExecutor({ baseDelayMs: 20, maxAttempts: 3 });
  const gaveUp = await ex.run('rollback', () => down.rollback('abc'));
  t.equal(gaveUp.attempts, 3, 'retried, bounded');
  t.match(ex.status().find((s) => s.kind === 'rollback')?.lastError, { code: 'GP_KUBERNETES_UNREACHABLE', attempts: 3, retryable: true });

  const slow = actions('web', { timeoutMs: 150 });
  cluster.faults.setLatency(1000);
  const timedOut = await rejection(slow.readState());
  cluster.faults.setLatency(0);
  t.equal(timedOut.code, 'GP_KUBERNETES_UNREACHABLE');
  t.match(timedOut.message, /no answer within the request timeout/);

  // One 503 (an apiserver restarting behind its load balancer): retried and done.
  const web = actions('web');
  cluster.faults.failNext(503);
  const ok = await ex.run('annotate', () => web.annotate('example.com/after-503', 'yes'));
  t.match(ok, { ok: true, attempts: 2 });
  t.equal((await web.readDeployment()).metadata.annotations?.['example.com/after-503'], 'yes');
  await ex.close();
});

t.test('credentials: a kubeconfig file, the in-cluster service account, and a rejected token', async (t) => {
  const secure = await testCluster(t, { tls: true, token: 'sekret' });
  await kubectlOk(secure, ['create', 'deployment', 'app', '--image=demo:v1', '--replicas=0']);
  const fromFile = new KubernetesActions({ kubeconfig: secure.kubeconfigPath }, { namespace: 'default', deployment: 'app' });
  t.equal((await fromFile.annotate('example.com/via', 'file')).changed, true);

  t.throws(() => new KubernetesActions({ kubeconfig: '/nonexistent/kubeconfig' }, { namespace: 'default', deployment: 'app' }), {
    code: 'GP_CONFIG_INVALID',
    message: /^kubeconfig \/nonexistent\/kubeconfig cannot be read: /,
  });
  t.throws(
    () => new KubernetesActions({ kubeconfig: secure.kubeconfigPath, context: 'prod' }, { namespace: 'default', deployment: 'app' }),
    { code: 'GP_CONFIG_INVALID', message: /has no context "prod" \(it has glidepath-sim\)/ },
  );

  const { pathPrefix, env } = await secure.inCluster('default');
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  Object.assign(process.env, env);
  t.teardown(() => {
    for (const [k, v] of [
      ['KUBERNETES_SERVICE_HOST', saved.host],
      ['KUBERNETES_SERVICE_PORT', saved.port],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const inCluster = new KubernetesActions({ inCluster: true, pathPrefix }, { namespace: 'default', deployment: 'app' });
  t.equal(inCluster.client.defaultNamespace, 'default', 'the namespace file is read');
  t.equal((await inCluster.setPaused(true)).changed, true);
  t.equal((await fromFile.readDeployment()).spec.paused, true);

  const wrong = new k8s.KubeConfig();
  wrong.loadFromClusterAndUser(
    { name: 's', server: secure.url, skipTLSVerify: false, caData: Buffer.from(secure.caPem ?? '').toString('base64') },
    { name: 'u', token: 'wrong' },
  );
  const denied = await rejection(new KubernetesActions(wrong, { namespace: 'default', deployment: 'app' }).readState());
  t.equal(denied.code, 'GP_KUBERNETES_FORBIDDEN');
  t.match(
    denied.message,
    /get deployments\/app in namespace default was refused \(401 Unauthorized\): the API server did not accept glidepath's credentials/,
  );
});
