// The simulated Kubernetes cluster: an API server that real kubectl and client-node talk to, the
// controllers, a scheduler and a kubelet that runs each pod as a real process on its own loopback IP.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from './api/registry.ts';
import { T } from './api/resources.ts';
import { ApiServer } from './api/server.ts';
import type { RequestRecord } from './api/server.ts';
import { Store } from './api/store.ts';
import { DeploymentController } from './controllers/deployment.ts';
import { EndpointSliceController, MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './controllers/endpointslice.ts';
import { EventRecorder } from './controllers/events.ts';
import { GarbageCollector } from './controllers/garbage.ts';
import { NamespaceController } from './controllers/namespace.ts';
import { ReplicaSetController } from './controllers/replicaset.ts';
import { Scheduler } from './controllers/scheduler.ts';
import { IpAllocator } from './kubelet/ip.ts';
import { Kubelet } from './kubelet/kubelet.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import { selfSignedCert } from './tls.ts';

export interface ClusterOptions {
  /** API server port; 0 (default) picks a free one. */
  port?: number;
  /** API server address; default 127.0.0.1. */
  host?: string;
  /** When set, every API request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Serve https with a fresh self-signed certificate (made with the openssl command). kubectl and
   * helm send the token only over TLS; the kubeconfig then carries the certificate as its CA.
   */
  tls?: boolean;
  /** Where to write the kubeconfig; default a fresh temporary directory, removed on stop. */
  kubeconfigPath?: string;
  /** Lag between a pod or Service change and the EndpointSlice update (changes within it are batched). */
  endpointSliceDelayMs?: number;
  /** First three octets of pod IPs, e.g. '127.0.10'; default a random 127.a.b so clusters in parallel do not collide. */
  podIpPrefix?: string;
  /** Overrides every probe's periodSeconds, for tests. */
  probePeriodMs?: number;
  /** First crash-loop back-off of a container that exits on its own (default 10 s, doubling). */
  crashBackoffMs?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK (default 60 s). */
  bookmarkIntervalMs?: number;
  /** Name of the one node (default 'sim-node'). */
  nodeName?: string;
  /** Controller failures (bugs, not API errors); default: printed to stderr. */
  onError?: (err: unknown) => void;
}

export interface ClusterFaults {
  /** Ends every open watch cleanly (as an apiserver restart would). */
  endWatches(): void;
  /** Resets the TCP connection of every open watch mid-stream. */
  dropWatches(): void;
  /** The next watch gets an in-stream 410 Expired ERROR event and is closed. */
  expireNextWatch(): void;
  /** Forgets the change history: any watch from an older resourceVersion gets 410 Expired. */
  compact(): void;
  /** The next request (the next watch with `{ watchOnly: true }`) is answered with this status (default 500). */
  failNext(status?: number, options?: { watchOnly?: boolean }): void;
  /** The next request's connection is reset without a response. */
  dropNextConnection(): void;
  /** Delays every request by this much (0 turns it off). */
  setLatency(ms: number): void;
  /** While on, open watches are reset and every new connection is reset without an answer. */
  setUnreachable(on: boolean): void;
  /**
   * Denies `verb` (get, list, watch, create, update, patch, delete, deletecollection, or '*') on
   * `resource` (a plural such as 'deployments', with '/subresource' for one, or '*') with the
   * apiserver's 403, as a missing RBAC rule would; `false` allows it again. Returns the function
   * that lifts the denial.
   */
  forbid(resource: string, verb: string, forbidden?: boolean): () => void;
}

export interface Cluster {
  url: string;
  /** The serving certificate (PEM) when `tls` is on: the CA clients must trust. */
  caPem?: string;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  token?: string;
  nodeName: string;
  faults: ClusterFaults;
  /** The last requests the API server answered (method, url, content type, status). */
  requests: readonly RequestRecord[];
  /** Pod IP by `namespace/name` for every pod whose processes are running now. */
  podIps(): Map<string, string>;
  /**
   * Lays out what a pod sees in a real cluster, for `KubeConfig.loadFromCluster(pathPrefix)`:
   * `<pathPrefix>/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}` and the
   * `KUBERNETES_SERVICE_HOST`/`PORT` env. Needs `tls` (in-cluster config always speaks https here).
   */
  inCluster(namespace?: string): Promise<{ pathPrefix: string; env: { KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string } }>;
  stop(): Promise<void>;
}

function defaultPodIpPrefix(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const host = options.host ?? '127.0.0.1';
  const nodeName = options.nodeName ?? 'sim-node';
  const onError =
    options.onError ??
    ((err: unknown) => process.stderr.write(`simulated cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
  const store = new Store();
  const registry = new Registry(store, '127.96');
  const events = new EventRecorder(registry);
  const kubelet = new Kubelet({
    registry,
    events,
    ips: new IpAllocator(options.podIpPrefix ?? defaultPodIpPrefix()),
    nodeName,
    hostIp: host,
    probePeriodMs: options.probePeriodMs,
    crashBackoffMs: options.crashBackoffMs ?? 10_000,
    onError,
  });
  const deps = { registry, events, onError };
  const controllers = [
    new NamespaceController(deps),
    new GarbageCollector(deps),
    new DeploymentController(deps),
    new ReplicaSetController(deps),
    new EndpointSliceController(deps, options.endpointSliceDelayMs ?? 0),
    new Scheduler(deps, nodeName),
    kubelet,
  ];
  const unsubscribe = store.subscribe((c) => {
    for (const ctl of controllers) ctl.observe(c);
  });

  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    registry.create(T.namespaces, undefined, { metadata: { name } });
  const node = registry.create(T.nodes, undefined, {
    metadata: {
      name: nodeName,
      labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    },
    spec: {},
  });
  registry.update(
    T.nodes,
    undefined,
    nodeName,
    {
      ...node,
      metadata: { ...node.metadata, resourceVersion: undefined },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
            lastHeartbeatTime: node.metadata.creationTimestamp,
            lastTransitionTime: node.metadata.creationTimestamp,
          },
        ],
        addresses: [
          { type: 'InternalIP', address: host },
          { type: 'Hostname', address: nodeName },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.32.4',
          kubeProxyVersion: 'v1.32.4',
          containerRuntimeVersion: 'simulated://1',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    },
    'status',
  );

  const tls = options.tls ? await selfSignedCert(host) : undefined;
  const api = new ApiServer(registry, {
    host,
    port: options.port ?? 0,
    token: options.token,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    tls,
  });
  api.setLogSource(kubelet);
  const url = await api.listen();
  const apiPort = Number(new URL(url).port);
  // Every real cluster has the `kubernetes` Service in `default`, its slice pointing at the apiserver.
  registry.create(T.services, 'default', {
    metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: apiPort }] },
  });
  registry.create(T.endpointslices, 'default', {
    metadata: {
      name: 'kubernetes',
      labels: { [SERVICE_NAME_LABEL]: 'kubernetes', [MANAGED_BY_LABEL]: 'endpoint-reconciler' },
      ownerReferences: [],
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [host], conditions: { ready: true } }],
    ports: [{ name: 'https', port: apiPort, protocol: 'TCP' }],
  });

  let tempDir: string | undefined;
  let kubeconfigPath = options.kubeconfigPath;
  if (!kubeconfigPath) {
    tempDir = await mkdtemp(join(tmpdir(), 'glidepath-cluster-'));
    kubeconfigPath = join(tempDir, 'kubeconfig');
  }
  const yaml = kubeconfigYaml(url, options.token, tls?.cert);
  await writeFile(kubeconfigPath, yaml, { mode: 0o600 });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      unsubscribe();
      for (const ctl of controllers) ctl.queue.stop();
      events.stop();
      await kubelet.stop();
      await api.close();
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return {
    url,
    kubeconfigPath,
    kubeconfigYaml: yaml,
    ...(options.token ? { token: options.token } : {}),
    ...(tls ? { caPem: tls.cert } : {}),
    nodeName,
    requests: api.requests,
    faults: {
      endWatches: () => api.watches.endAll(),
      dropWatches: () => api.watches.dropAll(),
      expireNextWatch: () => api.watches.expireNext(),
      compact: () => store.compact(),
      failNext: (status = 500, opts = {}) => {
        api.faults.failNext = { status, watchOnly: opts.watchOnly ?? false };
      },
      dropNextConnection: () => {
        api.faults.dropNext = true;
      },
      setLatency: (ms) => {
        api.faults.latencyMs = ms;
      },
      setUnreachable: (on) => {
        api.faults.unreachable = on;
        if (on) api.watches.dropAll();
      },
      forbid: (resource, verb, isForbidden = true) => {
        const lift = (): void => {
          for (const rule of api.faults.forbidden) if (rule.resource === resource && rule.verb === verb) api.faults.forbidden.delete(rule);
        };
        lift();
        if (isForbidden) api.faults.forbidden.add({ resource, verb });
        return lift;
      },
    },
    podIps: () => new Map([...kubelet.workers].map(([k, w]) => [k, w.ip])),
    inCluster: async (namespace = 'default') => {
      if (!tls) throw new Error('inCluster() needs a cluster started with tls: true');
      tempDir ??= await mkdtemp(join(tmpdir(), 'glidepath-cluster-'));
      const pathPrefix = join(tempDir, 'pod-root');
      const dir = join(pathPrefix, 'var/run/secrets/kubernetes.io/serviceaccount');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'token'), options.token ?? '');
      await writeFile(join(dir, 'ca.crt'), tls.cert);
      await writeFile(join(dir, 'namespace'), namespace);
      const u = new URL(url);
      return { pathPrefix, env: { KUBERNETES_SERVICE_HOST: u.hostname, KUBERNETES_SERVICE_PORT: u.port } };
    },
    stop,
  };
}
