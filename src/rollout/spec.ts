// The rollout spec: the validated `rollout` config section in the form decide() reads (a step
// schedule that always ends at 100 %, durations in milliseconds).

import type { Config } from '../config/schema.ts';

export type RolloutMode = 'gated' | 'observe';
export type AdvancePolicy = 'evidence' | 'proven';
export type InconclusivePolicy = 'pause' | 'advance';
export type AbortAction = 'rollback' | 'pause' | 'none';

/**
 * One step of the schedule. `setWeight` moves the canary to `percent` of requests (capped by its share
 * of ready pods) and advances on evidence; `pause` holds the weight for `durationMs`, or until an
 * operator resumes or promotes when `durationMs` is null.
 */
export type RolloutStep =
  { readonly kind: 'setWeight'; readonly percent: number } | { readonly kind: 'pause'; readonly durationMs: number | null };

export interface RolloutSpec {
  readonly mode: RolloutMode;
  /** Never empty; the last step is always `setWeight: 100`. */
  readonly steps: readonly RolloutStep[];
  readonly advance: AdvancePolicy;
  readonly minStepDurationMs: number;
  readonly minStepRequests: number;
  readonly maxStepDurationMs: number;
  readonly onInconclusive: InconclusivePolicy;
  readonly abortAction: AbortAction;
  /** For the analysis: abort bound 2/α over the whole rollout. */
  readonly alpha: number;
  /** For the analysis: non-inferiority bound 1/α_adv per step. */
  readonly alphaAdvance: number;
  /** Share of client requests the canary may fail beyond stable's own rate (0.001 = 0.1 %). */
  readonly budget: number;
  readonly unhealthyPodRestarts: number;
}

/** The config section as loaded (durations already milliseconds). */
export type RolloutConfig = Config['rollout'];

/**
 * The spec from the loaded config. A schedule that stops below 100 % gets a final `setWeight: 100`:
 * as in Argo Rollouts, finishing the steps promotes the canary fully.
 */
export function rolloutSpec(config: RolloutConfig): RolloutSpec {
  const steps: RolloutStep[] = config.steps.map((step): RolloutStep =>
    'setWeight' in step
      ? { kind: 'setWeight', percent: step.setWeight }
      : { kind: 'pause', durationMs: typeof step.pause.duration === 'number' ? step.pause.duration : null },
  );
  const last = steps[steps.length - 1];
  if (last === undefined || last.kind !== 'setWeight' || last.percent !== 100) steps.push({ kind: 'setWeight', percent: 100 });
  return Object.freeze({
    // The schema's oneOf() checks these; its static type widens them to string.
    mode: config.mode as RolloutMode,
    steps: Object.freeze(steps),
    advance: config.advance as AdvancePolicy,
    minStepDurationMs: config.minStepDuration,
    minStepRequests: config.minStepRequests,
    maxStepDurationMs: config.maxStepDuration,
    onInconclusive: config.onInconclusive as InconclusivePolicy,
    abortAction: config.abortAction as AbortAction,
    alpha: config.alpha,
    alphaAdvance: config.alphaAdvance,
    budget: config.budget,
    unhealthyPodRestarts: config.unhealthyPodRestarts,
  });
}

/** The canary percent a step holds: its own setWeight, or for a pause the last setWeight before it (0 if none). */
export function stepPercent(spec: RolloutSpec, index: number): number {
  for (let i = Math.min(index, spec.steps.length - 1); i >= 0; i--) {
    const step = spec.steps[i] as RolloutStep;
    if (step.kind === 'setWeight') return step.percent;
  }
  return 0;
}

/** Index of the final step (always `setWeight: 100`). */
export function lastStep(spec: RolloutSpec): number {
  return spec.steps.length - 1;
}
