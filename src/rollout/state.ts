// The rollout state: what decide() remembers between ticks, as plain JSON that the loop persists on a
// Kubernetes annotation so that a restarted glidepath resumes where it was; parsed back defensively.

import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Evidence } from './evidence.ts';

export const STATE_SCHEMA_VERSION = 1;
/** Decisions kept in the state (the newest); older ones live in logs and Events. */
export const MAX_DECISIONS = 20;
/** Aborted templates remembered (the newest). */
export const MAX_ABORTED_TEMPLATES = 20;

const Int = (min = 0) => Type.Integer({ minimum: min });
const Num = Type.Number();
const NullableNum = Type.Union([Num, Type.Null()]);
const Arm = Type.Object({ requests: Int(), failures: Int() });

/** A version as the rollout knows it: in Kubernetes the pod-template-hash, with the ReplicaSet's revision. */
const VersionRefSchema = Type.Object({ version: Type.String({ minLength: 1 }), revision: Int() });

const AbortReasonSchema = Type.Union([
  Type.Literal('failure-rate'),
  Type.Literal('absolute-rate'),
  Type.Literal('latency'),
  Type.Literal('budget'),
  Type.Literal('unhealthy-pods'),
  Type.Literal('manual'),
]);

/**
 * The evidence behind a decision, compact and JSON-safe (a log-space e-value that is still -Infinity
 * is stored as null): the counts, e-values and bounds, the confidence sequence and the budget.
 */
const EvidenceSummarySchema = Type.Object({
  canary: Arm,
  stable: Arm,
  step: Arm,
  lnE: NullableNum,
  lnEThreshold: NullableNum,
  lnSR: NullableNum,
  lnSRThreshold: NullableNum,
  advanceLnE: NullableNum,
  advanceLnThreshold: NullableNum,
  proven: Type.Boolean(),
  requestsNeededToProve: NullableNum,
  rateRatio: Type.Union([Type.Tuple([NullableNum, NullableNum]), Type.Null()]),
  latencyThresholdsMs: Type.Union([Type.Array(NullableNum), Type.Null()]),
  budget: Type.Object({
    clientRequests: Int(),
    excessFailures: Num,
    ratio: NullableNum,
    limit: Num,
    remaining: NullableNum,
    // Recorded since the budget's noise allowance; a state written before it has neither.
    excessVariance: Type.Optional(NullableNum),
    noiseAllowance: Type.Optional(NullableNum),
  }),
  abort: Type.Union([AbortReasonSchema, Type.Null()]),
});

const DecisionKindSchema = Type.Union([
  Type.Literal('adopt'),
  Type.Literal('start'),
  Type.Literal('restart'),
  Type.Literal('step'),
  Type.Literal('advance'),
  Type.Literal('inconclusive'),
  Type.Literal('blocked'),
  Type.Literal('pause'),
  Type.Literal('resume'),
  Type.Literal('promote'),
  Type.Literal('abort'),
  Type.Literal('hold'),
  Type.Literal('complete'),
  Type.Literal('undone'),
  Type.Literal('refused'),
]);

const DecisionSchema = Type.Object({
  kind: DecisionKindSchema,
  /** Wall-clock ms. */
  at: Num,
  stepIndex: Int(),
  message: Type.String(),
  evidence: Type.Union([EvidenceSummarySchema, Type.Null()]),
});

const AbortRecordSchema = Type.Object({
  reason: AbortReasonSchema,
  message: Type.String(),
  /** Wall-clock ms when decide() cut the canary. */
  decidedAt: Num,
  canary: VersionRefSchema,
  stepIndex: Int(),
  evidence: Type.Union([EvidenceSummarySchema, Type.Null()]),
});

export const RolloutStateSchema = Type.Object({
  schemaVersion: Type.Literal(STATE_SCHEMA_VERSION),
  phase: Type.Union([
    Type.Literal('idle'),
    Type.Literal('progressing'),
    Type.Literal('paused'),
    Type.Literal('aborted'),
    Type.Literal('completed'),
  ]),
  /** The version serving before the rollout (all traffic when none is in progress). */
  stable: Type.Union([VersionRefSchema, Type.Null()]),
  /** The version being rolled out (or the last one, once completed or aborted). */
  canary: Type.Union([VersionRefSchema, Type.Null()]),
  stepIndex: Int(),
  /** Wall ms when the rollout entered the current step. */
  stepEnteredAt: NullableNum,
  /** Wall ms when the step's weight came into force and its judging began; null while Kubernetes brings up pods. */
  stepStartedAt: NullableNum,
  /** The weight table last handed to the data plane (basis points per version). */
  weights: Type.Record(Type.String(), Int()),
  /** Held by `glidepath pause` until `glidepath resume` (survives restarts). */
  operatorPaused: Type.Boolean(),
  /** The current step reached rollout.maxStepDuration with no verdict and holds (it still advances once the evidence is there). */
  inconclusive: Type.Boolean(),
  /** Why the rollout is paused (operator, inconclusive step, indefinite pause step), or null. */
  pausedReason: Type.Union([Type.String(), Type.Null()]),
  /** Why a progressing rollout is not advancing right now (budget, waiting for pods), or null. */
  waitingFor: Type.Union([Type.String(), Type.Null()]),
  /** `glidepath promote` skipped the remaining steps. */
  promoted: Type.Boolean(),
  /** glidepath paused the Deployment and owes it an unpause (gated mode, or the pause abort action). */
  pausedDeployment: Type.Boolean(),
  decisions: Type.Array(DecisionSchema),
  /** pod-template-hashes never rolled out again until the template changes. */
  abortedTemplates: Type.Array(Type.String({ minLength: 1 })),
  abort: Type.Union([AbortRecordSchema, Type.Null()]),
  /** An aborted template that came back (its ReplicaSet newest again), already held once. */
  held: Type.Union([VersionRefSchema, Type.Null()]),
  /** Wall ms when the current (or last) rollout began. */
  startedAt: NullableNum,
});

export type RolloutState = Static<typeof RolloutStateSchema>;
export type RolloutPhase = RolloutState['phase'];
export type VersionRef = Static<typeof VersionRefSchema>;
export type RolloutDecision = Static<typeof DecisionSchema>;
export type DecisionKind = RolloutDecision['kind'];
export type AbortRecord = Static<typeof AbortRecordSchema>;
export type EvidenceSummary = Static<typeof EvidenceSummarySchema>;

/** The state before glidepath has seen the Deployment. */
export function initialState(): RolloutState {
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    phase: 'idle',
    stable: null,
    canary: null,
    stepIndex: 0,
    stepEnteredAt: null,
    stepStartedAt: null,
    weights: {},
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
    promoted: false,
    pausedDeployment: false,
    decisions: [],
    abortedTemplates: [],
    abort: null,
    held: null,
    startedAt: null,
  };
}

export type ParsedState = { readonly state: RolloutState; readonly reason: null } | { readonly state: null; readonly reason: string };

/**
 * Reads a state back from its JSON text (or an already parsed value). Anything else (not JSON, another
 * schema version, a missing or mistyped field) gives null and a reason naming the field, so the loop
 * can log it and start from the cluster as it is rather than act on a guess.
 */
export function parseState(input: unknown): ParsedState {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      return { state: null, reason: `not JSON: ${(err as Error).message}` };
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { state: null, reason: 'not a JSON object' };
  const version = (value as Record<string, unknown>).schemaVersion;
  if (version !== STATE_SCHEMA_VERSION)
    return { state: null, reason: `schemaVersion ${JSON.stringify(version)} is not ${STATE_SCHEMA_VERSION}` };
  const first = Value.Errors(RolloutStateSchema, value).First();
  if (first !== undefined)
    return { state: null, reason: `${first.path || '(root)'}: ${first.message}; got ${JSON.stringify(first.value) ?? 'nothing'}` };
  const state = Value.Clean(RolloutStateSchema, structuredClone(value)) as RolloutState;
  return { state, reason: null };
}

/** The state as the text of an annotation. */
export function serializeState(state: RolloutState): string {
  return JSON.stringify(state);
}

/** The evidence in its persisted form. */
export function summarizeEvidence(e: Evidence): EvidenceSummary {
  return {
    canary: { requests: e.canaryAttempts.requests, failures: e.canaryAttempts.failures },
    stable: { requests: e.stableAttempts.requests, failures: e.stableAttempts.failures },
    step: { requests: e.stepCanaryAttempts.requests, failures: e.stepCanaryAttempts.failures },
    lnE: finite(e.lnE),
    lnEThreshold: finite(e.lnEThreshold),
    lnSR: finite(e.lnSR),
    lnSRThreshold: finite(e.lnSRThreshold),
    advanceLnE: finite(e.advance.lnE),
    advanceLnThreshold: finite(e.advance.lnThreshold),
    proven: e.advance.proven,
    requestsNeededToProve: finite(e.requestsNeededToProve),
    rateRatio: e.rateRatio === null ? null : [finite(e.rateRatio.lower), finite(e.rateRatio.upper)],
    latencyThresholdsMs: e.latencyThresholdsMs === null ? null : e.latencyThresholdsMs.map(finite),
    budget: {
      clientRequests: e.budget.clientRequests,
      excessFailures: round(e.budget.excessFailures),
      ratio: finite(e.budget.ratio),
      limit: e.budget.limit,
      remaining: finite(e.budget.remaining),
      excessVariance: round(e.budget.excessVariance),
      noiseAllowance: round(e.budget.noiseAllowance),
    },
    abort: e.abort,
  };
}

/** JSON has no infinities: a bound or e-value that is still ±Infinity (or NaN) is recorded as null. */
function finite(x: number): number | null {
  return Number.isFinite(x) ? round(x) : null;
}

/** Six significant digits: enough to re-check a decision, short enough for an annotation. */
function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : x;
}
