// Helpers for the simulated-cluster tests: a cluster per test with fast timing knobs and guaranteed
// teardown, the real kubectl with its own discovery cache, a client-node config, and raw watches.

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startCluster } from '../../testkit/cluster/index.ts';
import type { Cluster, ClusterOptions } from '../../testkit/cluster/index.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function testCluster(t: Teardown, options: ClusterOptions = {}): Promise<Cluster> {
  const cluster = await startCluster({ probePeriodMs: 100, crashBackoffMs: 300, ...options });
  t.teardown(() => cluster.stop());
  return cluster;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

const cacheDirs = new WeakMap<Cluster, string>();

/** Runs the installed kubectl against the cluster, with its own --cache-dir: kubectl caches discovery per host:port. */
export function kubectl(cluster: Cluster, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  let cacheDir = cacheDirs.get(cluster);
  if (!cacheDir) cacheDirs.set(cluster, (cacheDir = mkdtempSync(join(tmpdir(), 'kubectl-cache-'))));
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', cluster.kubeconfigPath, '--cache-dir', cacheDir, ...args],
      { timeout: options.timeoutMs ?? 20_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '', HOME: tmpdir() } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(cluster: Cluster, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await kubectl(cluster, args, options);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function kubeConfig(cluster: Cluster): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(cluster.kubeconfigYaml);
  return kc;
}

export interface WatchEvent {
  type: string;
  object: {
    metadata: { name?: string; resourceVersion?: string; deletionTimestamp?: string; labels?: Record<string, string> };
    [k: string]: unknown;
  };
  at: number;
}

/** A raw watch over fetch (no client library in between): every event line as it arrives. */
export async function rawWatch(
  cluster: Cluster,
  path: string,
  onEvent: (e: WatchEvent) => void,
): Promise<{ stop(): void; done: Promise<void> }> {
  const controller = new AbortController();
  const res = await fetch(`${cluster.url}${path}${path.includes('?') ? '&' : '?'}watch=true`, {
    signal: controller.signal,
    headers: cluster.token ? { authorization: `Bearer ${cluster.token}` } : {},
  });
  if (!res.ok || !res.body) throw new Error(`watch ${path} answered ${res.status}`);
  const done = (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim()) onEvent({ ...(JSON.parse(line) as Omit<WatchEvent, 'at'>), at: Date.now() });
        }
      }
    } catch {
      // aborted
    }
  })();
  return { stop: () => controller.abort(), done };
}

export const DEMO_DEPLOYMENT = (
  name: string,
  opts: {
    replicas?: number;
    image?: string;
    env?: Record<string, string>;
    grace?: number;
    extraSpec?: Record<string, unknown>;
    container?: Record<string, unknown>;
  } = {},
): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      ...(opts.extraSpec ?? {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: opts.grace ?? 2,
          containers: [
            {
              name: 'app',
              image: opts.image ?? 'demo:v1',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: Object.entries(opts.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
              ...(opts.container ?? {}),
            },
          ],
        },
      },
    },
  });

export const DEMO_SERVICE = (name: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app: name }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
  });
