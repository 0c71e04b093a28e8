// Discovery from Kubernetes: informers on the Service, its EndpointSlices and pods, and the
// Deployment with its ReplicaSets, turned into plain endpoint snapshots for the data plane and a
// plain cluster view for the rollout controller.

import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { GlidepathError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import type { DiscoveryListener, DiscoverySource } from '../source.ts';
import {
  buildClusterView,
  buildSnapshot,
  labelSelectorString,
  mapSelectorString,
  resolvePort,
  SERVICE_NAME_LABEL,
  snapshotKey,
} from './build.ts';
import { ResilientInformer, type Backoff, type WatchStatus } from './informer.ts';
import type { ClusterView, ClusterViewListener } from './view.ts';

/** The `kubernetes` config section (durations already in milliseconds). */
export interface KubernetesSettings {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly service: string;
  readonly deployment: string;
  readonly port: string;
  readonly requestTimeout: number;
}

export interface KubernetesDiscoveryOptions {
  /** Root under which in-cluster credentials are read (`KubeConfig.loadFromCluster(pathPrefix)`); '' in production. */
  readonly inClusterRoot?: string | undefined;
  /**
   * Events within this window are coalesced into one snapshot; the window starts at the first
   * event, so no change (a pod turning terminating included) waits longer than this.
   */
  readonly debounceMs?: number | undefined;
  readonly backoff?: Backoff | undefined;
  readonly random?: (() => number) | undefined;
  /** Watch recoveries and selector changes are logged here (failures go to the listener's onError). */
  readonly logger?: Logger | undefined;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Loads credentials: the kubeconfig file, or in a pod the service account. Throws GP_CONFIG_INVALID with what to set. */
export function loadKubeConfig(settings: Pick<KubernetesSettings, 'kubeconfig'>, inClusterRoot = ''): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (settings.kubeconfig !== '') {
    if (!existsSync(settings.kubeconfig))
      throw new GlidepathError('GP_CONFIG_INVALID', `kubernetes.kubeconfig: no such file ${settings.kubeconfig}`);
    try {
      kc.loadFromFile(settings.kubeconfig);
    } catch (err) {
      throw new GlidepathError(
        'GP_CONFIG_INVALID',
        `kubernetes.kubeconfig: cannot load ${settings.kubeconfig}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (kc.getCurrentCluster() === null)
      throw new GlidepathError('GP_CONFIG_INVALID', `kubernetes.kubeconfig: ${settings.kubeconfig} has no current context with a cluster`);
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST || !existsSync(`${inClusterRoot}${SERVICE_ACCOUNT_DIR}/token`)) {
    throw new GlidepathError(
      'GP_CONFIG_INVALID',
      `kubernetes.kubeconfig is empty and glidepath is not running in a pod (KUBERNETES_SERVICE_HOST is unset or ${SERVICE_ACCOUNT_DIR}/token is missing): set --kubeconfig (GLIDEPATH_KUBERNETES_KUBECONFIG), or mount the service-account token`,
    );
  }
  kc.loadFromCluster(inClusterRoot);
  return kc;
}

/**
 * A DiscoverySource over the Kubernetes API. `start()` resolves once the first snapshot is
 * delivered (every watch listed) or, earlier, once a first problem has been reported through
 * `onError` (API unreachable, forbidden, Service missing), so the admin API can come up and say
 * why it is not ready; the informers keep retrying and deliver the first snapshot later.
 * Until then the data plane has no endpoints and `/readyz` answers 503.
 */
export class KubernetesDiscovery implements DiscoverySource {
  readonly #settings: KubernetesSettings;
  readonly #options: KubernetesDiscoveryOptions;
  readonly #debounceMs: number;
  #kc: k8s.KubeConfig | undefined;
  #namespace = '';
  #listener: DiscoveryListener | undefined;
  #service: ResilientInformer<k8s.V1Service> | undefined;
  #slices: ResilientInformer<k8s.V1EndpointSlice> | undefined;
  #deployment: ResilientInformer<k8s.V1Deployment> | undefined;
  #pods: ResilientInformer<k8s.V1Pod> | undefined;
  #replicaSets: ResilientInformer<k8s.V1ReplicaSet> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #published: string | undefined;
  #forcePublish = false;
  #objectError: string | undefined;
  #remembered = new Map<string, string>();
  #pending: readonly string[] = [];
  #view: ClusterView | undefined;
  #viewKey: string | undefined;
  readonly #viewListeners = new Set<ClusterViewListener>();
  #startWaiter: (() => void) | undefined;

  constructor(settings: KubernetesSettings, options: KubernetesDiscoveryOptions = {}) {
    this.#settings = settings;
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? 5;
  }

  get description(): string {
    const ns = this.#namespace || this.#settings.namespace || '(context namespace)';
    return `Kubernetes Service ${ns}/${this.#settings.service}${this.#settings.deployment ? `, Deployment ${this.#settings.deployment}` : ''}`;
  }

  get namespace(): string {
    return this.#namespace;
  }

  /** True once every watch has applied its first list and a snapshot was built. */
  get synced(): boolean {
    return this.#published !== undefined;
  }

  /** Per-watch state for /status (`discovery.watches`). */
  watches(): WatchStatus[] {
    return [this.#service, this.#slices, this.#pods, this.#deployment, this.#replicaSets]
      .filter((w) => w !== undefined)
      .map((w) => w.status());
  }

  /** Pods listed in a slice whose version is not known yet (their endpoints are held back). */
  get pendingPods(): readonly string[] {
    return this.#pending;
  }

  /** The latest cluster view (undefined before the first sync). */
  clusterView(): ClusterView | undefined {
    return this.#view;
  }

  /** Calls `listener` with every new cluster view (and at once with the current one, if any); returns an unsubscribe function. */
  onClusterView(listener: ClusterViewListener): () => void {
    this.#viewListeners.add(listener);
    if (this.#view !== undefined) listener(this.#view);
    return () => void this.#viewListeners.delete(listener);
  }

  async start(listener: DiscoveryListener): Promise<void> {
    this.#listener = listener;
    const kc = loadKubeConfig(this.#settings, this.#options.inClusterRoot);
    this.#kc = kc;
    const contextNamespace = kc.getContextObject(kc.currentContext)?.namespace?.trim();
    this.#namespace = this.#settings.namespace || contextNamespace || '';
    if (this.#namespace === '') {
      throw new GlidepathError(
        'GP_CONFIG_INVALID',
        "kubernetes.namespace is empty and the kubeconfig's current context names no namespace: set --namespace (GLIDEPATH_KUBERNETES_NAMESPACE)",
      );
    }
    const ns = this.#namespace;
    const svc = this.#settings.service;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const disco = kc.makeApiClient(k8s.DiscoveryV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const started = new Promise<void>((resolve) => (this.#startWaiter = resolve));

    const byName = `metadata.name=${svc}`;
    this.#service = this.#informer(
      'service',
      `/api/v1/namespaces/${ns}/services`,
      { resource: 'services', group: '' },
      () => core.listNamespacedService({ namespace: ns, fieldSelector: byName }),
      undefined,
      byName,
    );
    const sliceSelector = `${SERVICE_NAME_LABEL}=${svc}`;
    this.#slices = this.#informer(
      'endpointslices',
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      { resource: 'endpointslices', group: 'discovery.k8s.io' },
      () => disco.listNamespacedEndpointSlice({ namespace: ns, labelSelector: sliceSelector }),
      sliceSelector,
    );
    if (this.#settings.deployment !== '') {
      const deployByName = `metadata.name=${this.#settings.deployment}`;
      this.#deployment = this.#informer(
        'deployment',
        `/apis/apps/v1/namespaces/${ns}/deployments`,
        { resource: 'deployments', group: 'apps' },
        () => apps.listNamespacedDeployment({ namespace: ns, fieldSelector: deployByName }),
        undefined,
        deployByName,
      );
    }
    this.#apis = { core, apps };
    for (const w of [this.#service, this.#slices, this.#deployment]) w?.start();
    await started;
  }

  #apis: { core: k8s.CoreV1Api; apps: k8s.AppsV1Api } | undefined;

  #informer<T extends k8s.KubernetesObject>(
    name: string,
    path: string,
    resource: { resource: string; group: string },
    list: () => Promise<k8s.KubernetesListObject<T>>,
    labelSelector?: string,
    fieldSelector?: string,
  ): ResilientInformer<T> {
    return new ResilientInformer<T>({
      name,
      path,
      list,
      labelSelector,
      fieldSelector,
      kubeConfig: this.#kc as k8s.KubeConfig,
      request: { ...resource, namespace: this.#namespace },
      listTimeoutMs: this.#settings.requestTimeout,
      backoff: this.#options.backoff,
      random: this.#options.random,
      onChange: () => this.#schedule(),
      onError: (err) => this.#report(err),
      onRecovered: () => {
        const w = [this.#service, this.#slices, this.#deployment, this.#pods, this.#replicaSets].find((i) => i?.name === name)?.status();
        (this.#options.logger ?? silentLogger).info(
          { watch: name, restarts: w?.restarts, lastError: w?.lastError?.code },
          'watch recovered',
        );
        this.#forcePublish = true;
        this.#schedule();
      },
    });
  }

  #report(err: GlidepathError): void {
    if (this.#closed) return;
    this.#listener?.onError(err);
    this.#startWaiter?.();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#reconcile();
    }, this.#debounceMs);
  }

  /** Sets the one dependent informer to `selector`: restarted when the selector changes. */
  #ensure<T extends k8s.KubernetesObject>(
    current: ResilientInformer<T> | undefined,
    selector: string,
    make: (selector: string) => ResilientInformer<T>,
  ): ResilientInformer<T> {
    if (current !== undefined && current.status().labelSelector === selector) return current;
    if (current !== undefined) {
      (this.#options.logger ?? silentLogger).info(
        { watch: current.name, from: current.status().labelSelector, to: selector },
        'selector changed: watch restarted',
      );
      void current.stop();
    }
    const next = make(selector);
    next.start();
    return next;
  }

  #objectProblem(message: string | undefined): void {
    if (message === this.#objectError) return;
    this.#objectError = message;
    if (message !== undefined) this.#report(new GlidepathError('GP_KUBERNETES_NOT_FOUND', message));
    else this.#forcePublish = true;
  }

  #reconcile(): void {
    if (this.#closed || this.#apis === undefined) return;
    const ns = this.#namespace;
    const { core, apps } = this.#apis;
    const svcName = this.#settings.service;
    const deployName = this.#settings.deployment;
    const service = this.#service?.get(svcName, ns);
    const deployment = deployName ? this.#deployment?.get(deployName, ns) : undefined;

    let podSelector: string | undefined;
    if (service !== undefined) {
      podSelector = mapSelectorString(service.spec?.selector);
      if (podSelector !== '') {
        this.#pods = this.#ensure(this.#pods, podSelector, (sel) =>
          this.#informer(
            'pods',
            `/api/v1/namespaces/${ns}/pods`,
            { resource: 'pods', group: '' },
            () => core.listNamespacedPod({ namespace: ns, labelSelector: sel }),
            sel,
          ),
        );
      }
    }
    // The Deployment's selector finds its ReplicaSets (as the Deployment controller does); without
    // a Deployment the Service's selector does, since a ReplicaSet carries its pods' labels.
    const rsSelector = deployName ? (deployment ? labelSelectorString(deployment.spec?.selector) : undefined) : podSelector;
    if (rsSelector) {
      this.#replicaSets = this.#ensure(this.#replicaSets, rsSelector, (sel) =>
        this.#informer(
          'replicasets',
          `/apis/apps/v1/namespaces/${ns}/replicasets`,
          { resource: 'replicasets', group: 'apps' },
          () => apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: sel }),
          sel,
        ),
      );
    }

    const where = `namespace "${ns}"`;
    let problem: string | undefined;
    if (this.#service?.synced && service === undefined)
      problem = `Service "${svcName}" not found in ${where}: create it, or fix kubernetes.service / kubernetes.namespace`;
    else if (service !== undefined && podSelector === '')
      problem = `Service "${ns}/${svcName}" has no selector: glidepath needs a Service that selects the Deployment's pods`;
    else if (deployName && this.#deployment?.synced && deployment === undefined)
      problem = `Deployment "${deployName}" not found in ${where}: create it, or fix kubernetes.deployment (or leave it empty to only route and drain)`;
    const port = service !== undefined ? resolvePort(service, this.#settings.port) : undefined;
    if (problem === undefined && typeof port === 'string') problem = port;
    this.#objectProblem(problem);

    const informers = [this.#service, this.#slices, this.#deployment, this.#pods, this.#replicaSets];
    const allSynced = informers.every((w) => w === undefined || w.synced) && this.#pods !== undefined && this.#replicaSets !== undefined;

    // The view goes out as soon as the Deployment watch has listed, so a missing Deployment is
    // visible to the controller (deploymentMissing) even though its ReplicaSets cannot be watched.
    if (deployName !== '' ? this.#deployment?.synced === true : this.#replicaSets !== undefined) {
      const view = buildClusterView({
        namespace: ns,
        service: svcName,
        deploymentName: deployName,
        deployment,
        replicaSets: this.#replicaSets?.list() ?? [],
        pods: this.#pods?.list() ?? [],
        synced: allSynced,
        deploymentListed: this.#deployment?.synced === true,
      });
      const key = JSON.stringify(view);
      if (key !== this.#viewKey) {
        this.#viewKey = key;
        this.#view = view;
        for (const l of this.#viewListeners) l(view);
      }
    }

    // A missing Service (or port) must not empty the routing table: the last good snapshot stays.
    if (!allSynced || service === undefined || port === undefined || typeof port === 'string') return;
    // A missing Deployment is reported but routing goes on: the Service still names the pods.
    const pods = this.#pods;
    const { snapshot, pending } = buildSnapshot({
      slices: this.#slices?.list() ?? [],
      pod: (name) => pods?.get(name, ns),
      replicaSets: this.#replicaSets?.list() ?? [],
      port,
      remembered: this.#remembered,
    });
    this.#pending = pending;
    const key = snapshotKey(snapshot);
    if (key === this.#published && !this.#forcePublish) return;
    this.#published = key;
    this.#forcePublish = false;
    this.#listener?.onSnapshot(snapshot);
    this.#startWaiter?.();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#startWaiter?.();
    await Promise.all([this.#service, this.#slices, this.#deployment, this.#pods, this.#replicaSets].map((w) => w?.stop()));
  }
}
