// The rollout decision, pure: from the spec, the remembered state, what the cluster and the analysis
// show now and the operator's verbs, the next state and the actions the loop carries out. No I/O, no
// timers: `now` (wall-clock ms) is an argument, so every rule is tested tick by tick.

import { WEIGHT_TOTAL, type WeightTable } from '../core/types.ts';
import type { AbortReason, Evidence } from './evidence.ts';
import type { DeploymentObservation, Observation, OperatorCommand } from './observation.ts';
import { lastStep, stepPercent, type RolloutSpec } from './spec.ts';
import {
  MAX_ABORTED_TEMPLATES,
  MAX_DECISIONS,
  summarizeEvidence,
  type DecisionKind,
  type EvidenceSummary,
  type RolloutState,
  type VersionRef,
} from './state.ts';
import { allPodsNew, rolloutWeights, shouldHoldDeployment, stepReached } from './shares.ts';
import { budgetBlock, judgeStep, needMore, type GateVerdict } from './gate.ts';
import { budgetBroken } from './analysis/budget.ts';

/**
 * What the loop does, in order. Every action is idempotent: the loop may drop one equal to one still
 * in flight (`pauseDeployment`, `startAnalysis` repeat while the cluster or the analysis catches up).
 */
export type RolloutAction =
  /** Hand the data plane a new weight table (basis points); on start the loop applies state.weights. */
  | { readonly type: 'setWeights'; readonly weights: WeightTable }
  /** Set the Deployment's spec.paused: gated mode only (hold a step, let a batch or a new template through). */
  | { readonly type: 'pauseDeployment'; readonly paused: boolean; readonly reason: string }
  /** The pause abort action: spec.paused true where the rollout stands (in observe mode too). */
  | { readonly type: 'pauseOnAbort'; readonly reason: string }
  /** The rollback abort action: put the stable ReplicaSet's template back and unpause (`kubectl rollout undo`). */
  | { readonly type: 'rollback'; readonly to: VersionRef; readonly reason: string }
  /** A Kubernetes Event on the Deployment. */
  | { readonly type: 'recordEvent'; readonly eventType: 'Normal' | 'Warning'; readonly reason: string; readonly message: string }
  /** Persist the state (the annotation on the Deployment). */
  | { readonly type: 'annotate'; readonly state: RolloutState }
  /** One log line per decision, with its evidence. */
  | {
      readonly type: 'log';
      readonly level: 'info' | 'warn';
      readonly decision: DecisionKind;
      readonly message: string;
      readonly evidence: EvidenceSummary | null;
    }
  /** Start judging this pair from scratch (budget and e-processes since the rollout began); a no-op if already on it. */
  | { readonly type: 'startAnalysis'; readonly canary: string; readonly stable: string }
  /** Restart the per-step (non-inferiority) evidence: the step's weight just came into force. */
  | { readonly type: 'restartStep'; readonly canary: string; readonly stepIndex: number }
  /** No rollout left to judge. */
  | { readonly type: 'stopAnalysis' };

export interface DecideResult {
  readonly state: RolloutState;
  readonly actions: readonly RolloutAction[];
}

/** One tick's working set: the inputs, the draft of the next state, and the actions so far. */
interface Tick {
  readonly spec: RolloutSpec;
  readonly obs: Observation;
  readonly d: DeploymentObservation;
  readonly evidence: Evidence | null;
  readonly now: number;
  readonly s: RolloutState;
  readonly actions: RolloutAction[];
}

export function decide(
  spec: RolloutSpec,
  state: RolloutState,
  obs: Observation,
  evidence: Evidence | null,
  now: number,
  commands: readonly OperatorCommand[] = [],
): DecideResult {
  if (obs.deployment === null) return { state, actions: [] };
  const t: Tick = { spec, obs, d: obs.deployment, evidence, now, s: structuredClone(state), actions: [] };
  const newest = t.d.newest;
  if (newest !== null) {
    if (t.s.stable === null) adopt(t, newest);
    follow(t, newest);
  }
  for (const c of commands) command(t, c);
  if (inRollout(t.s)) progress(t);
  syncWeights(t);
  syncDeploymentPause(t);
  if (JSON.stringify(t.s) !== JSON.stringify(state)) t.actions.push({ type: 'annotate', state: t.s });
  return { state: t.s, actions: t.actions };
}

export function inRollout(s: RolloutState): boolean {
  return s.phase === 'progressing' || s.phase === 'paused';
}

// --- What the Deployment's newest ReplicaSet means -------------------------------------------------

/**
 * First sight of the Deployment (no state read back): the stable version is the newest one, or,
 * when older ReplicaSets still have pods, the newest of those (a rollout already under way).
 */
function adopt(t: Tick, newest: VersionRef): void {
  const older = t.obs.replicaSets
    .filter(
      (r) => r.version !== newest.version && r.revision < newest.revision && (r.replicas > 0 || (t.obs.readyEndpoints[r.version] ?? 0) > 0),
    )
    .sort((a, b) => b.revision - a.revision)[0];
  t.s.stable = older === undefined ? { ...newest } : { version: older.version, revision: older.revision };
  t.actions.push({
    type: 'log',
    level: 'info',
    decision: 'adopt',
    message: `stable version ${t.s.stable.version} (revision ${t.s.stable.revision})`,
    evidence: null,
  });
}

/** Starts, restarts, ends or holds a rollout according to the newest ReplicaSet. */
function follow(t: Tick, newest: VersionRef): void {
  const s = t.s;
  const stable = s.stable as VersionRef;
  if (newest.version === stable.version) {
    // An undo (ours or anyone's) makes the stable ReplicaSet the newest again, with a new revision.
    if (newest.revision > stable.revision) s.stable = { ...stable, revision: newest.revision };
    if (inRollout(s)) endUndone(t);
    return;
  }
  if (s.canary?.version === newest.version) {
    if (inRollout(s)) return;
    if (s.phase === 'aborted' && s.canary.revision === newest.revision) return; // our abort action still landing, or none
  }
  if (s.held !== null && s.held.version === newest.version && s.held.revision === newest.revision) return;
  if (s.abortedTemplates.includes(newest.version)) return hold(t, newest);
  if (newest.revision <= stable.revision) return;
  startRollout(t, newest);
}

function startRollout(t: Tick, newest: VersionRef): void {
  const s = t.s;
  const previous = inRollout(s) ? s.canary : null;
  Object.assign(s, {
    phase: s.operatorPaused ? 'paused' : 'progressing',
    canary: { ...newest },
    stepIndex: 0,
    stepEnteredAt: t.now,
    stepStartedAt: null,
    promoted: false,
    inconclusive: false,
    pausedReason: s.operatorPaused ? s.pausedReason : null,
    waitingFor: null,
    abort: null,
    held: null,
    startedAt: t.now,
  } satisfies Partial<RolloutState>);
  const stable = s.stable as VersionRef;
  if (previous === null) {
    record(
      t,
      'start',
      `rollout of ${newest.version} (revision ${newest.revision}) over ${stable.version} (revision ${stable.revision}) began`,
      { event: ['Normal', 'RolloutStarted'] },
    );
  } else {
    record(
      t,
      'restart',
      `the template changed again: rollout of ${newest.version} (revision ${newest.revision}) restarts from step 0; ${previous.version} gets no more traffic`,
      { event: ['Normal', 'RolloutRestarted'] },
    );
  }
}

/** Someone else put the stable template back mid-rollout (e.g. `kubectl rollout undo`). */
function endUndone(t: Tick): void {
  const canary = t.s.canary as VersionRef;
  Object.assign(t.s, {
    phase: 'idle',
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
  } satisfies Partial<RolloutState>);
  record(t, 'undone', `the Deployment went back to ${t.s.stable?.version} outside glidepath; rollout of ${canary.version} ended`, {
    event: ['Normal', 'RolloutUndone'],
  });
  t.actions.push({ type: 'stopAnalysis' });
}

/** An aborted template came back: it gets no traffic and the abort action applies again. */
function hold(t: Tick, newest: VersionRef): void {
  const s = t.s;
  Object.assign(s, {
    phase: 'aborted',
    canary: { ...newest },
    held: { ...newest },
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
  } satisfies Partial<RolloutState>);
  const message = `template ${newest.version} (revision ${newest.revision}) was aborted before; it gets no traffic and is not rolled out again until the template changes`;
  syncWeights(t);
  abortAction(t, `held: ${message}`, t.spec.abortAction === 'none' && t.spec.mode === 'gated');
  record(t, 'hold', message, { event: ['Warning', 'RolloutHeld'], level: 'warn' });
  t.actions.push({ type: 'stopAnalysis' });
}

// --- Operator verbs -------------------------------------------------------------------------------

function command(t: Tick, c: OperatorCommand): void {
  const by = c.by ?? 'an operator';
  if (!inRollout(t.s)) {
    const why = t.s.phase === 'aborted' ? 'the rollout was aborted; change the template to roll out again' : 'no rollout in progress';
    t.actions.push({ type: 'log', level: 'info', decision: 'refused', message: `${c.verb} from ${by} ignored: ${why}`, evidence: null });
    return;
  }
  if (c.verb === 'abort') return abort(t, 'manual', `aborted by ${by}`);
  if (c.verb === 'promote') return promote(t, by);
  if (c.verb === 'pause') return operatorPause(t, by);
  resume(t, by);
}

function operatorPause(t: Tick, by: string): void {
  if (t.s.operatorPaused) return;
  Object.assign(t.s, {
    operatorPaused: true,
    phase: 'paused',
    pausedReason: `paused by ${by}; \`glidepath resume\` continues`,
  } satisfies Partial<RolloutState>);
  record(t, 'pause', `paused by ${by} at step ${t.s.stepIndex}`, { event: ['Normal', 'RolloutPaused'] });
}

/** Releases every hold: an operator pause, an inconclusive step, an indefinite pause step. */
function resume(t: Tick, by: string): void {
  const s = t.s;
  const step = t.spec.steps[s.stepIndex];
  const atIndefinitePause = step?.kind === 'pause' && step.durationMs === null && s.stepStartedAt !== null;
  const wasOperator = s.operatorPaused;
  s.operatorPaused = false;
  // An operator's explicit go: the next step is not held back by the evidence or the budget.
  if (s.inconclusive || atIndefinitePause) return advance(t, `resumed by ${by}`, null);
  if (!wasOperator) {
    t.actions.push({
      type: 'log',
      level: 'info',
      decision: 'refused',
      message: `resume from ${by} ignored: the rollout is not paused`,
      evidence: null,
    });
    return;
  }
  // The step's clock restarts, so the time spent paused does not count toward rollout.maxStepDuration.
  Object.assign(s, {
    phase: 'progressing',
    pausedReason: null,
    stepStartedAt: s.stepStartedAt === null ? null : t.now,
  } satisfies Partial<RolloutState>);
  record(t, 'resume', `resumed by ${by} at step ${s.stepIndex}`, { event: ['Normal', 'RolloutResumed'] });
}

/** Skips the remaining steps: the canary goes to 100 % as its pods allow. Aborts still apply. */
function promote(t: Tick, by: string): void {
  Object.assign(t.s, {
    promoted: true,
    stepIndex: lastStep(t.spec),
    stepEnteredAt: t.now,
    stepStartedAt: null,
    phase: 'progressing',
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
  } satisfies Partial<RolloutState>);
  record(t, 'promote', `promoted by ${by}: the canary goes to 100 %`, { event: ['Normal', 'RolloutPromoted'] });
}

// --- A rollout in progress ------------------------------------------------------------------------

function progress(t: Tick): void {
  const s = t.s;
  const canary = s.canary as VersionRef;
  const stable = s.stable as VersionRef;
  if (checkAbort(t)) return;
  if (allPodsNew(canary.version, t.obs)) return complete(t);
  // Level-triggered: also after a restart of glidepath, whose analysis lived in memory.
  if (matchingEvidence(t) === null) t.actions.push({ type: 'startAnalysis', canary: canary.version, stable: stable.version });
  startStepIfReached(t);
  if (s.operatorPaused) return;
  judge(t);
}

/** The evidence, if it is about this rollout's pair (stale evidence about another pair is ignored). */
function matchingEvidence(t: Tick): Evidence | null {
  const e = t.evidence;
  if (e === null || t.s.canary === null || t.s.stable === null) return null;
  return e.canary === t.s.canary.version && e.stable === t.s.stable.version ? e : null;
}

function percentNow(t: Tick): number {
  return t.s.promoted ? 100 : stepPercent(t.spec, t.s.stepIndex);
}

/** Aborts on the analysis' verdict, a broken budget, or canary pods that crash-loop or never progress. */
function checkAbort(t: Tick): boolean {
  const e = matchingEvidence(t);
  if (e !== null && e.abort !== null) return (abort(t, e.abort, describeAbort(e, e.abort)), true);
  if (e !== null && budgetBroken(e.budget)) return (abort(t, 'budget', describeAbort(e, 'budget')), true);
  const canary = t.s.canary as VersionRef;
  const rs = t.obs.replicaSets.find((r) => r.version === canary.version);
  if (rs !== undefined && rs.maxRestarts >= t.spec.unhealthyPodRestarts) {
    const looping = rs.crashLoopingPods > 0 ? `; ${rs.crashLoopingPods} pod(s) in CrashLoopBackOff` : '';
    return (
      abort(
        t,
        'unhealthy-pods',
        `canary pods crash-loop: a container restarted ${rs.maxRestarts} times (rollout.unhealthyPodRestarts ${t.spec.unhealthyPodRestarts})${looping}`,
      ),
      true
    );
  }
  if (t.d.progressDeadlineExceeded)
    return (
      abort(t, 'unhealthy-pods', `the new ReplicaSet ${canary.version} exceeded its progress deadline (its pods did not become available)`),
      true
    );
  return false;
}

function describeAbort(e: Evidence, reason: AbortReason): string {
  const c = e.canaryAttempts;
  const st = e.stableAttempts;
  const counts = `canary ${c.failures}/${c.requests} failed, stable ${st.failures}/${st.requests}`;
  const stat = `ln E ${e.lnE.toFixed(2)} (bound ${e.lnEThreshold.toFixed(2)}), ln SR ${Number.isFinite(e.lnSR) ? e.lnSR.toFixed(2) : '-inf'} (bound ${e.lnSRThreshold.toFixed(2)})`;
  const ratio = e.rateRatio === null ? '' : `; rate ratio in [${e.rateRatio.lower.toPrecision(3)}, ${e.rateRatio.upper.toPrecision(3)}]`;
  const b = e.budget;
  switch (reason) {
    case 'failure-rate':
      return `the canary fails more often than stable: ${counts}; ${stat}${ratio}`;
    case 'absolute-rate':
      return `the canary fails more often than the budget's rate allows: ${counts}; ${stat}`;
    case 'latency':
      return `the canary is slower than stable: latency exceedances over p50/p90/p99 ${e.latencyThresholdsMs?.map((x) => `${Math.round(x)} ms`).join('/') ?? '(no thresholds)'}; ${stat}`;
    case 'budget':
      return `the budget broke: ${b.excessFailures.toFixed(1)} client-visible failures caused by the canary out of ${b.clientRequests} requests (${(b.ratio * 100).toPrecision(3)} % > ${(b.limit * 100).toPrecision(2)} %, more than the ${b.noiseAllowance.toFixed(1)} failures allowed as noise)`;
    default:
      return `${reason}: ${counts}; ${stat}`;
  }
}

/**
 * The canary gets weight 0 first (the first action of the tick), then the configured Kubernetes action,
 * an Event and the record; the template is never rolled out again until it changes.
 */
function abort(t: Tick, reason: AbortReason, message: string): void {
  const s = t.s;
  const canary = s.canary as VersionRef;
  const e = matchingEvidence(t);
  const step = s.stepIndex;
  Object.assign(s, {
    phase: 'aborted',
    abort: {
      reason,
      message,
      decidedAt: t.now,
      canary: { ...canary },
      stepIndex: step,
      evidence: e === null ? null : summarizeEvidence(e),
    },
    abortedTemplates: [...s.abortedTemplates.filter((h) => h !== canary.version), canary.version].slice(-MAX_ABORTED_TEMPLATES),
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
    held: null,
  } satisfies Partial<RolloutState>);
  const before = t.actions.length;
  syncWeights(t);
  const cut = t.actions.splice(before); // the weight cut goes before anything else this tick
  t.actions.unshift(...cut);
  abortAction(t, `abort (${reason}): ${message}`, false);
  record(t, 'abort', `aborted at step ${step} (${reason}): ${message}`, {
    event: ['Warning', 'RolloutAborted'],
    level: 'warn',
    evidence: e,
  });
  t.actions.push({ type: 'stopAnalysis' });
}

/** rollback | pause | none; `pauseAnyway` keeps a gated Deployment paused when the action is none. */
function abortAction(t: Tick, reason: string, pauseAnyway: boolean): void {
  const action = t.spec.abortAction;
  if (action === 'rollback') {
    t.actions.push({ type: 'rollback', to: { ...(t.s.stable as VersionRef) }, reason });
    t.s.pausedDeployment = false; // the rollback unpauses, as `kubectl rollout undo` needs
  } else if (action === 'pause') {
    t.actions.push({ type: 'pauseOnAbort', reason });
    t.s.pausedDeployment = true;
  } else if (pauseAnyway) {
    t.actions.push({ type: 'pauseDeployment', paused: true, reason });
    t.s.pausedDeployment = true;
  }
}

/** Every old pod is gone and the canary has all its pods: it becomes the stable version. */
function complete(t: Tick): void {
  const s = t.s;
  const canary = s.canary as VersionRef;
  const newest = t.d.newest ?? canary;
  Object.assign(s, {
    phase: 'completed',
    stable: { version: canary.version, revision: Math.max(canary.revision, newest.revision) },
    operatorPaused: false,
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
  } satisfies Partial<RolloutState>);
  record(t, 'complete', `rollout of ${canary.version} completed: every pod is new and it serves all traffic`, {
    event: ['Normal', 'RolloutCompleted'],
    evidence: matchingEvidence(t),
  });
  t.actions.push({ type: 'stopAnalysis' });
}

/** A step is judged from when its weight is in force (the ready pods reached its share). */
function startStepIfReached(t: Tick): void {
  const s = t.s;
  if (s.stepStartedAt !== null) return;
  const canary = s.canary as VersionRef;
  const stable = s.stable as VersionRef;
  const pct = percentNow(t);
  if (!stepReached(stable.version, canary.version, pct, t.obs.readyEndpoints)) {
    const waited = t.now - (s.stepEnteredAt ?? t.now);
    // A fixed text, so that waiting does not rewrite the annotation on every tick.
    s.waitingFor =
      pct < 100 && waited >= t.spec.maxStepDurationMs ? `canary pods: not enough ready for ${pct} % within rollout.maxStepDuration` : null;
    return;
  }
  Object.assign(s, { stepStartedAt: t.now, waitingFor: null } satisfies Partial<RolloutState>);
  t.actions.push({ type: 'restartStep', canary: canary.version, stepIndex: s.stepIndex });
  record(t, 'step', `step ${s.stepIndex}: canary at ${pct} % (capped by its share of ready pods)`, { event: ['Normal', 'RolloutStep'] });
}

function judge(t: Tick): void {
  const s = t.s;
  const step = t.spec.steps[s.stepIndex];
  if (s.stepStartedAt === null || step === undefined) return;
  const elapsed = t.now - s.stepStartedAt;
  if (step.kind === 'pause') return judgePause(t, step.durationMs, elapsed);
  const e = matchingEvidence(t);
  const verdict = judgeStep(t.spec, e, elapsed, t.now - (s.startedAt ?? t.now), percentNow(t), nextPercent(t));
  if (verdict.kind === 'advance') return advance(t, verdict.note, e);
  setWaiting(t, verdict.kind === 'budget' ? verdict.message : null, e);
  if (elapsed >= t.spec.maxStepDurationMs && !s.inconclusive) inconclusive(t, verdict, e, elapsed);
}

function judgePause(t: Tick, durationMs: number | null, elapsed: number): void {
  if (durationMs === null) {
    if (t.s.phase !== 'paused') {
      Object.assign(t.s, {
        phase: 'paused',
        pausedReason: `pause step ${t.s.stepIndex}: \`glidepath resume\` continues, \`glidepath promote\` goes to 100 %`,
      } satisfies Partial<RolloutState>);
      record(t, 'pause', t.s.pausedReason as string, { event: ['Normal', 'RolloutPaused'] });
    }
    return;
  }
  if (elapsed < durationMs) return;
  const e = matchingEvidence(t);
  const blocked = e === null ? null : budgetBlock(e, t.now - (t.s.startedAt ?? t.now), percentNow(t), nextPercent(t));
  if (blocked === null) return advance(t, `paused ${Math.round(durationMs / 1000)} s`, e);
  setWaiting(t, blocked, e);
}

/** The canary percent of the next setWeight step (what advancing would lead to). */
function nextPercent(t: Tick): number {
  return stepPercent(t.spec, Math.min(t.s.stepIndex + 1, lastStep(t.spec)));
}

/** A budget block is recorded when it begins, not on every tick it lasts. */
function setWaiting(t: Tick, message: string | null, e: Evidence | null): void {
  const was = t.s.waitingFor;
  t.s.waitingFor = message === null ? null : 'budget: the next step could cost more than the budget has left';
  if (message !== null && was !== t.s.waitingFor) record(t, 'blocked', message, { evidence: e });
}

/** No verdict by rollout.maxStepDuration: pause and say what a verdict needs, or advance if so configured. */
function inconclusive(t: Tick, verdict: Exclude<GateVerdict, { kind: 'advance' }>, e: Evidence | null, elapsed: number): void {
  const s = t.s;
  const after = `no verdict after ${Math.round(elapsed / 1000)} s`;
  if (t.spec.onInconclusive === 'advance' && verdict.kind !== 'budget' && e !== null && verdict.why !== 'harm') {
    return advance(t, `${after}; advancing anyway (rollout.onInconclusive: advance) with the budget intact`, e);
  }
  const what =
    verdict.kind === 'budget'
      ? verdict.message
      : verdict.why === 'harm'
        ? `${verdict.message}; ${needMore(verdict.requestsNeeded, e?.stepCanaryAttempts.requests ?? 0, elapsed)}`
        : needMore(verdict.requestsNeeded, e?.stepCanaryAttempts.requests ?? 0, elapsed);
  Object.assign(s, { phase: 'paused', inconclusive: true, pausedReason: `inconclusive: ${what}` } satisfies Partial<RolloutState>);
  record(t, 'inconclusive', `step ${s.stepIndex} ${after}: ${what}`, {
    event: ['Warning', 'RolloutInconclusive'],
    level: 'warn',
    evidence: e,
  });
}

function advance(t: Tick, note: string, e: Evidence | null): void {
  const s = t.s;
  const from = s.stepIndex;
  const fromPct = percentNow(t);
  const to = Math.min(from + 1, lastStep(t.spec));
  Object.assign(s, {
    stepIndex: to,
    stepEnteredAt: t.now,
    stepStartedAt: null,
    phase: 'progressing',
    inconclusive: false,
    pausedReason: null,
    waitingFor: null,
  } satisfies Partial<RolloutState>);
  record(t, 'advance', `step ${from} → ${to} (${fromPct} % → ${percentNow(t)} %): ${note}`, {
    event: ['Normal', 'RolloutStepAdvanced'],
    evidence: e,
  });
  startStepIfReached(t);
}

// --- Outputs: the weight table and the Deployment's pause flag --------------------------------------

function syncWeights(t: Tick): void {
  const s = t.s;
  if (s.stable === null) return;
  let weights: WeightTable;
  if (inRollout(s) && s.canary !== null) weights = rolloutWeights(s.stable.version, s.canary.version, percentNow(t), t.obs.readyEndpoints);
  else if (s.phase === 'aborted' && s.canary !== null && s.canary.version !== s.stable.version)
    weights = { [s.stable.version]: WEIGHT_TOTAL, [s.canary.version]: 0 };
  else weights = { [s.stable.version]: WEIGHT_TOTAL };
  if (sameWeights(weights, s.weights)) return;
  s.weights = { ...weights };
  t.actions.push({ type: 'setWeights', weights });
}

function sameWeights(a: WeightTable, b: WeightTable): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Gated mode holds the Deployment paused while a step is judged and unpauses it for the next batch;
 * glidepath unpauses what it paused once the rollout is over, and lets a changed template through
 * (a paused Deployment creates no ReplicaSet). Observe mode never touches spec.paused here: after a
 * pause abort action the operator resumes the Deployment (`kubectl rollout resume`).
 */
function syncDeploymentPause(t: Tick): void {
  const s = t.s;
  if (t.spec.mode !== 'gated') return;
  let desired: boolean | null = null;
  let reason = '';
  if (t.d.templateChanged && (s.pausedDeployment || inRollout(s))) {
    desired = false;
    reason = 'the template changed: Kubernetes creates its ReplicaSet';
  } else if (inRollout(s)) {
    const canary = t.obs.replicaSets.find((r) => r.version === s.canary?.version);
    desired = s.phase === 'paused' || shouldHoldDeployment((s.stable as VersionRef).version, canary, percentNow(t), t.obs);
    reason = desired ? `hold step ${s.stepIndex} while it is judged` : `let Kubernetes bring the pods for ${percentNow(t)} %`;
  } else if (s.pausedDeployment && (s.phase === 'idle' || s.phase === 'completed')) {
    desired = false;
    reason = 'the rollout is over';
  }
  if (desired === null) return;
  if (t.d.paused !== desired) t.actions.push({ type: 'pauseDeployment', paused: desired, reason });
  s.pausedDeployment = desired;
}

// --- The record ------------------------------------------------------------------------------------

interface RecordOptions {
  readonly event?: readonly ['Normal' | 'Warning', string];
  readonly level?: 'info' | 'warn';
  readonly evidence?: Evidence | null;
}

/** A decision: kept in the state (the newest few), logged with its evidence, and an Event if asked. */
function record(t: Tick, kind: DecisionKind, message: string, options: RecordOptions = {}): void {
  const summary = options.evidence ? summarizeEvidence(options.evidence) : null;
  t.s.decisions = [...t.s.decisions, { kind, at: t.now, stepIndex: t.s.stepIndex, message, evidence: summary }].slice(-MAX_DECISIONS);
  t.actions.push({ type: 'log', level: options.level ?? 'info', decision: kind, message, evidence: summary });
  if (options.event) t.actions.push({ type: 'recordEvent', eventType: options.event[0], reason: options.event[1], message });
}
