// The forward stage: one Exchange per client request, doubling as the undici dispatch handler
// that streams the pod's response back with backpressure both ways, and replaying the request
// on another pod when replay-decision.ts says that is safe.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { ATTEMPT_EXCLUDED, ATTEMPT_OK } from '../core/control.ts';
import { buildResponseHeaders, type RequestFacts } from './headers.ts';
import { classifyUpstreamError, writeProxyError } from './rescue.ts';
import { OUTCOME_INDEX } from './stats.ts';
import type { VersionRoute } from './snapshot.ts';
import type { UpstreamEndpoint } from './upstream.ts';
import { collectBody, type BodyHolder } from './replay-body.ts';
import { replayable, type FailureKind } from './replay-decision.ts';
import { trackOnSocket, untrackOnSocket } from './client-socket.ts';
import type { ExchangeOwner, Target } from './exchange-owner.ts';
import {
  answerFailure,
  failedAt,
  IDEMPOTENT,
  isStaleSocket,
  replay,
  replayAfterDiscard,
  replayTargetAfter,
  reportFirstAttempt,
  transportFailureKind,
} from './attempt-end.ts';

export type { ExchangeOwner, RetryPolicy, Target } from './exchange-owner.ts';

/** Abort reasons of our own; never charged to a pod. */
class ExchangeAbort extends Error {}
const CLIENT_GONE = new ExchangeAbort('client closed the connection');
const DISCARD_TOO_LARGE = new ExchangeAbort('retryable error body too large to discard');

/** Our own per-try timer fired; classified like undici's headers timeout (a pod timeout). */
class PerTryTimeout extends Error {
  readonly code = 'UND_ERR_HEADERS_TIMEOUT';
}

/** Bodies of error responses we swallow before a replay; past this we abort instead of reading. */
const MAX_DISCARD_BYTES = 65_536;

/*
 * The life of an Exchange (one client request); the first attempt's end goes to the outcome observer:
 *
 *   start() ─ small body? ─ collecting ─┐      refused / no target ─ proxy error ───────┐
 *      └────────────────────────────────┴─► dispatched ◄── replay ──┐                    │
 *                                              ├─ 5xx to replay ── discarding ─┤         │
 *                                              ├─ failed, nothing sent ─────────┘         │
 *                                              ├─ streaming ── onResponseEnd ─────────────┤
 *                                              └─ failed after headers ── destroyed ──────┤
 *                                                            finish() → owner.exchangeDone()
 *
 * All fields are set in the constructor (one hidden class for every request) and the handler
 * methods are prototype methods: no per-request closures in the steady state. At most one
 * undici request is live per exchange; a replay starts only from a terminal callback.
 */
export class Exchange implements RequestFacts, BodyHolder, Dispatcher.DispatchHandler {
  readonly owner: ExchangeOwner;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startMs: number; // arrival, on the owner's clock
  // RequestFacts, filled by the header pass.
  host: string | undefined = undefined;
  requestId = '';
  chunked = false;
  contentLength = -1;
  replayMarked = false;
  replayForbidden = false;
  path = '/';
  headers: string[] = [];
  body: Buffer | IncomingMessage | null = null; // none, a kept copy (replayable), or the live stream
  replayBytes = 0;
  collected: Buffer[] | null = null;
  version: VersionRoute | undefined = undefined;
  endpoint: UpstreamEndpoint | undefined = undefined;
  firstVersion: VersionRoute | undefined = undefined; // the outcome stream's and the budget's unit
  canaryShare = 0; // ρ of the snapshot that routed the first attempt
  tried: UpstreamEndpoint[] | null = null; // pods already tried, so a replay goes elsewhere
  attempts = 0;
  controller: Dispatcher.DispatchController | null = null;
  attemptAt = 0; // dispatch of the current attempt (clock ms): older sockets were pooled
  attemptStarted = false; // handed to a socket (a streamed body may have been read)
  upstreamResponded = false; // the pod began a response on the current attempt
  discarding = false; // swallowing a retryable error response before replaying on replayTarget
  replayTarget: Target | undefined = undefined;
  discardedBytes = 0;
  perTryMs = 0; // header wait of an attempt that may be replayed on timeout (0: none)
  perTryTimer: NodeJS.Timeout | null = null;
  bodyLeft = -1; // response body bytes still to come per content-length (-1: not known)
  ended = false; // the client response was ended (the last chunk went out with end())
  status = 0; // sent to the client (0 while none)
  failed = false; // client-visible failure (5xx or an aborted response)
  clientGone = false;
  done = false;
  #resume: (() => void) | null = null;

  constructor(owner: ExchangeOwner, req: IncomingMessage, res: ServerResponse, startMs: number) {
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.startMs = startMs;
    trackOnSocket(this);
  }

  get idempotent(): boolean {
    return replayable(IDEMPOTENT.has(this.req.method as string), this.replayMarker);
  }

  /** The request's replay header: true, false, or absent (undefined). */
  get replayMarker(): boolean | undefined {
    return this.replayForbidden ? false : this.replayMarked ? true : undefined;
  }

  /** A replay could resend exactly what the pod was sent. */
  get bodyReplayable(): boolean {
    return this.body === null || Buffer.isBuffer(this.body) || !this.attemptStarted;
  }

  /** Begins forwarding: keeps a small body for replays, then sends the first attempt. */
  start(headers: string[]): void {
    this.headers = headers;
    if (!collectBody(this, this.owner.retryPolicy.replayBufferBytes)) this.#attempt();
  }

  bodyReady(): void {
    if (this.clientGone || this.done) return this.finish();
    this.#attempt();
  }

  reserveReplayBytes(bytes: number): boolean {
    return this.owner.reserveReplayBytes(bytes);
  }

  releaseReplayBytes(bytes: number): void {
    this.owner.releaseReplayBytes(bytes);
  }

  /** First attempt, by weight; with nothing to route to, a proxy-made 503 at once. */
  #attempt(): void {
    const target = this.owner.pickTarget(this);
    if (typeof target === 'string') {
      writeProxyError(this.res, target, { requestId: this.requestId, retryAfter: target === 'GP_OVERLOADED' ? 1 : undefined });
      this.status = this.res.statusCode;
      this.failed = true;
      return this.finish();
    }
    this.firstVersion = target.version;
    this.dispatchTo(target);
  }

  /** Sends one attempt to `target` (the first, or a replay). */
  dispatchTo(target: Target): void {
    this.version = target.version;
    this.endpoint = target.endpoint;
    this.attempts++;
    // The first attempt starts with the request; only replays read the clock again.
    this.attemptAt = this.attempts === 1 ? this.startMs : this.owner.clock.now();
    this.attemptStarted = false;
    this.upstreamResponded = false;
    this.discarding = false;
    this.discardedBytes = 0;
    this.replayTarget = undefined;
    this.controller = null;
    target.endpoint.outstanding++;
    const policy = this.owner.retryPolicy;
    const mayRetry = policy.perTryTimeout > 0 && this.attempts <= policy.maxRetries && this.idempotent && this.bodyReplayable;
    this.perTryMs = mayRetry ? Math.min(policy.perTryTimeout, policy.responseTimeout) : 0;
    try {
      target.endpoint.dispatch(
        {
          path: this.path,
          method: this.req.method as string,
          headers: this.headers,
          body: this.body,
          headersTimeout: mayRetry ? this.perTryMs : policy.responseTimeout,
        },
        this,
      );
    } catch (err) {
      // undici validates synchronously (e.g. a header value it will not write).
      this.onResponseError(null, err as Error);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.attemptStarted = true;
    if (this.clientGone) return controller.abort(CLIENT_GONE);
    // undici runs headersTimeout on its coarse timers (ticks of ~0.5 s), so a 300 ms per-try
    // timeout fired after 0.5–1 s (reliability test 5). A native timer keeps it to the setting;
    // armed only when a per-try timeout applies, so the default path pays nothing.
    if (this.perTryMs > 0) this.perTryTimer = setTimeout(onPerTryTimeout, this.perTryMs, this);
  }

  #clearPerTry(): void {
    if (this.perTryTimer === null) return;
    clearTimeout(this.perTryTimer);
    this.perTryTimer = null;
  }

  onResponseStarted(): void {
    this.upstreamResponded = true;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx: Node already answered Expect itself; hints are dropped.
    this.#clearPerTry();
    this.status = statusCode;
    const length = headers['content-length'];
    this.bodyLeft = typeof length === 'string' ? Number(length) : -1;
    if (statusCode >= 500) {
      const policy = this.owner.retryPolicy;
      const kind: FailureKind = policy.statuses.has(statusCode)
        ? 'retry-status'
        : policy.canaryStatuses.has(statusCode) && this.owner.isCanary(this.version as VersionRoute)
          ? 'canary-status'
          : 'status';
      // Decide now, while the pod's answer could still be passed on: swallow it only with a
      // replay target and a budget slot in hand.
      if (kind !== 'status') this.replayTarget = replayTargetAfter(this, kind);
      if (this.replayTarget !== undefined) {
        this.discarding = true;
        return;
      }
    }
    try {
      this.res.writeHead(statusCode, buildResponseHeaders(controller.rawHeaders as (Buffer | string)[], this.requestId));
    } catch (err) {
      controller.abort(err as Error);
      return;
    }
    if (statusCode >= 500) this.failed = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discarding) {
      this.discardedBytes += chunk.length;
      if (this.discardedBytes > MAX_DISCARD_BYTES) controller.abort(DISCARD_TOO_LARGE);
      return;
    }
    if (chunk.length === this.bodyLeft) {
      // The chunk that completes a content-length body goes out with end(): one call, not two.
      this.bodyLeft = 0;
      this.ended = true;
      this.res.end(chunk);
      return;
    }
    if (this.bodyLeft > 0) this.bodyLeft -= chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', (this.#resume ??= () => this.controller?.resume()));
    }
  }

  onResponseEnd(): void {
    this.#clearPerTry();
    this.controller = null;
    const endpoint = this.endpoint as UpstreamEndpoint;
    endpoint.outstanding--;
    if (this.discarding) return replayAfterDiscard(this, endpoint);
    if (!this.ended) this.res.end();
    const failed = this.status >= 500;
    reportFirstAttempt(this, failed ? failedAt(endpoint) : ATTEMPT_OK);
    this.version?.stats.recordAttempt(failed ? OUTCOME_INDEX.http_5xx : OUTCOME_INDEX.success);
    this.owner.endpointResult(endpoint, failed);
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    this.#clearPerTry();
    this.controller = null;
    const endpoint = this.endpoint as UpstreamEndpoint;
    endpoint.outstanding--;
    if (this.clientGone || err === CLIENT_GONE) {
      reportFirstAttempt(this, ATTEMPT_EXCLUDED);
      return this.finish();
    }
    if (err === DISCARD_TOO_LARGE) return replayAfterDiscard(this, endpoint);
    const failure = classifyUpstreamError(err);
    // The idle-close race: counted against the version as a reset, never as evidence (attempt-end.ts).
    const staleSocket = isStaleSocket(this, failure, err);
    reportFirstAttempt(this, failure.outcome < 0 || staleSocket ? ATTEMPT_EXCLUDED : failedAt(endpoint));
    if (failure.outcome >= 0) {
      this.version?.stats.recordAttempt(failure.outcome);
      if (!staleSocket) this.owner.endpointResult(endpoint, true);
    }
    if (this.res.headersSent) {
      // Headers went out: the only honest signal left is an aborted response, never a clean end.
      this.failed = true;
      this.res.destroy();
      return this.finish();
    }
    const target = replayTargetAfter(this, transportFailureKind(this, failure, staleSocket));
    if (target !== undefined) return replay(this, target);
    answerFailure(this, failure);
  }

  /** The client connection closed: before the response finished, this is a client abort. */
  onClientClose(): void {
    if (this.done || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.controller !== null) this.controller.abort(CLIENT_GONE);
    else if (this.endpoint === undefined || this.collected !== null) this.finish();
    // Otherwise the request is queued in the pool; onRequestStart aborts it.
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    untrackOnSocket(this);
    if (this.replayBytes > 0) this.owner.releaseReplayBytes(this.replayBytes);
    this.owner.exchangeDone(this);
  }
}

function onPerTryTimeout(exchange: Exchange): void {
  exchange.perTryTimer = null;
  if (!exchange.done && exchange.controller !== null)
    exchange.controller.abort(new PerTryTimeout('no response header within retry.perTryTimeout'));
}
