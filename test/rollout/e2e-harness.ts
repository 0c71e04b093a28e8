// End-to-end rollouts on the simulated cluster: a Deployment of real demo-app pods, its Service,
// glidepath in process with Kubernetes discovery and the rollout controller, steady load with a
// per-request ledger, and the pods' own ledger to reconcile it with.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { loadConfig } from '../../src/config/load.ts';
import { startApp, type App } from '../../src/app.ts';
import type { Logger } from '../../src/core/log.ts';
import type { LedgerEntry } from '../../src/demo/app.ts';
import type { StatusDocument } from '../../src/admin/status.ts';
import { DEMO_DEPLOYMENT, DEMO_SERVICE, kubectlOk, testCluster } from '../cluster/helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';
import { readPodLedger } from '../../testkit/pods.ts';
import { Ledger, reconcile, runLoad, type LoadOptions } from '../../testkit/ledger.ts';
import { unusedPort, waitFor } from '../../testkit/wait.ts';
import { STATE_ANNOTATION } from '../../src/rollout/actions/types.ts';
import { parseState, type RolloutState } from '../../src/rollout/state.ts';

export interface RolloutWorld {
  readonly cluster: Cluster;
  readonly ledgerFile: string;
  app: App;
  url: string;
  /** Starts (or restarts) glidepath on the same proxy port. */
  startGlidepath(): Promise<App>;
  status(): Promise<StatusDocument>;
  /** `kubectl set env` on the Deployment's container: a new pod template, so a rollout. */
  setEnv(env: Record<string, string>): Promise<void>;
  /** Pod-template-hash of the ReplicaSet with this revision. */
  hashOf(revision: number): Promise<string>;
  deployment(): Promise<{
    spec: { paused?: boolean; template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } };
    metadata: { annotations?: Record<string, string> };
  }>;
  events(): Promise<{ reason: string; message: string; type: string }[]>;
  podLedger(): LedgerEntry[];
  /** The ReplicaSets of `web`: hash, revision, desired and ready replicas. */
  replicaSets(): Promise<{ hash: string; revision: number; replicas: number; statusReplicas: number; readyReplicas: number }[]>;
  /** glidepath's rollout state as saved on the Deployment (the annotation), or null. */
  savedState(): Promise<RolloutState | null>;
  /** Log lines glidepath wrote (decisions, aborts), each with its wall-clock time. */
  readonly logs: { level: string; msg: string; obj: Record<string, unknown>; at: number }[];
}

export interface WorldOptions {
  readonly replicas?: number;
  readonly env?: Record<string, string>;
  /** Config flags by dotted path (rollout.*, retry.*, ...). */
  readonly flags?: Record<string, unknown>;
  readonly grace?: number;
}

/** A logger that keeps every line (tests assert on decisions) and prints nothing. */
function capturingLogger(lines: RolloutWorld['logs'], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, msg: msg ?? '', obj: { ...bindings, ...(obj as Record<string, unknown>) }, at: Date.now() });
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: () => {},
    isLevelEnabled: (l) => l !== 'debug' && l !== 'trace',
    child: (b) => capturingLogger(lines, { ...bindings, ...b }),
  };
}

export async function rolloutWorld(t: Test, options: WorldOptions = {}): Promise<RolloutWorld> {
  const cluster = await testCluster(t, { endpointSliceDelayMs: 50 });
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-e2e-'));
  const ledgerFile = join(dir, 'pods.ledger');
  const replicas = options.replicas ?? 4;
  await kubectlOk(cluster, ['apply', '-f', '-'], {
    input: DEMO_DEPLOYMENT('web', {
      replicas,
      grace: options.grace ?? 3,
      env: { LEDGER_FILE: ledgerFile, APP_VERSION: 'v1', ...options.env },
      extraSpec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } },
    }),
  });
  await kubectlOk(cluster, ['apply', '-f', '-'], { input: DEMO_SERVICE('web') });
  await waitFor(
    'the pods ready',
    async () => JSON.parse(await kubectlOk(cluster, ['get', 'deployment', 'web', '-o', 'json'])).status?.readyReplicas === replicas,
    30_000,
    200,
  );

  const port = await unusedPort();
  const logs: RolloutWorld['logs'] = [];
  const world: RolloutWorld = {
    cluster,
    ledgerFile,
    app: undefined as unknown as App,
    url: `http://127.0.0.1:${port}`,
    logs,
    async startGlidepath() {
      const config = loadConfig({
        flags: {
          listen: `127.0.0.1:${port}`,
          'admin.listen': '127.0.0.1:0',
          'admin.token': 'e2e-token',
          'kubernetes.kubeconfig': cluster.kubeconfigPath,
          'kubernetes.namespace': 'default',
          'kubernetes.service': 'web',
          'kubernetes.deployment': 'web',
          'shutdown.drainDelay': '0s',
          'shutdown.gracePeriod': '2s',
          'upstream.slowStartWindow': '0s',
          ...options.flags,
        },
      });
      world.app = await startApp(config, { logger: capturingLogger(logs) });
      t.teardown(() => world.app.stop());
      await waitFor(
        'glidepath ready',
        async () => (await fetch(`http://127.0.0.1:${world.app.adminAddress.port}/readyz`)).status === 200,
        20_000,
      );
      return world.app;
    },
    async status() {
      return (await (await fetch(`http://127.0.0.1:${world.app.adminAddress.port}/status`)).json()) as StatusDocument;
    },
    async setEnv(env) {
      await kubectlOk(cluster, ['set', 'env', 'deployment/web', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]);
    },
    async hashOf(revision) {
      const list = JSON.parse(await kubectlOk(cluster, ['get', 'replicasets', '-l', 'app=web', '-o', 'json'])) as {
        items: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } }[];
      };
      const rs = list.items.find((i) => i.metadata.annotations['deployment.kubernetes.io/revision'] === String(revision));
      if (rs === undefined) throw new Error(`no ReplicaSet with revision ${revision}`);
      return rs.metadata.labels['pod-template-hash'] as string;
    },
    async deployment() {
      return JSON.parse(await kubectlOk(cluster, ['get', 'deployment', 'web', '-o', 'json']));
    },
    async events() {
      const list = JSON.parse(await kubectlOk(cluster, ['get', 'events', '-o', 'json'])) as {
        items: { reason: string; message: string; type: string; involvedObject: { kind: string } }[];
      };
      return list.items.filter((e) => e.involvedObject.kind === 'Deployment');
    },
    async replicaSets() {
      const list = JSON.parse(await kubectlOk(cluster, ['get', 'replicasets', '-l', 'app=web', '-o', 'json'])) as {
        items: {
          metadata: { labels: Record<string, string>; annotations: Record<string, string> };
          spec: { replicas?: number };
          status: { replicas?: number; readyReplicas?: number };
        }[];
      };
      return list.items.map((rs) => ({
        hash: rs.metadata.labels['pod-template-hash'] as string,
        revision: Number(rs.metadata.annotations['deployment.kubernetes.io/revision']),
        replicas: rs.spec.replicas ?? 0,
        statusReplicas: rs.status.replicas ?? 0,
        readyReplicas: rs.status.readyReplicas ?? 0,
      }));
    },
    async savedState() {
      const text = (await world.deployment()).metadata.annotations?.[STATE_ANNOTATION];
      if (text === undefined) return null;
      const parsed = parseState(text);
      if (parsed.state === null) throw new Error(`the saved rollout state does not parse: ${parsed.reason}`);
      return parsed.state;
    },
    podLedger() {
      return readPodLedger(ledgerFile);
    },
  };
  await world.startGlidepath();
  return world;
}

/** Steady load until stopped: `rate` requests per second over `connections` keep-alive connections, 20 % POST. */
export function steadyLoad(url: string, rate = 200, extra: Partial<LoadOptions> = {}): { ledger: Ledger; stop(): Promise<Ledger> } {
  const controller = new AbortController();
  const ledger = new Ledger();
  const connections = 8;
  const gap = (connections * 1000) / rate;
  const done = runLoad(
    {
      url,
      connections,
      gapMs: () => gap * (0.5 + Math.random()),
      postRatio: 0.2,
      bodyBytes: 256,
      durationMs: 600_000,
      signal: controller.signal,
      requestTimeoutMs: 10_000,
      ...extra,
    },
    ledger,
  );
  return {
    ledger,
    async stop() {
      controller.abort();
      return done;
    },
  };
}

/** Requests started in [from, to] (wall ms) and how many of them failed, for the budget over a window. */
export function windowFigures(
  ledger: Ledger,
  from: number,
  to = Infinity,
): { sent: number; failed: number; failures: { method: string; status: number; code: string; version: string }[] } {
  let sent = 0;
  const failures: { method: string; status: number; code: string; version: string }[] = [];
  for (const r of ledger.records.values()) {
    if (r.startedAt < from || r.startedAt > to) continue;
    sent++;
    if (r.outcome !== 'ok') failures.push({ method: r.method, status: r.status, code: r.code, version: r.version });
  }
  return { sent, failed: failures.length, failures };
}

/** Client failures, lost requests, and successes no pod recorded. */
export function ledgerFigures(ledger: Ledger, pods: LedgerEntry[]) {
  const r = reconcile(ledger, [pods]);
  return {
    sent: ledger.sent,
    failed: ledger.failures().length,
    lost: ledger.count('lost'),
    okWithoutPod: r.okWithoutPod.length,
    summary: ledger.summary(),
    byVersion: ledger.byVersion(),
  };
}

/**
 * Waits until the rollout completes or aborts, passing every status seen to `onStatus`. An abort
 * ends the wait by a return, not a throw: waitFor retries a throwing check until its deadline.
 */
export function rolloutEnded(world: RolloutWorld, onStatus?: (s: StatusDocument) => void, timeoutMs = 120_000): Promise<StatusDocument> {
  return waitFor(
    'the rollout ended',
    async () => {
      const s = await world.status();
      onStatus?.(s);
      return s.rollout?.phase === 'completed' || s.rollout?.phase === 'aborted' ? s : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The message for "the rollout completed", naming the abort when there was one. */
export function completedWhy(done: StatusDocument): string {
  const abort = done.rollout?.abort;
  return `the rollout completed${abort ? `, not aborted: ${abort.reason}: ${abort.message}` : ''}`;
}
