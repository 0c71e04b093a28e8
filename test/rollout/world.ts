// Test inputs for decide(): a Deployment with its ReplicaSets and ready endpoints written as plain
// data, evidence written by hand (decide() is pure; these are its inputs), and a fake clock that
// drives it tick by tick while keeping the state between ticks.

import { loadConfig } from '../../src/config/load.ts';
import { decide, type RolloutAction } from '../../src/rollout/decide.ts';
import type { Evidence } from '../../src/rollout/evidence.ts';
import type { Observation, OperatorCommand, ReplicaSetObservation } from '../../src/rollout/observation.ts';
import { rolloutSpec, type RolloutSpec } from '../../src/rollout/spec.ts';
import { initialState, type RolloutState } from '../../src/rollout/state.ts';

/** The spec from the real config loader, with flags as overrides (e.g. { 'rollout.mode': 'observe' }). */
export function specWith(flags: Record<string, unknown> = {}): RolloutSpec {
  return rolloutSpec(loadConfig({ flags }).rollout);
}

export interface RsInput {
  readonly revision: number;
  /** Ready pods (and ready endpoints, unless `endpoints` says otherwise). */
  readonly ready: number;
  /** spec.replicas; defaults to `ready`. */
  readonly desired?: number;
  /** status.replicas; defaults to max(desired, ready). */
  readonly pods?: number;
  readonly endpoints?: number;
  readonly restarts?: number;
  readonly crashLooping?: number;
}

export interface WorldInput {
  readonly replicas?: number;
  readonly paused?: boolean;
  /** The newest ReplicaSet (the Deployment's template). */
  readonly newest: string;
  readonly rs: Readonly<Record<string, RsInput>>;
  readonly templateChanged?: boolean;
  readonly progressDeadlineExceeded?: boolean;
  readonly generation?: number;
  readonly observedGeneration?: number;
}

export function world(w: WorldInput): Observation {
  const replicaSets: ReplicaSetObservation[] = Object.entries(w.rs).map(([version, r]) => {
    const desired = r.desired ?? r.ready;
    return {
      version,
      revision: r.revision,
      desiredReplicas: desired,
      replicas: r.pods ?? Math.max(desired, r.ready),
      readyReplicas: r.ready,
      availableReplicas: r.ready,
      maxRestarts: r.restarts ?? 0,
      crashLoopingPods: r.crashLooping ?? 0,
    };
  });
  const newest = w.rs[w.newest];
  if (newest === undefined) throw new Error(`newest ${w.newest} is not among the ReplicaSets`);
  return {
    deployment: {
      name: 'web',
      generation: w.generation ?? 1,
      observedGeneration: w.observedGeneration ?? w.generation ?? 1,
      paused: w.paused ?? false,
      replicas: w.replicas ?? 4,
      newest: { version: w.newest, revision: newest.revision },
      templateChanged: w.templateChanged ?? false,
      progressDeadlineExceeded: w.progressDeadlineExceeded ?? false,
    },
    replicaSets,
    readyEndpoints: Object.fromEntries(Object.entries(w.rs).map(([v, r]) => [v, r.endpoints ?? r.ready])),
  };
}

export interface EvidenceInput {
  readonly canary?: string;
  readonly stable?: string;
  readonly canaryRequests?: number;
  readonly canaryFailures?: number;
  readonly stableRequests?: number;
  readonly stableFailures?: number;
  readonly stepRequests?: number;
  readonly stepFailures?: number;
  readonly lnE?: number;
  readonly lnSR?: number;
  readonly abort?: Evidence['abort'];
  readonly proven?: boolean;
  readonly requestsNeededToProve?: number;
  readonly clientRequests?: number;
  readonly excessFailures?: number;
  readonly budget?: number;
  readonly p99Ms?: number;
}

/** Evidence as the analysis reports it, with healthy defaults (α = 1 %, T = 10^6). */
export function evidence(e: EvidenceInput = {}): Evidence {
  const clientRequests = e.clientRequests ?? 20_000;
  const excess = e.excessFailures ?? 0;
  const limit = e.budget ?? 0.001;
  const stepRequests = e.stepRequests ?? 200;
  return {
    canary: e.canary ?? 'c1',
    stable: e.stable ?? 's1',
    canaryAttempts: { requests: e.canaryRequests ?? stepRequests, failures: e.canaryFailures ?? 0 },
    stableAttempts: { requests: e.stableRequests ?? 4_000, failures: e.stableFailures ?? 0 },
    stepCanaryAttempts: { requests: stepRequests, failures: e.stepFailures ?? 0 },
    lnE: e.lnE ?? -0.5,
    lnEThreshold: Math.log(2 / 0.01),
    lnSR: e.lnSR ?? -Infinity,
    lnSRThreshold: Math.log((2 * 1e6) / 0.01),
    components: [
      { name: 'failure-rate', lnE: e.lnE ?? -0.5, lnSR: e.lnSR ?? -Infinity, events: e.canaryFailures ?? 0, active: true },
      { name: 'absolute-rate', lnE: -1, lnSR: -Infinity, events: e.canaryRequests ?? stepRequests, active: true },
      { name: 'latency', lnE: -0.2, lnSR: -Infinity, events: 0, active: true },
    ],
    abort: e.abort ?? null,
    abortDecidedAt: e.abort ? 12_345.6 : null,
    advance: { lnE: e.proven ? 3.2 : 0.4, lnThreshold: Math.log(1 / 0.05), proven: e.proven ?? false },
    requestsNeededToProve: e.proven ? 0 : (e.requestsNeededToProve ?? 3_000),
    rateRatio: { lower: 0, upper: 4.2 },
    latencyThresholdsMs: [12, 30, e.p99Ms ?? 80],
    budget: {
      clientRequests,
      excessFailures: excess,
      ratio: clientRequests > 0 ? excess / clientRequests : 0,
      limit,
      remaining: Math.max(0, limit * clientRequests - excess),
      excessVariance: 0,
      noiseAllowance: 0,
    },
  };
}

/** decide() driven by a fake clock, keeping the state between ticks. */
export class Driver {
  now = 1_700_000_000_000;
  state: RolloutState;
  readonly spec: RolloutSpec;

  constructor(spec: RolloutSpec, state: RolloutState = initialState()) {
    this.spec = spec;
    this.state = state;
  }

  /** One tick; the inputs are deep-frozen, so a decide() that mutated them would throw here. */
  tick(obs: Observation, ev: Evidence | null = null, commands: readonly OperatorCommand[] = []): RolloutAction[] {
    const result = decide(
      this.spec,
      deepFreeze(structuredClone(this.state)),
      deepFreeze(obs),
      ev === null ? null : deepFreeze(ev),
      this.now,
      deepFreeze([...commands]),
    );
    this.state = result.state;
    return [...result.actions];
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }
}

/** The actions of one type. */
export function ofType<T extends RolloutAction['type']>(actions: readonly RolloutAction[], type: T): Extract<RolloutAction, { type: T }>[] {
  return actions.filter((a): a is Extract<RolloutAction, { type: T }> => a.type === type);
}

/** The last setWeights of a tick, or undefined. */
export function weightsOf(actions: readonly RolloutAction[]): Readonly<Record<string, number>> | undefined {
  return ofType(actions, 'setWeights').at(-1)?.weights;
}

/** The Deployment's spec.paused after a tick's pauseDeployment actions (unchanged when there are none). */
export function pausedAfter(actions: readonly RolloutAction[], before: boolean): boolean {
  return ofType(actions, 'pauseDeployment').at(-1)?.paused ?? before;
}

export function eventReasons(actions: readonly RolloutAction[]): string[] {
  return ofType(actions, 'recordEvent').map((a) => a.reason);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
