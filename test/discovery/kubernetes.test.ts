// Discovery from Kubernetes end to end: glidepath (startApp) with the real client-node against the
// simulated cluster, whose pods are real demo-app processes; one cluster, tests in sequence.

import t from 'tap';
import { loadConfig } from '../../src/config/load.ts';
import { startApp, type App } from '../../src/app.ts';
import { silentLogger } from '../../src/core/log.ts';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubectlOk, testCluster } from '../cluster/helpers.ts';
import { waitFor } from '../../testkit/wait.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';

interface StatusDoc {
  discovery: {
    lastError: { code: string; message: string } | null;
    watches: {
      name: string;
      synced: boolean;
      restarts: number;
      lastEventAt: string | null;
      lastError: { code: string; message: string } | null;
    }[];
  };
  versions: { name: string; revision: number; endpoints: { address: string; name?: string; state: string }[] }[];
}

async function startGlidepath(
  t: { teardown(fn: () => unknown): void },
  cluster: Cluster,
  extra: Record<string, unknown> = {},
): Promise<App> {
  const config = loadConfig({
    flags: {
      listen: '127.0.0.1:0',
      'admin.listen': '127.0.0.1:0',
      'shutdown.drainDelay': '0s',
      'shutdown.gracePeriod': '2s',
      // A pod that just turned ready would otherwise ramp up over 10 s and may see none of a few dozen requests.
      'upstream.slowStartWindow': '0s',
      'kubernetes.kubeconfig': cluster.kubeconfigPath,
      'kubernetes.namespace': 'default',
      'kubernetes.service': 'web',
      'kubernetes.deployment': 'web',
      // These tests are about discovery: the rollout controller watches but never holds Kubernetes'
      // own rollout (gated mode would pause the Deployment; test/rollout/ covers that).
      'rollout.mode': 'observe',
      ...extra,
    },
  });
  const app = await startApp(config, { logger: silentLogger });
  t.teardown(() => app.stop());
  return app;
}

async function adminGet(app: App, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${app.adminAddress.port}${path}`);
  return { status: res.status, body: await res.text() };
}

async function status(app: App): Promise<StatusDoc> {
  return JSON.parse((await adminGet(app, '/status')).body) as StatusDoc;
}

/** One request through glidepath; throws unless the pod answered 200. */
async function request(app: App): Promise<{ version: string; pod: string }> {
  const res = await fetch(`http://127.0.0.1:${app.proxyAddress.port}/`, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`status ${res.status} ${res.headers.get('x-glidepath-error') ?? ''}`);
  return { version: res.headers.get('x-pod-version') ?? '', pod: res.headers.get('x-pod-name') ?? '' };
}

/** Requests in a loop until stopped (bounded by `max`), each checked; returns the failures. */
function requestLoop(app: App, max = 5_000): { stop(): Promise<{ ok: number; failures: string[] }> } {
  let stopping = false;
  const failures: string[] = [];
  let ok = 0;
  const done = (async () => {
    for (let i = 0; i < max && !stopping; i++) {
      try {
        await request(app);
        ok++;
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
      return { ok, failures };
    },
  };
}

function readyEndpoints(app: App): { version: string; name: string | undefined }[] {
  return app.dataPlane
    .versionStatus()
    .flatMap((v) => v.endpoints.filter((e) => e.state === 'ready').map((e) => ({ version: v.name, name: e.name })));
}

t.test('Kubernetes discovery end to end', async (t) => {
  const cluster = await testCluster(t);
  const app = await startGlidepath(t, cluster);

  await t.test('a missing Service is named in /status and /readyz stays 503 until it exists', async (t) => {
    t.equal((await adminGet(app, '/readyz')).status, 503);
    const s = await status(app);
    t.equal(s.discovery.lastError?.code, 'GP_KUBERNETES_NOT_FOUND');
    t.match(s.discovery.lastError?.message, /Service "web" not found in namespace "default"/);
    t.ok(s.discovery.watches.find((w) => w.name === 'service')?.synced, 'the Service watch itself has synced');

    await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas: 2, grace: 2 }) });
    await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_SERVICE('web') });
    await waitFor('/readyz 200', async () => (await adminGet(app, '/readyz')).status === 200, 15_000);
    const after = await status(app);
    t.equal(after.discovery.lastError, null, 'the error clears once the Service exists');
    for (const w of after.discovery.watches) t.ok(w.synced, `${w.name} synced`);
    t.same(after.discovery.watches.map((w) => w.name).sort(), ['deployment', 'endpointslices', 'pods', 'replicasets', 'service']);
  });

  await t.test('both pods take requests; the version is the pod-template-hash with its revision', async (t) => {
    await waitFor('two ready endpoints', () => readyEndpoints(app).length === 2, 15_000);
    const rs = JSON.parse(await kubectlOk(cluster, ['get', 'rs', '-l', 'app=web', '-o', 'json'])) as {
      items: { metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> } }[];
    };
    t.equal(rs.items.length, 1);
    const hash = rs.items[0]?.metadata.labels['pod-template-hash'];
    const s = await status(app);
    t.same(
      s.versions.map((v) => [v.name, v.revision]),
      [[hash, 1]],
    );
    const pods = new Set<string>();
    for (let i = 0; i < 40; i++) pods.add((await request(app)).pod);
    t.equal(pods.size, 2, 'requests reach both pods');
    const view = app.kubernetes?.clusterView();
    t.equal(view?.deployment?.templateHash, hash, 'the cluster view knows the template hash');
    t.equal(view?.replicaSets[0]?.revision, 1);
    t.equal(view?.replicaSets[0]?.podHealth.ready, 2);
  });

  await t.test('kubectl set image: the new ReplicaSet appears as a second version, old pods drain and go, no request fails', async (t) => {
    const before = readyEndpoints(app);
    const oldVersion = before[0]?.version;
    const loop = requestLoop(app);
    const states = new Set<string>();
    const sampler = setInterval(() => {
      for (const v of app.dataPlane.versionStatus()) if (v.name === oldVersion) for (const e of v.endpoints) states.add(e.state);
    }, 5);
    await kubectlOk(cluster, ['set', 'image', 'deployment/web', 'app=demo:v2']);
    const newVersion = await waitFor(
      'a second version with revision 2',
      async () => (await status(app)).versions.find((v) => v.revision === 2)?.name,
      15_000,
    );
    t.not(newVersion, oldVersion);
    await waitFor(
      'only the new version left',
      () => {
        const versions = app.dataPlane.versionStatus().filter((v) => v.endpoints.length > 0);
        return (
          versions.length === 1 && versions[0]?.name === newVersion && versions[0].endpoints.filter((e) => e.state === 'ready').length === 2
        );
      },
      30_000,
    );
    clearInterval(sampler);
    const { ok, failures } = await loop.stop();
    t.ok(states.has('terminating'), `old endpoints were seen draining (terminating); states seen: ${[...states].join(', ')}`);
    t.same(failures, [], `no request failed (${ok} succeeded)`);
    t.ok(ok > 20);
    const served = await request(app);
    t.equal(served.version, 'v2');
    t.equal(app.kubernetes?.clusterView()?.deployment?.templateHash, newVersion);
  });

  await t.test('watches recover from 410 Expired, a 500 and dropped connections', async (t) => {
    const restarts = (): number => app.kubernetes?.watches().reduce((s, w) => s + w.restarts, 0) ?? 0;
    const lists = (): number => app.kubernetes?.watches().reduce((s, w) => s + w.lists, 0) ?? 0;
    // A fault hits only the watches open at that moment: wait for all of them each time.
    const allConnected = (): Promise<unknown> =>
      waitFor('every watch connected', () => app.kubernetes?.watches().every((w) => w.connected), 15_000);
    await allConnected();
    const listsBefore = lists();
    cluster.faults.expireNextWatch();
    cluster.faults.endWatches();
    await waitFor('a relist after 410', () => lists() > listsBefore);

    await allConnected();
    const r0 = restarts();
    cluster.faults.failNext(500, { watchOnly: true });
    cluster.faults.endWatches();
    await waitFor('a restart after the 500', () => restarts() > r0);
    t.ok(
      app.kubernetes?.watches().some((w) => w.lastError?.code === 'GP_KUBERNETES_SERVER_ERROR' && /HTTP 500/.test(w.lastError.message)),
      'the 500 was recorded',
    );
    await allConnected();
    const r1 = restarts();
    cluster.faults.dropWatches();
    await waitFor('every watch restarted after the drop', () => restarts() >= r1 + 5);

    await kubectlOk(cluster, ['scale', 'deployment/web', '--replicas=3']);
    await waitFor('three ready endpoints after the faults', () => readyEndpoints(app).length === 3, 20_000);
    const s = await status(app);
    t.ok(s.discovery.watches.every((w) => w.synced && w.lastEventAt !== null));
    t.ok(
      s.discovery.watches.some((w) => w.lastError?.code === 'GP_KUBERNETES_UNREACHABLE'),
      'the dropped connection was recorded',
    );
  });

  await t.test('the API unreachable for a few seconds changes nothing for clients', async (t) => {
    const loop = requestLoop(app);
    await new Promise((r) => setTimeout(r, 300));
    cluster.faults.setUnreachable(true);
    await waitFor('discovery to notice', () =>
      app.kubernetes?.watches().some((w) => w.lastError?.code === 'GP_KUBERNETES_UNREACHABLE' && !w.connected),
    );
    await new Promise((r) => setTimeout(r, 2_500));
    t.equal(readyEndpoints(app).length, 3, 'the last good endpoints stay in force');
    cluster.faults.setUnreachable(false);
    await waitFor('every watch connected again', () => app.kubernetes?.watches().every((w) => w.connected), 15_000);
    await kubectlOk(cluster, ['scale', 'deployment/web', '--replicas=2']);
    await waitFor('the scale-down seen after the outage', () => readyEndpoints(app).length === 2, 20_000);
    const { ok, failures } = await loop.stop();
    t.same(failures, [], `no request failed (${ok} succeeded)`);
    t.ok(ok > 50);
    t.equal((await adminGet(app, '/readyz')).status, 200);
  });
});
