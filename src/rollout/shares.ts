// Pod-share arithmetic for the rollout: the weight table a step may have given the ready pods, and
// whether a gated Deployment should hold (paused) or let Kubernetes bring the next batch of pods.

import { WEIGHT_TOTAL, type WeightTable } from '../core/types.ts';
import type { Observation, ReplicaSetObservation } from './observation.ts';

/**
 * Weights for stable and canary when the canary should carry `percent` of requests. The canary's
 * weight never exceeds its share of the ready pods (so a canary pod never carries more than a stable
 * pod) and is 0 with no ready canary pod; with no ready stable pod left the canary serves everything.
 * Versions not in the table get 0 (the data plane drains them).
 */
export function rolloutWeights(stable: string, canary: string, percent: number, ready: Readonly<Record<string, number>>): WeightTable {
  const c = ready[canary] ?? 0;
  const s = ready[stable] ?? 0;
  let canaryBp: number;
  if (c === 0 || percent <= 0) canaryBp = 0;
  else if (s === 0) canaryBp = WEIGHT_TOTAL;
  else canaryBp = Math.min(Math.round(percent * (WEIGHT_TOTAL / 100)), Math.floor((WEIGHT_TOTAL * c) / (c + s)));
  return { [stable]: WEIGHT_TOTAL - canaryBp, [canary]: canaryBp };
}

/** The canary's share of ready pods in basis points (WEIGHT_TOTAL when no stable pod is ready). */
export function readyShareBp(stable: string, canary: string, ready: Readonly<Record<string, number>>): number {
  const c = ready[canary] ?? 0;
  const s = ready[stable] ?? 0;
  if (c === 0) return 0;
  return s === 0 ? WEIGHT_TOTAL : Math.floor((WEIGHT_TOTAL * c) / (c + s));
}

/** The ready pods have reached the share a step needs, so its weight is in force. */
export function stepReached(stable: string, canary: string, percent: number, ready: Readonly<Record<string, number>>): boolean {
  if (percent >= 100) return false; // 100 % is reached only when every old pod is gone: completion
  return (ready[canary] ?? 0) > 0 && readyShareBp(stable, canary, ready) >= Math.round(percent * (WEIGHT_TOTAL / 100));
}

/** Canary pods a step needs out of `replicas` (at least one for any weight above 0). */
export function podsFor(percent: number, replicas: number): number {
  if (percent <= 0) return 0;
  return Math.max(1, Math.ceil((percent / 100) * replicas - 1e-9));
}

/**
 * Gated mode: should the Deployment be paused for a step at `percent`? Paused once the ready pods
 * reach the step's share, and also while pods Kubernetes already scheduled for it are still starting
 * (pausing at once keeps the old pods; a paused Deployment still lets its ReplicaSets finish their
 * pods). Unpaused otherwise, so Kubernetes moves to the next batch; always unpaused at 100 %.
 */
export function shouldHoldDeployment(
  stable: string,
  canary: ReplicaSetObservation | undefined,
  percent: number,
  obs: Observation,
): boolean {
  if (percent >= 100 || canary === undefined || obs.deployment === null) return false;
  if (stepReached(stable, canary.version, percent, obs.readyEndpoints)) return true;
  const ready = obs.readyEndpoints[canary.version] ?? 0;
  return canary.desiredReplicas >= podsFor(percent, obs.deployment.replicas) && ready < canary.desiredReplicas;
}

/** Every pod of every other ReplicaSet is gone and the canary has all its pods available. */
export function allPodsNew(canary: string, obs: Observation): boolean {
  const d = obs.deployment;
  if (d === null) return false;
  const rs = obs.replicaSets.find((r) => r.version === canary);
  if (rs === undefined || rs.availableReplicas < d.replicas || (obs.readyEndpoints[canary] ?? 0) === 0) return false;
  const othersGone = obs.replicaSets.every((r) => r.version === canary || (r.replicas === 0 && r.desiredReplicas === 0));
  const otherEndpoints = Object.entries(obs.readyEndpoints).some(([v, n]) => v !== canary && n > 0);
  return othersGone && !otherEndpoints && d.observedGeneration >= d.generation;
}
