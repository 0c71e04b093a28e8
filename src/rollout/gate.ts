// The step gate: whether the evidence lets a step advance (enough canary requests with no sign of
// harm, or proven non-inferiority) and whether the budget can afford the next step's worst case.

import type { Evidence } from './evidence.ts';
import type { RolloutSpec } from './spec.ts';

/**
 * Canary failures an abort needs before it lands. A dead canary is cut after about ln(2/α)/ln(1/ρ)
 * canary failures by the rate-ratio test (2-9 for ρ from 1 % to 50 % at α = 1 %) and after 2-3 by the
 * absolute-rate test at any ρ (Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data",
 * NeurIPS 2022, with the counting-process construction); 5 covers a partly failing canary too.
 */
export const ABORT_FAILURES = 5;
export type GateVerdict =
  | { readonly kind: 'advance'; readonly note: string }
  /** Not yet: the message says what is missing; `requestsNeeded` for an inconclusive report. */
  | { readonly kind: 'wait'; readonly why: 'dwell' | 'evidence' | 'harm'; readonly message: string; readonly requestsNeeded: number }
  | { readonly kind: 'budget'; readonly message: string };

/**
 * Judges a setWeight step that has been in force for `elapsedMs`. `rolloutMs` is the time since the
 * rollout began (for the request rate), `nextPercent` the weight the next step would give the canary.
 */
export function judgeStep(
  spec: RolloutSpec,
  e: Evidence | null,
  elapsedMs: number,
  rolloutMs: number,
  currentPercent: number,
  nextPercent: number,
): GateVerdict {
  if (elapsedMs < spec.minStepDurationMs) return { kind: 'wait', why: 'dwell', message: 'minimum step duration', requestsNeeded: 0 };
  if (e === null)
    return { kind: 'wait', why: 'evidence', message: 'no evidence yet for this canary', requestsNeeded: spec.minStepRequests };
  const verdict = spec.advance === 'proven' ? provenGate(e) : evidenceGate(spec, e);
  if (verdict.kind !== 'advance') return verdict;
  const budget = budgetBlock(e, rolloutMs, currentPercent, nextPercent);
  return budget === null ? verdict : { kind: 'budget', message: budget };
}

/** advance: evidence. Enough canary requests in this step, and the abort statistic not leaning toward harm. */
function evidenceGate(spec: RolloutSpec, e: Evidence): GateVerdict {
  const served = e.stepCanaryAttempts.requests;
  const need = Math.max(0, spec.minStepRequests - served);
  if (need > 0)
    return {
      kind: 'wait',
      why: 'evidence',
      message: `${served} of ${spec.minStepRequests} canary requests in this step`,
      requestsNeeded: need,
    };
  const harm = signOfHarm(e);
  if (harm !== null)
    return { kind: 'wait', why: 'harm', message: harm, requestsNeeded: Math.max(e.requestsNeededToProve, spec.minStepRequests) };
  return { kind: 'advance', note: `${served} canary requests (${e.stepCanaryAttempts.failures} failed) with no sign of harm` };
}

/** advance: proven. The non-inferiority e-process of this step crossed 1/α_adv. */
function provenGate(e: Evidence): GateVerdict {
  if (e.advance.proven)
    return { kind: 'advance', note: `canary shown not worse (ln E ${e.advance.lnE.toFixed(2)} ≥ ${e.advance.lnThreshold.toFixed(2)})` };
  return {
    kind: 'wait',
    why: 'evidence',
    message: `not yet shown not worse (ln E ${e.advance.lnE.toFixed(2)} < ${e.advance.lnThreshold.toFixed(2)})`,
    requestsNeeded: Math.max(1, Math.ceil(e.requestsNeededToProve)),
  };
}

/**
 * "Sign of harm": the abort statistic is past halfway to its bound in log space (E ≥ √(2/α), or the
 * Shiryaev-Roberts form past √ of its bound). A canary with no difference rarely gets there (Ville's
 * inequality: probability ≤ 1/√(2/α), 7 % at α = 1 %), and then it only waits for more data.
 */
export function signOfHarm(e: Evidence): string | null {
  if (Number.isFinite(e.lnE) && e.lnEThreshold > 0 && e.lnE >= e.lnEThreshold / 2)
    return `abort statistic halfway to its bound (ln E ${e.lnE.toFixed(2)} of ${e.lnEThreshold.toFixed(2)})`;
  if (Number.isFinite(e.lnSR) && e.lnSRThreshold > 0 && e.lnSR >= e.lnSRThreshold / 2)
    return `change detector halfway to its bound (ln SR ${e.lnSR.toFixed(2)} of ${e.lnSRThreshold.toFixed(2)})`;
  return null;
}

/**
 * Worst-case client-visible failures if the canary broke at `percent`: the canary failures an abort
 * needs, plus the canary requests already in flight when the deciding one completes (Little's law:
 * client rate × share × latency, the pooled median standing in for the mean); the weight cut itself
 * lands in the same tick. Replays on stable would save some of them; the estimate does not count on it.
 */
export function worstCaseFailures(e: Evidence, rolloutMs: number, percent: number): number {
  const ratePerMs = e.budget.clientRequests / Math.max(rolloutMs, 1_000);
  const latencyMs = e.latencyThresholdsMs?.[0] ?? 0;
  return ABORT_FAILURES + Math.ceil(ratePerMs * (percent / 100) * latencyMs);
}

/** Why the budget blocks moving the canary from `currentPercent` to `nextPercent`, or null. */
export function budgetBlock(e: Evidence, rolloutMs: number, currentPercent: number, nextPercent: number): string | null {
  if (nextPercent <= currentPercent) return null;
  const worst = worstCaseFailures(e, rolloutMs, nextPercent);
  if (worst <= e.budget.remaining) return null;
  const pct = (e.budget.limit * 100).toPrecision(2);
  return `budget: at ${nextPercent} % a broken canary could fail ≈ ${worst} requests before the abort lands; the budget (${pct} % of ${e.budget.clientRequests} requests so far) affords ${Math.max(0, e.budget.remaining).toFixed(1)} more`;
}

/** "need ≈ N more canary requests (≈ 40 s at the current rate)". */
export function needMore(requests: number, stepCanaryRequests: number, elapsedMs: number): string {
  if (!Number.isFinite(requests)) return 'need more canary requests than the analysis can bound yet';
  const n = Math.max(1, Math.ceil(requests));
  const rate = stepCanaryRequests / Math.max(elapsedMs, 1);
  const eta = rate > 0 ? ` (≈ ${formatSeconds(n / rate)} at the current rate)` : ' (no canary traffic so far)';
  return `need ≈ ${n} more canary requests${eta}`;
}

function formatSeconds(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.ceil(s / 60)} min` : `${Math.ceil(s / 3600)} h`;
}
