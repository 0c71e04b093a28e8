// What an ended attempt means: its verdict for the outcome stream (is the failure the version's
// doing?) and, after a failure, where a replay goes with a retry-budget slot in hand, or the answer.

import { ATTEMPT_EXCLUDED, ATTEMPT_FAILED, type AttemptVerdict } from '../core/control.ts';
import type { Exchange } from './forward.ts';
import type { Target } from './exchange-owner.ts';
import type { VersionRoute } from './snapshot.ts';
import { socketPredates, type UpstreamEndpoint } from './upstream.ts';
import { writeProxyError, type UpstreamFailure } from './rescue.ts';
import { OUTCOME_INDEX } from './stats.ts';
import { decideReplay, type FailureKind, type ReplayFacts } from './replay-decision.ts';

/** RFC 9110 §9.2.2. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Failure kinds by OUTCOME_INDEX (success and http_5xx never reach the transport-error path). */
const TRANSPORT_FAILURE: readonly FailureKind[] = ['status', 'status', 'connect-error', 'reset', 'timeout', 'protocol-error'];

/**
 * A reused keep-alive socket that died before the pod sent a byte is how the idle-close race
 * looks (the pod closed it as we wrote): counted against the version as a reset attempt, but
 * not as evidence against the pod. A pod closing its idle sockets at once made a burst of
 * such races eject it; with one pod, every request then failed for the ejection time
 * (reliability test 6). A pod that really died refuses the next connects, which do count.
 */
export function isStaleSocket(x: Exchange, failure: UpstreamFailure, err: Error): boolean {
  return failure.outcome === OUTCOME_INDEX.reset && !x.upstreamResponded && socketPredates(err, x.attemptAt);
}

export function transportFailureKind(x: Exchange, failure: UpstreamFailure, staleSocket: boolean): FailureKind {
  if (failure.outcome < 0) return 'client-error';
  if (staleSocket) return 'stale-socket';
  return x.attemptStarted ? (TRANSPORT_FAILURE[failure.outcome] as FailureKind) : 'not-sent';
}

/** The first attempt ended (replays are never reported): one null check without an observer. */
export function reportFirstAttempt(x: Exchange, verdict: AttemptVerdict): void {
  const observer = x.owner.observer;
  if (observer === null || x.attempts !== 1) return;
  observer.firstAttempt((x.version as VersionRoute).name, x.canaryShare, verdict, x.owner.clock.now() - x.attemptAt);
}

/** A failure is the version's doing unless its pod was already leaving (draining, retired, removed). */
export function failedAt(endpoint: UpstreamEndpoint): AttemptVerdict {
  const leaving = endpoint.removed || endpoint.terminating || !endpoint.ready || (!endpoint.active && endpoint.ejectedUntil === 0);
  return leaving ? ATTEMPT_EXCLUDED : ATTEMPT_FAILED;
}

/** Another pod to replay on, with a retry-budget slot taken for it; undefined: answer the failure. */
export function replayTargetAfter(x: Exchange, failure: FailureKind): Target | undefined {
  const facts: ReplayFacts = {
    failure,
    idempotentMethod: IDEMPOTENT.has(x.req.method as string),
    replayMarker: x.replayMarker,
    responseSent: x.res.headersSent,
    bodyReplayable: x.bodyReplayable,
    attempt: x.attempts,
    maxRetries: x.owner.retryPolicy.maxRetries,
    budgetAvailable: x.owner.retryAvailable(),
  };
  if (decideReplay(facts) !== 'answer') {
    const target = pickReplay(x, failure === 'stale-socket');
    return target !== undefined && x.owner.acquireRetry() ? target : undefined;
  }
  // Refused for the budget alone, with a pod that could have taken it: a refused retry.
  if (
    !facts.budgetAvailable &&
    decideReplay({ ...facts, budgetAvailable: true }) !== 'answer' &&
    pickReplay(x, failure === 'stale-socket') !== undefined
  )
    x.owner.retryRefused();
  return undefined;
}

function pickReplay(x: Exchange, staleSocket: boolean): Target | undefined {
  const failed = x.endpoint as UpstreamEndpoint;
  (x.tried ??= []).push(failed);
  const target = x.owner.pickRetryTarget(x);
  // After the idle-close race the pod itself is fine: when no other pod can take the replay
  // (a version with one pod), a fresh connection to the same pod beats a 502 (test 6).
  if (target === undefined && staleSocket && failed.active && failed.routable)
    return { version: x.version as VersionRoute, endpoint: failed };
  return target;
}

export function replay(x: Exchange, target: Target): void {
  const failed = x.version as VersionRoute;
  failed.stats.retries++;
  // By name: the route object is rebuilt with every snapshot.
  if (target.version.name !== failed.name) failed.stats.failovers++;
  x.dispatchTo(target);
}

/** The swallowed error response has ended: replay (re-picking if its target went away meanwhile). */
export function replayAfterDiscard(x: Exchange, endpoint: UpstreamEndpoint): void {
  reportFirstAttempt(x, failedAt(endpoint));
  x.version?.stats.recordAttempt(OUTCOME_INDEX.http_5xx);
  x.owner.endpointResult(endpoint, true);
  const planned = x.replayTarget as Target;
  const target = planned.endpoint.routable ? planned : x.owner.pickRetryTarget(x);
  if (target !== undefined) return replay(x, target);
  answerFailure(x, { code: 'GP_UPSTREAM_RESET', outcome: OUTCOME_INDEX.http_5xx }, x.status);
}

/** No replay: the client gets a proxy-made error for the failure. */
export function answerFailure(x: Exchange, failure: UpstreamFailure, upstreamStatus = 0): void {
  writeProxyError(x.res, failure.code, {
    requestId: x.requestId,
    detail: upstreamStatus > 0 ? `the pod answered ${upstreamStatus} and no replay was possible` : undefined,
  });
  x.status = x.res.statusCode;
  x.failed = x.status >= 500;
  x.finish();
}
