// Kubernetes discovery when access is the problem: RBAC denials, an API server unreachable at
// start, a missing Deployment, wrong credentials, and the in-cluster service-account path.

import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { startApp, type App } from '../../src/app.ts';
import type { Logger } from '../../src/core/log.ts';
import type { DiscoverySnapshot } from '../../src/core/types.ts';
import { KubernetesDiscovery } from '../../src/discovery/kubernetes/discovery.ts';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubectlOk, testCluster } from '../cluster/helpers.ts';
import { unusedPort, waitFor } from '../../testkit/wait.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A Logger that keeps every line, so tests can assert what an operator would read. */
function capturingLogger(lines: LogLine[]): Logger {
  const make = (bindings: Record<string, unknown>): Logger => ({
    error: (obj, msg) => void lines.push({ level: 'error', obj: { ...bindings, ...obj }, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj: { ...bindings, ...obj }, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj: { ...bindings, ...obj }, msg }),
    debug: () => undefined,
    isLevelEnabled: (level) => level !== 'debug' && level !== 'trace',
    child: (more) => make({ ...bindings, ...more }),
  });
  return make({});
}

async function startGlidepath(
  t: { teardown(fn: () => unknown): void },
  cluster: Cluster,
  lines: LogLine[],
  extra: Record<string, unknown> = {},
): Promise<App> {
  const config = loadConfig({
    flags: {
      listen: '127.0.0.1:0',
      'admin.listen': '127.0.0.1:0',
      'shutdown.drainDelay': '0s',
      'shutdown.gracePeriod': '1s',
      'kubernetes.kubeconfig': cluster.kubeconfigPath,
      'kubernetes.namespace': 'default',
      'kubernetes.service': 'web',
      ...extra,
    },
  });
  const app = await startApp(config, { logger: capturingLogger(lines) });
  t.teardown(() => app.stop());
  return app;
}

async function readyz(app: App): Promise<number> {
  return (await fetch(`http://127.0.0.1:${app.adminAddress.port}/readyz`)).status;
}

async function lastError(app: App): Promise<{ code: string; message: string } | null> {
  const res = await fetch(`http://127.0.0.1:${app.adminAddress.port}/status`);
  return ((await res.json()) as { discovery: { lastError: { code: string; message: string } | null } }).discovery.lastError;
}

t.test('access problems are named with what to fix, and clear by themselves', async (t) => {
  const cluster = await testCluster(t);
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas: 1, grace: 1 }) });
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_SERVICE('web') });

  await t.test('a list forbidden by RBAC: GP_KUBERNETES_FORBIDDEN names verb, resource and namespace; 503 until granted', async (t) => {
    cluster.faults.forbid('endpointslices', 'list');
    const lines: LogLine[] = [];
    const app = await startGlidepath(t, cluster, lines, { 'kubernetes.deployment': 'web' });
    t.equal(await readyz(app), 503);
    const err = await lastError(app);
    t.equal(err?.code, 'GP_KUBERNETES_FORBIDDEN');
    t.match(err?.message, /forbidden to list endpointslices\.discovery\.k8s\.io in namespace "default"/);
    t.match(err?.message, /apiGroups: \["discovery\.k8s\.io"\], resources: \["endpointslices"\], verbs: \["get", "list", "watch"\]/);
    t.match(err?.message, /cannot list resource "endpointslices"/, "the API server's own words are kept");
    t.ok(
      lines.some((l) => l.level === 'error' && l.obj.code === 'GP_KUBERNETES_FORBIDDEN'),
      'and it is logged',
    );
    cluster.faults.forbid('endpointslices', 'list', false);
    await waitFor('ready once the list is allowed', async () => (await readyz(app)) === 200, 15_000);
    t.equal(await lastError(app), null);
  });

  await t.test('a forbidden watch names the watch verb', async (t) => {
    cluster.faults.forbid('replicasets', 'watch');
    t.teardown(() => cluster.faults.forbid('replicasets', 'watch', false));
    const app = await startGlidepath(t, cluster, [], { 'kubernetes.deployment': 'web' });
    const err = await waitFor('the watch error', () => app.kubernetes?.watches().find((w) => w.name === 'replicasets')?.lastError);
    t.equal(err.code, 'GP_KUBERNETES_FORBIDDEN');
    t.match(err.message, /forbidden to watch replicasets\.apps in namespace "default"/);
  });

  await t.test('a missing Deployment is named in /status and the log', async (t) => {
    const lines: LogLine[] = [];
    const app = await startGlidepath(t, cluster, lines, { 'kubernetes.deployment': 'nope' });
    t.equal(await readyz(app), 503, 'not ready without the configured Deployment');
    const err = await lastError(app);
    t.equal(err?.code, 'GP_KUBERNETES_NOT_FOUND');
    t.match(err?.message, /Deployment "nope" not found in namespace "default"/);
    t.ok(lines.some((l) => l.level === 'error' && l.obj.code === 'GP_KUBERNETES_NOT_FOUND' && /Deployment "nope"/.test(String(l.obj.err))));
    const view = await waitFor('a cluster view', () => app.kubernetes?.clusterView());
    t.ok(view.deploymentMissing, 'the rollout controller sees the Deployment is missing');
    t.equal(view.deployment, undefined);
  });

  await t.test('a port the Service does not have is named', async (t) => {
    const app = await startGlidepath(t, cluster, [], { 'kubernetes.port': 'grpc' });
    const err = await lastError(app);
    t.equal(err?.code, 'GP_KUBERNETES_NOT_FOUND');
    t.match(err?.message, /has no port named "grpc" \(its ports: web 80→http\)/);
    t.equal(await readyz(app), 503);
  });

  await t.test('glidepath serve --kubeconfig --namespace --service --deployment --port (a child process)', async (t) => {
    const [listen, admin] = [await unusedPort(), await unusedPort()];
    const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        cli,
        'serve',
        '--listen',
        `127.0.0.1:${listen}`,
        '--admin',
        `127.0.0.1:${admin}`,
        '--log-level',
        'warn',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        'default',
        '--service',
        'web',
        '--deployment',
        'web',
        '--port',
        'web',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GLIDEPATH_SHUTDOWN_DRAIN_DELAY: '0s' } },
    );
    t.teardown(() => void child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor(
      'the child ready',
      async () => (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => undefined))?.status === 200,
      30_000,
    );
    const res = await fetch(`http://127.0.0.1:${listen}/`);
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-pod-version'), 'v1');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    t.equal(await exited, 0, `exits cleanly on SIGTERM${stderr ? `; stderr: ${stderr}` : ''}`);
  });

  await t.test('the API unreachable at start: glidepath comes up, says why, and gets ready when the API is back', async (t) => {
    cluster.faults.setUnreachable(true);
    const lines: LogLine[] = [];
    const app = await startGlidepath(t, cluster, lines);
    t.equal(await readyz(app), 503);
    const err = await lastError(app);
    t.equal(err?.code, 'GP_KUBERNETES_UNREACHABLE');
    t.match(err?.message, /cannot reach the API server at http:\/\/127\.0\.0\.1:\d+/);
    cluster.faults.setUnreachable(false);
    await waitFor('ready once the API answers', async () => (await readyz(app)) === 200, 15_000);
    const res = await fetch(`http://127.0.0.1:${app.proxyAddress.port}/`);
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-pod-version'), 'v1');
    t.ok(
      lines.some((l) => l.msg === 'watch recovered' && (l.obj.restarts as number) >= 1 && l.obj.lastError === 'GP_KUBERNETES_UNREACHABLE'),
      'recoveries are logged with their restart count',
    );
  });
});

t.test('in-cluster credentials: the service-account token, CA and namespace files', async (t) => {
  const cluster = await testCluster(t, { tls: true, token: 'sa-token-1' });
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_DEPLOYMENT('web', { replicas: 1, grace: 1 }) });
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_SERVICE('web') });
  const { pathPrefix, env } = await cluster.inCluster('default');
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
  const config = loadConfig({ flags: { 'kubernetes.service': 'web', 'kubernetes.port': '80' } });
  t.equal(config.kubernetes.kubeconfig, '');
  t.equal(config.kubernetes.namespace, '');

  await t.test("with the right token: https with the pod's CA, namespace from the file", async (t) => {
    const discovery = new KubernetesDiscovery(config.kubernetes, { inClusterRoot: pathPrefix });
    t.teardown(() => discovery.close());
    let snapshot: DiscoverySnapshot | undefined;
    const errors: Error[] = [];
    await discovery.start({ onSnapshot: (s) => (snapshot = s), onError: (e) => errors.push(e) });
    t.same(errors, []);
    t.equal(discovery.namespace, 'default');
    t.equal(snapshot?.endpoints.length ?? 0, 1);
    await waitFor('the pod ready', () => snapshot?.endpoints[0]?.ready, 15_000);
    t.equal(snapshot?.endpoints[0]?.port, 8080, 'Service port 80 followed to the target port');
  });

  await t.test('with a wrong token: GP_KUBERNETES_UNAUTHORIZED', async (t) => {
    const wrong = mkdtempSync(join(tmpdir(), 'glidepath-sa-'));
    cpSync(pathPrefix, wrong, { recursive: true });
    writeFileSync(join(wrong, 'var/run/secrets/kubernetes.io/serviceaccount/token'), 'not-the-token');
    const discovery = new KubernetesDiscovery(config.kubernetes, { inClusterRoot: wrong });
    t.teardown(() => discovery.close());
    const errors: Error[] = [];
    await discovery.start({ onSnapshot: () => undefined, onError: (e) => errors.push(e) });
    t.equal((errors[0] as { code?: string } | undefined)?.code, 'GP_KUBERNETES_UNAUTHORIZED');
    t.match(errors[0]?.message, /rejected the credentials/);
    t.notOk(discovery.synced);
  });

  await t.test('outside a pod without a kubeconfig: a config error saying what to set', async (t) => {
    const discovery = new KubernetesDiscovery(config.kubernetes, { inClusterRoot: join(tmpdir(), 'no-such-root') });
    await t.rejects(discovery.start({ onSnapshot: () => undefined, onError: () => undefined }), {
      code: 'GP_CONFIG_INVALID',
      message: /set --kubeconfig/,
    });
  });
});
