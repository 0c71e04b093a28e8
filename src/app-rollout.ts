// Composition of the rollout controller (used by app.ts only): Kubernetes discovery's cluster view
// turned into the controller's observation, and the controller built with its Kubernetes actions.

import type { Config } from './config/schema.ts';
import type { Clock, DataPlaneControl } from './core/control.ts';
import type { Logger } from './core/log.ts';
import { WEIGHT_TOTAL, type DiscoverySnapshot, type WeightTable } from './core/types.ts';
import type { KubernetesDiscovery } from './discovery/kubernetes/discovery.ts';
import { loadKubeConfig } from './discovery/kubernetes/discovery.ts';
import type { ClusterView } from './discovery/kubernetes/view.ts';
import { ActionExecutor } from './rollout/actions/executor.ts';
import { KubernetesActions } from './rollout/actions/kubernetes.ts';
import { RolloutController } from './rollout/controller.ts';
import type { Observation, ReplicaSetObservation } from './rollout/observation.ts';
import { rolloutSpec } from './rollout/spec.ts';

/** Ready, non-terminating endpoints per version: what the data plane can route to right now. */
export function readyEndpointsByVersion(snapshot: DiscoverySnapshot | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ep of snapshot?.endpoints ?? []) if (ep.ready && !ep.terminating) out[ep.version] = (out[ep.version] ?? 0) + 1;
  return out;
}

/**
 * Weights as kube-proxy would spread traffic, by ready pods, for when no controller owns them
 * (Kubernetes discovery without --deployment, or before the controller's first decision).
 */
export function weightsByReadyPods(snapshot: DiscoverySnapshot): WeightTable {
  const ready = readyEndpointsByVersion(snapshot);
  const total = Object.values(ready).reduce((a, b) => a + b, 0);
  if (total === 0) return {};
  const out: Record<string, number> = {};
  let given = 0;
  const names = Object.keys(ready).sort();
  names.forEach((name, i) => {
    const share = i === names.length - 1 ? WEIGHT_TOTAL - given : Math.floor(((ready[name] as number) * WEIGHT_TOTAL) / total);
    out[name] = share;
    given += share;
  });
  return out;
}

/** The controller's observation of the Deployment, from discovery's plain cluster view. */
export function observationFrom(view: ClusterView | undefined, readyEndpoints: Readonly<Record<string, number>>): Observation | null {
  if (view === undefined || !view.synced) return null;
  const d = view.deployment;
  if (d === undefined) return { deployment: null, replicaSets: [], readyEndpoints };
  const replicaSets: ReplicaSetObservation[] = view.replicaSets.map((rs) => ({
    version: rs.hash,
    revision: rs.revision,
    desiredReplicas: rs.replicas,
    replicas: Math.max(0, rs.podHealth.total - rs.podHealth.terminating),
    readyReplicas: rs.readyReplicas,
    availableReplicas: rs.availableReplicas,
    maxRestarts: rs.podHealth.pods.reduce((m, p) => Math.max(m, p.restarts), 0),
    crashLoopingPods: rs.podHealth.waitingReasons.CrashLoopBackOff ?? 0,
  }));
  const current = d.templateHash === undefined ? undefined : replicaSets.find((rs) => rs.version === d.templateHash);
  const progressing = d.conditions.find((c) => c.type === 'Progressing');
  return {
    deployment: {
      name: d.name,
      generation: d.generation,
      observedGeneration: d.observedGeneration,
      paused: d.paused,
      replicas: d.replicas,
      newest: current === undefined ? null : { version: current.version, revision: current.revision },
      templateChanged: current === undefined,
      progressDeadlineExceeded: progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded',
    },
    replicaSets,
    readyEndpoints,
  };
}

export interface RolloutWiring {
  readonly config: Config;
  readonly kubernetes: KubernetesDiscovery;
  readonly dataPlane: DataPlaneControl;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The last endpoints snapshot applied to the data plane. */
  readonly lastSnapshot: () => DiscoverySnapshot | undefined;
}

/** The controller for `kubernetes.deployment`, acting through the same credentials as discovery. */
export function createRolloutController(w: RolloutWiring): RolloutController {
  const { config, kubernetes, logger } = w;
  const actions = new KubernetesActions(loadKubeConfig(config.kubernetes), {
    namespace: kubernetes.namespace,
    deployment: config.kubernetes.deployment,
    clock: w.clock,
    timeoutMs: config.kubernetes.requestTimeout,
  });
  const executor = new ActionExecutor({
    clock: w.clock,
    onRetry: (kind, err, attempt, delayMs) =>
      logger.warn(
        { action: kind, attempt, delayMs, code: (err as { code?: string }).code, err: (err as Error).message },
        'rollout action failed; retrying',
      ),
  });
  const controller = new RolloutController({
    spec: rolloutSpec(config.rollout),
    dataPlane: w.dataPlane,
    actions,
    executor,
    observe: () => observationFrom(kubernetes.clusterView(), readyEndpointsByVersion(w.lastSnapshot())),
    clock: w.clock,
    logger,
  });
  kubernetes.onClusterView(() => controller.poke());
  return controller;
}
