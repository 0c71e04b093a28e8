// The replay policy as one pure function: given what failed and what reached whom, may the request
// be sent again to another pod? Every rule of "what is safe to replay" lives here and nowhere else.

/**
 * What went wrong with one attempt.
 * - `connect-error`: the connection never opened; the pod never saw the request.
 * - `not-sent`: the attempt never reached a socket (queued in the pool); nothing was sent.
 * - `stale-socket`: a reused keep-alive socket died before the pod sent a byte: the idle-close
 *   race (the pod closed it as we wrote). A pod killed while it held the request looks the same.
 * - `reset`, `timeout`, `protocol-error`: the pod may have acted on the request.
 * - `retry-status`: the pod answered one of `retry.statuses`.
 * - `canary-status`: during a rollout the newest version answered one of `retry.canaryStatuses`.
 * - `status`: any other response; `client-error`: the request itself was at fault.
 */
export type FailureKind =
  | 'connect-error'
  | 'not-sent'
  | 'stale-socket'
  | 'reset'
  | 'timeout'
  | 'protocol-error'
  | 'retry-status'
  | 'canary-status'
  | 'status'
  | 'client-error';

export interface ReplayFacts {
  readonly failure: FailureKind;
  /** The method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE). */
  readonly idempotentMethod: boolean;
  /** The request's `retry.replayHeader`: "true", "false", or absent (undefined). */
  readonly replayMarker: boolean | undefined;
  /** Some of the response (its header) already went to the client. */
  readonly responseSent: boolean;
  /** The body sent to the pod can be sent again (none, a kept copy, or never read). */
  readonly bodyReplayable: boolean;
  /** Attempts made so far (1 after the first) and the most replays allowed. */
  readonly attempt: number;
  readonly maxRetries: number;
  /** The retry budget has room for one more replay. */
  readonly budgetAvailable: boolean;
}

/**
 * `replay-anywhere`: replay whatever the method, the pod cannot have acted on it;
 * `replay-if-idempotent`: replay, allowed because the request is idempotent (or marked so);
 * `answer`: the client gets this failure (a proxy-made error, or the pod's own response).
 */
export type ReplayDecision = 'replay-anywhere' | 'replay-if-idempotent' | 'answer';

/** The request may be sent twice: an idempotent method or `<replayHeader>: true`, unless marked false. */
export function replayable(idempotentMethod: boolean, replayMarker: boolean | undefined): boolean {
  return (idempotentMethod || replayMarker === true) && replayMarker !== false;
}

export function decideReplay(f: ReplayFacts): ReplayDecision {
  // Once a response byte went out there is nothing to take back; the rest bound the cost.
  if (f.responseSent || f.attempt > f.maxRetries || !f.bodyReplayable || !f.budgetAvailable) return 'answer';
  switch (f.failure) {
    case 'status':
    case 'client-error':
      return 'answer';
    case 'connect-error':
    case 'not-sent':
      return 'replay-anywhere';
    case 'stale-socket':
      // Replaying the idle-close race makes it cost nothing; a client that must never see a
      // request twice says so with `<replayHeader>: false` (then only idempotency counts, and
      // the marker also withdraws that).
      if (f.replayMarker !== false) return 'replay-anywhere';
      return 'answer';
  }
  return replayable(f.idempotentMethod, f.replayMarker) ? 'replay-if-idempotent' : 'answer';
}
