// The rollout controller's loop: the thin, impure shell around decide(). It observes (the cluster
// view, the analysis' evidence, the operator's verbs), decides, and acts: weights in the data plane
// at once, Kubernetes writes through the ordered action executor, the state on the Deployment.

import type { Clock, ClockTimer, DataPlaneControl } from '../core/control.ts';
import { GlidepathError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { WEIGHT_TOTAL, type WeightTable } from '../core/types.ts';
import { RolloutAnalysis } from './analysis/analysis.ts';
import type { BudgetCarry } from './analysis/budget.ts';
import { decide, inRollout, type RolloutAction } from './decide.ts';
import type { AbortReason, Evidence } from './evidence.ts';
import type { Observation, OperatorCommand, OperatorVerb } from './observation.ts';
import { stepPercent, type RolloutSpec } from './spec.ts';
import { initialState, parseState, serializeState, type RolloutState } from './state.ts';
import { abortRecordJson } from './actions/abort-record.ts';
import type { ActionExecutor, ActionKindStatus } from './actions/executor.ts';
import type { DeploymentActions } from './actions/types.ts';

export interface RolloutControllerOptions {
  readonly spec: RolloutSpec;
  readonly dataPlane: DataPlaneControl;
  readonly actions: DeploymentActions;
  readonly executor: ActionExecutor;
  /** The cluster as it is now, or null before discovery has a view of the Deployment. */
  readonly observe: () => Observation | null;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Level-triggered re-evaluation period (default 250 ms); changes also tick at once through poke(). */
  readonly tickIntervalMs?: number;
}

/** One abort as the controller saw it, for /status and metrics. */
export interface AbortObservation {
  readonly reason: AbortReason;
  readonly canary: string;
  /** Wall-clock ms of the cut. */
  readonly at: number;
  /** Milliseconds from the deciding request's end to canary weight 0 in the data plane. */
  readonly cutMs: number;
}

/** What telemetry and /status read; plain data. */
export interface RolloutSnapshot {
  readonly phase: RolloutState['phase'];
  readonly mode: RolloutSpec['mode'];
  readonly stable: string | null;
  readonly canary: string | null;
  readonly step: { readonly index: number; readonly count: number; readonly setWeight: number };
  readonly weights: WeightTable;
  readonly pausedReason: string | null;
  readonly waitingFor: string | null;
  readonly evidence: Evidence | null;
  readonly decisions: readonly { readonly at: string; readonly action: string; readonly reason: string }[];
  readonly abort: { readonly reason: string; readonly decidedAt: string; readonly message: string; readonly cutMs: number | null } | null;
  readonly abortsByReason: Readonly<Record<string, number>>;
  /** Every abort's time from the deciding request to canary weight 0, in seconds (metrics). */
  readonly abortCutSeconds: readonly number[];
  readonly actions: readonly ActionKindStatus[];
  /** Why the persisted state could not be used, if it could not. */
  readonly stateProblem: string | null;
}

/**
 * The budget this rollout had spent by its newest decision with evidence, when glidepath starts
 * judging a rollout that began before (the state resumed from the Deployment): the budget counts
 * client requests since the rollout began, not since this process did. Without it a restart forgets
 * every request served so far and the budget blocks the next step until as many have come again.
 * Failures after that decision and before the restart are not in the record; the Event and the
 * decisions carry what was known.
 */
export function budgetCarry(s: RolloutState): BudgetCarry | undefined {
  if (s.startedAt === null) return undefined;
  for (let i = s.decisions.length - 1; i >= 0; i--) {
    const d = s.decisions[i] as RolloutState['decisions'][number];
    if (d.at < s.startedAt) return undefined;
    if (d.evidence !== null && d.evidence.budget.clientRequests > 0) {
      const { clientRequests, excessFailures, excessVariance } = d.evidence.budget;
      return { clientRequests, excessFailures, ...(excessVariance != null ? { excessVariance } : {}) };
    }
  }
  return undefined;
}

/**
 * Latency exceedances count as evidence only after a step's first 2 s and 20 canary requests. Each
 * step starts when freshly started canary pods become ready, and a new process answers its first
 * requests slower (JIT compilation, lazy loading, cold caches, new connections) than stable's warm
 * pods: charged as latency evidence, that start-up cost aborted a healthy rollout under load
 * (test/rollout/e2e-api-loss.test.ts, p50 threshold 1 ms). A canary that stays slow is caught
 * right after the warm-up; failures count from the first request.
 */
export const LATENCY_WARMUP = { ms: 2_000, canaryRequests: 20 } as const;

const PHASES = ['idle', 'progressing', 'paused', 'aborted', 'completed'] as const;
export const ROLLOUT_PHASES: readonly RolloutState['phase'][] = PHASES;

export class RolloutController {
  readonly #o: RolloutControllerOptions;
  readonly #log: Logger;
  #state: RolloutState = initialState();
  #analysis: RolloutAnalysis | null = null;
  #commands: OperatorCommand[] = [];
  #timer: ClockTimer | undefined;
  #pending = false;
  #started = false;
  #closed = false;
  #stateProblem: string | null = null;
  #lastCut: AbortObservation | null = null;
  readonly #aborts: Record<string, number> = {};
  /** Deciding-request-to-cut times (s), for the histogram metric; aborts are rare, the cap is generous. */
  readonly #cutTimes: number[] = [];
  /** The JSON last handed to the executor for the state annotation (skips equal rewrites). */
  #persisted = '';

  constructor(options: RolloutControllerOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  /** Reads the state saved on the Deployment (a restarted glidepath resumes where it was), then ticks. */
  async start(): Promise<void> {
    let saved: string | null = null;
    try {
      saved = await this.#o.actions.readState();
    } catch (err) {
      this.#stateProblem = `could not read the saved rollout state: ${(err as Error).message}`;
      this.#log.warn(
        { code: (err as GlidepathError).code, err: (err as Error).message },
        'rollout state not read; starting from the cluster as it is',
      );
    }
    if (saved !== null) {
      const parsed = parseState(saved);
      if (parsed.state === null) {
        this.#stateProblem = `the saved rollout state is unusable (${parsed.reason}); starting from the cluster as it is`;
        this.#log.warn({ reason: parsed.reason }, 'saved rollout state ignored');
      } else {
        this.#state = parsed.state;
        this.#persisted = saved;
        this.#log.info(
          { phase: parsed.state.phase, step: parsed.state.stepIndex, canary: parsed.state.canary?.version ?? null },
          'rollout state resumed from the Deployment',
        );
        if (Object.keys(parsed.state.weights).length > 0) this.#o.dataPlane.setWeights(parsed.state.weights);
      }
    }
    this.#started = true;
    this.#schedule();
    this.tick();
  }

  /** Something changed (cluster view, discovery): decide again soon, coalescing bursts. */
  poke(): void {
    if (!this.#started || this.#closed || this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => {
      this.#pending = false;
      this.tick();
    });
  }

  /** An operator verb from the admin API: queued, decided at once, answered with the new state. */
  command(verb: OperatorVerb, by = 'admin API'): RolloutSnapshot {
    if (!this.#started) throw new GlidepathError('GP_CONFLICT', 'the rollout controller has not started yet (no view of the Deployment)');
    if (verb === 'abort' && inRollout(this.#state) && this.#state.canary !== null) this.#cut('manual', null);
    this.#commands.push({ verb, by });
    this.tick();
    return this.snapshot();
  }

  /** One decision: observe, decide, act. Never throws (a bug is logged; the next tick tries again). */
  tick(): void {
    if (this.#closed) return;
    try {
      const obs = this.#o.observe();
      if (obs === null) return;
      const commands = this.#commands;
      this.#commands = [];
      const evidence = this.#analysis?.evidence() ?? null;
      const before = this.#state.abort;
      const { state, actions } = decide(this.#o.spec, this.#state, obs, evidence, this.#o.clock.wallNow(), commands);
      this.#state = state;
      if (state.abort !== null && (before === null || before.decidedAt !== state.abort.decidedAt))
        this.#aborts[state.abort.reason] = (this.#aborts[state.abort.reason] ?? 0) + 1;
      for (const action of actions) this.#act(action);
    } catch (err) {
      this.#log.error({ err: (err as Error).stack ?? String(err) }, 'rollout tick failed');
    }
  }

  #act(a: RolloutAction): void {
    const { actions, executor } = this.#o;
    switch (a.type) {
      case 'setWeights':
        return this.#o.dataPlane.setWeights(a.weights);
      case 'startAnalysis':
        return this.#startAnalysis(a.canary, a.stable);
      case 'restartStep':
        if (this.#analysis !== null && this.#analysis.canary === a.canary) this.#analysis.restartStep();
        return;
      case 'stopAnalysis':
        this.#analysis = null;
        return this.#o.dataPlane.setOutcomeObserver(null);
      case 'pauseDeployment':
        void executor.run('pause', () => actions.setPaused(a.paused), { key: `pause:${a.paused}` }).then((o) => this.#report('pause', o));
        return;
      case 'pauseOnAbort':
        void executor.run('abort-pause', () => actions.setPaused(true), { key: 'abort-pause' }).then((o) => this.#report('abort-pause', o));
        return;
      case 'rollback': {
        const canary = this.#state.abort?.canary.version ?? this.#state.canary?.version;
        void executor
          .run('rollback', () => actions.rollback(a.to.version, canary !== undefined ? { canary } : {}), {
            key: `rollback:${a.to.version}`,
          })
          .then((o) => this.#report('rollback', o));
        return this.#recordAbort();
      }
      case 'recordEvent':
        void executor.run('event', () => actions.recordEvent(a.reason, a.message, a.eventType)).then((o) => this.#report('event', o));
        return;
      case 'annotate': {
        const json = serializeState(a.state);
        if (json === this.#persisted) return;
        this.#persisted = json;
        void executor.run('state', () => actions.writeState(json), { key: 'state' }).then((o) => this.#report('state', o));
        if (a.state.phase === 'aborted' && this.#o.spec.abortAction !== 'rollback') this.#recordAbort();
        return;
      }
      case 'log': {
        const line = {
          decision: a.decision,
          step: this.#state.stepIndex,
          canary: this.#state.canary?.version ?? null,
          evidence: a.evidence,
        };
        if (a.level === 'warn') this.#log.warn(line, a.message);
        else this.#log.info(line, a.message);
        return;
      }
    }
  }

  #startAnalysis(canary: string, stable: string): void {
    if (this.#analysis !== null && this.#analysis.canary === canary && this.#analysis.stable === stable && !this.#analysis.aborted) return;
    const spec = this.#o.spec;
    const carry = budgetCarry(this.#state);
    if (carry !== undefined) this.#log.info({ canary, ...carry }, 'rollout budget carried over from the saved state');
    this.#analysis = new RolloutAnalysis({
      canary,
      stable,
      alpha: spec.alpha,
      alphaAdvance: spec.alphaAdvance,
      budget: spec.budget,
      warmup: LATENCY_WARMUP,
      ...(carry !== undefined ? { budgetCarry: carry } : {}),
      clock: this.#o.clock,
      onAbort: (reason, decidedAt) => this.#cut(reason, decidedAt),
    });
    this.#o.dataPlane.setOutcomeObserver(this.#analysis);
  }

  /**
   * The in-process half of an abort, run synchronously by the request whose outcome crossed the
   * bound (or by the admin verb): canary weight 0 now, its share to stable; the Kubernetes half
   * follows on the next tick through decide().
   */
  #cut(reason: AbortReason, decidedAt: number | null): void {
    const canary = this.#state.canary?.version;
    if (canary === undefined) return;
    const weights: Record<string, number> = { ...this.#o.dataPlane.weights };
    const freed = weights[canary] ?? 0;
    weights[canary] = 0;
    const stable = this.#state.stable?.version;
    if (stable !== undefined && stable !== canary) weights[stable] = Math.min(WEIGHT_TOTAL, (weights[stable] ?? 0) + freed);
    this.#o.dataPlane.setWeights(weights);
    const now = this.#o.clock.now();
    const cutMs = decidedAt !== null ? Math.max(0, now - decidedAt) : 0;
    // Only now, with the canary cut, the evidence for the record (it costs more than the cut).
    const evidence = decidedAt !== null ? (this.#analysis?.evidence() ?? null) : null;
    this.#lastCut = { reason, canary, at: this.#o.clock.wallNow(), cutMs };
    this.#cutTimes.push(cutMs / 1000);
    if (this.#cutTimes.length > 10_000) this.#cutTimes.shift();
    this.#log.warn({ reason, canary, cutMs, evidence }, 'abort: canary weight set to 0');
    // decide() carries out the rest (abort action, Event, state) on a tick of its own, never inside
    // the request that crossed the bound.
    setImmediate(() => this.tick());
  }

  #recordAbort(): void {
    const s = this.#state;
    if (s.abort === null) return;
    const json = abortRecordJson({
      reason: s.abort.reason,
      message: s.abort.message,
      at: s.abort.decidedAt,
      canary: s.abort.canary.version,
      stable: s.stable?.version ?? '',
      action: this.#o.spec.abortAction,
      decisionMs: this.#lastCut?.canary === s.abort.canary.version ? this.#lastCut.cutMs : null,
      evidence: this.#analysis?.evidence() ?? null,
    });
    void this.#o.executor
      .run('abort-record', () => this.#o.actions.recordAbort(json), { key: 'abort-record' })
      .then((o) => this.#report('abort-record', o));
  }

  #report(kind: string, outcome: { ok: boolean; error?: Error }): void {
    if (outcome.ok || outcome.error === undefined) return;
    const err = outcome.error as GlidepathError;
    this.#log.error({ action: kind, code: err.code, err: err.message }, `rollout action ${kind} failed`);
  }

  #schedule(): void {
    const period = this.#o.tickIntervalMs ?? 250;
    const loop = (): void => {
      if (this.#closed) return;
      this.tick();
      this.#timer = this.#o.clock.setTimeout(loop, period);
      this.#timer.unref?.();
    };
    this.#timer = this.#o.clock.setTimeout(loop, period);
    this.#timer.unref?.();
  }

  get state(): RolloutState {
    return this.#state;
  }

  get analysis(): RolloutAnalysis | null {
    return this.#analysis;
  }

  snapshot(): RolloutSnapshot {
    const s = this.#state;
    const spec = this.#o.spec;
    const cut = this.#lastCut;
    return {
      phase: s.phase,
      mode: spec.mode,
      stable: s.stable?.version ?? null,
      canary: s.canary?.version ?? null,
      step: { index: s.stepIndex, count: spec.steps.length, setWeight: stepPercent(spec, s.stepIndex) },
      weights: this.#o.dataPlane.weights,
      pausedReason: s.pausedReason,
      waitingFor: s.waitingFor,
      evidence: this.#analysis?.evidence() ?? null,
      decisions: s.decisions.slice(-10).map((d) => ({ at: new Date(d.at).toISOString(), action: d.kind, reason: d.message })),
      abort:
        s.abort === null
          ? null
          : {
              reason: s.abort.reason,
              decidedAt: new Date(s.abort.decidedAt).toISOString(),
              message: s.abort.message,
              cutMs: cut !== null && cut.canary === s.abort.canary.version ? cut.cutMs : null,
            },
      abortsByReason: { ...this.#aborts },
      abortCutSeconds: [...this.#cutTimes],
      actions: this.#o.executor.status(),
      stateProblem: this.#stateProblem,
    };
  }

  /** Stops ticking and lets queued Kubernetes actions finish or fail fast. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#o.clock.clearTimeout(this.#timer);
    this.#o.dataPlane.setOutcomeObserver(null);
    await this.#o.executor.close();
  }
}
