// The composition root: the only place that wires concrete parts (config → logger, data plane,
// discovery, telemetry, listeners) and owns their start and stop order.

import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.ts';
import type { Logger } from './core/log.ts';
import { parseHostPort, type HostPort } from './core/address.ts';
import { GlidepathError } from './core/errors.ts';
import { DataPlane } from './dataplane/dataplane.ts';
import { createProxyServer } from './dataplane/server.ts';
import type { DiscoverySource } from './discovery/source.ts';
import { StaticFileDiscovery } from './discovery/static-file.ts';
import { KubernetesDiscovery } from './discovery/kubernetes/discovery.ts';
import { createLogger } from './telemetry/logger.ts';
import { createMetricsRegistry } from './telemetry/metrics.ts';
import { createAdminServer, type AdminAction } from './admin/server.ts';
import { buildStatus } from './admin/status.ts';
import { PACKAGE_VERSION } from './version.ts';
import { systemClock } from './core/control.ts';
import type { DiscoverySnapshot } from './core/types.ts';
import { ROLLOUT_VERBS } from './core/admin-api.ts';
import { createRolloutController, weightsByReadyPods } from './app-rollout.ts';
import type { RolloutController } from './rollout/controller.ts';

export interface AppOptions {
  readonly logger?: Logger;
  /** Admin verbs to serve at POST /actions/<name> (embedders and tests; the rollout controller adds its own). */
  readonly actions?: Readonly<Record<string, AdminAction>>;
}

export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly dataPlane: DataPlane;
  /** The Kubernetes source when kubernetes.service is set (its cluster view feeds the rollout controller). */
  readonly kubernetes: KubernetesDiscovery | undefined;
  /** The rollout controller when kubernetes.deployment is set. */
  readonly rollout: RolloutController | undefined;
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  /**
   * Graceful stop (SIGTERM): /readyz 503 and Connection: close at once, keep serving for the drain
   * delay, stop accepting, wait for in-flight requests up to the grace period, close everything.
   */
  stop(): Promise<void>;
}

/** Starts everything; resolves once both listeners are bound and the first endpoints loaded. */
export async function startApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.log.level);
  const accessLog = logger.child({ module: 'access' });
  const dataPlane = new DataPlane({
    server: config.server,
    upstream: config.upstream,
    retry: config.retry,
    outlier: config.outlier,
    websocket: config.websocket,
    logger: logger.child({ module: 'dataplane' }),
    accessLogSampleRate: config.log.accessLogSampleRate,
    onAccessLog: (entry) => accessLog.info(entry, 'request'),
  });

  const discovery = createDiscovery(config, logger);
  const kubernetes = discovery instanceof KubernetesDiscovery ? discovery : undefined;
  const discoveryLog = logger.child({ module: 'discovery', source: discovery.description });
  const discoveryState = { lastError: undefined as Error | undefined, updatedAt: undefined as Date | undefined, updates: 0 };
  let lastSnapshot: DiscoverySnapshot | undefined;
  let rollout: RolloutController | undefined;
  // A Kubernetes source resolves early when the API has a problem (reported through onError) so
  // that the admin API comes up; /readyz stays 503 until its first snapshot (dataPlane.loaded).
  await discovery.start({
    onSnapshot: (snapshot) => {
      lastSnapshot = snapshot;
      dataPlane.applyDiscovery(snapshot);
      // Kubernetes never says how to weigh versions: until (or unless) the rollout controller owns the
      // weights, spread traffic by ready pods as kube-proxy would. The controller re-decides at once.
      if (kubernetes !== undefined) {
        if (rollout === undefined) dataPlane.setWeights(weightsByReadyPods(snapshot));
        else rollout.poke();
      }
      discoveryState.lastError = undefined;
      discoveryState.updatedAt = new Date();
      discoveryState.updates++;
      discoveryLog.info({ versions: snapshot.versions.length, endpoints: snapshot.endpoints.length }, 'endpoints applied');
    },
    onError: (err) => {
      discoveryState.lastError = err;
      discoveryLog.error(
        { code: (err as GlidepathError).code, err: err.message },
        'endpoints rejected; the last good snapshot stays in force',
      );
    },
  });

  if (kubernetes !== undefined && config.kubernetes.deployment !== '') {
    rollout = createRolloutController({
      config,
      kubernetes,
      dataPlane,
      clock: systemClock,
      logger: logger.child({ module: 'rollout' }),
      lastSnapshot: () => lastSnapshot,
    });
    await rollout.start();
  }
  const controller = rollout;
  const rolloutActions =
    controller === undefined ? {} : Object.fromEntries(ROLLOUT_VERBS.map((verb) => [verb, () => controller.command(verb)]));

  const registry = createMetricsRegistry({ dataPlane, ...(controller ? { rollout: () => controller.snapshot() } : {}) });
  const startedAt = Date.now();
  let stopping: Promise<void> | undefined;
  const proxy = createProxyServer(dataPlane, config.server);
  const admin = createAdminServer({
    isLive: () => true,
    isReady: () => stopping === undefined && dataPlane.loaded && proxy.listening,
    metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    status: () =>
      buildStatus({
        dataPlane,
        startedAt,
        version: PACKAGE_VERSION,
        discovery: { source: discovery.description, ...discoveryState, ...(kubernetes ? { watches: kubernetes.watches() } : {}) },
        ...(controller ? { rollout: controller.snapshot() } : {}),
      }),
    token: config.admin.token,
    actions: { ...rolloutActions, ...options.actions },
  });

  let proxyAddress: AddressInfo;
  let adminAddress: AddressInfo;
  try {
    proxyAddress = await listen(proxy, hostPort(config.listen, 'listen'));
    adminAddress = await listen(admin, hostPort(config.admin.listen, 'admin.listen'));
  } catch (err) {
    proxy.close();
    await controller?.close();
    await discovery.close();
    await dataPlane.destroy();
    throw err;
  }
  logger.info({ proxy: proxyAddress, admin: adminAddress, version: PACKAGE_VERSION }, 'glidepath listening');

  return {
    config,
    logger,
    dataPlane,
    kubernetes,
    rollout: controller,
    proxyAddress,
    adminAddress,
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
  };

  async function shutdown(): Promise<void> {
    const { drainDelay, gracePeriod } = config.shutdown;
    dataPlane.beginShutdown();
    logger.info(
      { drainDelayMs: drainDelay, gracePeriodMs: gracePeriod, inFlight: dataPlane.inFlight },
      'draining: not ready, still serving',
    );
    await sleep(drainDelay);
    proxy.close();
    proxy.closeIdleConnections();
    dataPlane.closeTunnels();
    const deadline = Date.now() + gracePeriod;
    while (dataPlane.inFlight > 0 && Date.now() < deadline) await sleep(10);
    if (dataPlane.inFlight > 0) logger.warn({ inFlight: dataPlane.inFlight }, 'grace period over: cutting the requests still in flight');
    proxy.closeAllConnections();
    await controller?.close();
    await dataPlane.destroy();
    await discovery.close();
    await closeServer(admin);
    logger.info({}, 'stopped');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function createDiscovery(config: Config, logger: Logger): DiscoverySource {
  if (config.kubernetes.service !== '')
    return new KubernetesDiscovery(config.kubernetes, { logger: logger.child({ module: 'discovery' }) });
  if (config.endpoints.file !== '') return new StaticFileDiscovery(config.endpoints.file);
  throw new GlidepathError(
    'GP_CONFIG_INVALID',
    'no discovery source: set endpoints.file (GLIDEPATH_ENDPOINTS_FILE or --endpoints), or kubernetes.service (GLIDEPATH_KUBERNETES_SERVICE or --service, with --namespace and optionally --deployment)',
  );
}

function hostPort(value: string, field: string): HostPort {
  const hp = parseHostPort(value);
  if (typeof hp === 'string') throw new GlidepathError('GP_CONFIG_INVALID', `${field}: ${hp}`);
  return hp;
}

function listen(server: http.Server, at: HostPort): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
