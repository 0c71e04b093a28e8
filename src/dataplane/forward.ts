// The forward stage: one Exchange per client request, doubling as the undici dispatch handler
// that streams the pod's response back with backpressure both ways, and replaying the request
// on another pod when that is safe (nothing reached the client, the pod cannot have acted on it).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../core/errors.ts';
import { buildResponseHeaders, type RequestFacts } from './headers.ts';
import { classifyUpstreamError, writeProxyError, type UpstreamFailure } from './rescue.ts';
import { OUTCOME_INDEX } from './stats.ts';
import type { VersionRoute } from './snapshot.ts';
import { socketPredates, type UpstreamEndpoint } from './upstream.ts';

export interface RetryPolicy {
  readonly maxRetries: number;
  readonly statuses: ReadonlySet<number>;
  /** Response-header wait for an attempt that could be replayed; 0 = responseTimeout. */
  readonly perTryTimeout: number;
  readonly responseTimeout: number;
  readonly replayBufferBytes: number;
}

export interface Target {
  readonly version: VersionRoute;
  readonly endpoint: UpstreamEndpoint;
}

/** What an exchange needs from the data plane that owns it. */
export interface ExchangeOwner {
  readonly retryPolicy: RetryPolicy;
  /** First attempt: by weight. Undefined: nothing can take it (`noTargetCode` says why). */
  pickTarget(exchange: Exchange): Target | undefined;
  /** A replay target avoiding `exchange.tried`: on the stable version when the canary failed. */
  pickRetryTarget(exchange: Exchange): Target | undefined;
  readonly noTargetCode: ErrorCode;
  /** Takes a slot from the retry budget, or says there is none. */
  acquireRetry(): boolean;
  reserveReplayBytes(bytes: number): boolean;
  releaseReplayBytes(bytes: number): void;
  /** Outcome of one attempt against one pod, for outlier detection. */
  endpointResult(endpoint: UpstreamEndpoint, failed: boolean): void;
  /** Called exactly once per exchange, when it is over. */
  exchangeDone(exchange: Exchange): void;
}

const kExchange = Symbol('glidepath.exchange');
type Tracked<T> = T & { [kExchange]?: Exchange };
/**
 * On a client socket: the exchange(s) it carries now. One 'close' listener per connection
 * (not one per request) tells them the client went away; pipelined requests make it a list.
 */
const kActive = Symbol('glidepath.active');
type TrackedSocket = Socket & { [kActive]?: Exchange | Exchange[] | null };

/** Abort reasons of our own; never charged to a pod. */
class ExchangeAbort extends Error {}
const CLIENT_GONE = new ExchangeAbort('client closed the connection');
const DISCARD_TOO_LARGE = new ExchangeAbort('retryable error body too large to discard');

/** Our own per-try timer fired; classified like undici's headers timeout (a pod timeout). */
class PerTryTimeout extends Error {
  readonly code = 'UND_ERR_HEADERS_TIMEOUT';
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Bodies of error responses we swallow before a replay; past this we abort instead of reading. */
const MAX_DISCARD_BYTES = 65_536;

/**
 * All fields are set in the constructor (one hidden class for every request) and the handler
 * methods are prototype methods: no per-request closures in the steady state. At most one
 * undici request is live per exchange; a replay starts only from a terminal callback.
 */
export class Exchange implements RequestFacts, Dispatcher.DispatchHandler {
  readonly owner: ExchangeOwner;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startMs: number;
  // RequestFacts, filled by the header pass.
  host: string | undefined = undefined;
  requestId = '';
  chunked = false;
  contentLength = -1;
  replayMarked = false;
  replayForbidden = false;
  path = '/';
  headers: string[] = [];
  /** Request body as sent to the pod: none, a kept copy (replayable), or the live stream. */
  body: Buffer | IncomingMessage | null = null;
  replayBytes = 0;
  version: VersionRoute | undefined = undefined;
  endpoint: UpstreamEndpoint | undefined = undefined;
  /** Pods already tried, so a replay goes elsewhere. */
  tried: UpstreamEndpoint[] | null = null;
  attempts = 0;
  controller: Dispatcher.DispatchController | null = null;
  /** When the current attempt was dispatched (performance.now()): older sockets were pooled. */
  attemptAt = 0;
  /** The current attempt was handed to a socket (a streamed body may have been read). */
  attemptStarted = false;
  /** The pod began a response on the current attempt. */
  upstreamResponded = false;
  /** Swallowing a retryable error response before replaying on replayTarget. */
  discarding = false;
  replayTarget: Target | undefined = undefined;
  discardedBytes = 0;
  /** Header wait of the current attempt when it may be replayed on timeout (0: none). */
  perTryMs = 0;
  perTryTimer: NodeJS.Timeout | null = null;
  /** Response body bytes still to come when the pod sent a content-length (-1: not known). */
  bodyLeft = -1;
  /** The client response was ended (the last chunk went out with end()). */
  ended = false;
  /** Status sent to the client (0 while none). */
  status = 0;
  /** Client-visible failure (5xx or an aborted response). */
  failed = false;
  clientGone = false;
  done = false;
  #resume: (() => void) | null = null;
  #collected: Buffer[] | null = null;

  constructor(owner: ExchangeOwner, req: IncomingMessage, res: ServerResponse, startMs: number) {
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.startMs = startMs;
    const socket = req.socket as TrackedSocket;
    const active = socket[kActive];
    if (active === undefined) {
      socket[kActive] = this;
      socket.once('close', onSocketClose);
    } else if (active === null) {
      socket[kActive] = this;
    } else {
      socket[kActive] = Array.isArray(active) ? [...active, this] : [active, this];
    }
  }

  get idempotent(): boolean {
    return (IDEMPOTENT.has(this.req.method as string) || this.replayMarked) && !this.replayForbidden;
  }

  /** A replay could resend exactly what the pod was sent. */
  get bodyReplayable(): boolean {
    return this.body === null || Buffer.isBuffer(this.body) || !this.attemptStarted;
  }

  /** Begins forwarding: keeps a small body for replays, then sends the first attempt. */
  start(headers: string[]): void {
    this.headers = headers;
    const hasBody = this.chunked || this.contentLength > 0;
    if (!hasBody) return this.#attempt();
    const limit = this.owner.retryPolicy.replayBufferBytes;
    const want = this.chunked ? limit : this.contentLength;
    if (want > limit || limit === 0 || !this.owner.reserveReplayBytes(want)) {
      this.body = this.req;
      return this.#attempt();
    }
    this.replayBytes = want;
    this.#collected = [];
    (this.req as Tracked<IncomingMessage>)[kExchange] = this;
    this.req.on('data', onBodyData);
    this.req.on('end', onBodyEnd);
  }

  onBodyData(chunk: Buffer): void {
    const collected = this.#collected as Buffer[];
    collected.push(chunk);
    let size = 0;
    for (const c of collected) size += c.length;
    if (size <= this.replayBytes) return;
    // Chunked body larger than the replay buffer: put back what we read and stream it all.
    this.req.pause();
    this.req.off('data', onBodyData);
    this.req.off('end', onBodyEnd);
    this.req.unshift(Buffer.concat(collected));
    this.#collected = null;
    this.owner.releaseReplayBytes(this.replayBytes);
    this.replayBytes = 0;
    this.body = this.req;
    this.#attempt();
  }

  onBodyEnd(): void {
    const collected = this.#collected as Buffer[];
    this.#collected = null;
    this.body = collected.length === 1 ? (collected[0] as Buffer) : Buffer.concat(collected);
    if (this.clientGone) return this.finish();
    this.#attempt();
  }

  /** First attempt, by weight; with nothing to route to, a proxy-made 503 at once. */
  #attempt(): void {
    const target = this.owner.pickTarget(this);
    if (target === undefined) {
      const code = this.owner.noTargetCode;
      writeProxyError(this.res, code, { requestId: this.requestId, retryAfter: code === 'GP_OVERLOADED' ? 1 : undefined });
      this.status = this.res.statusCode;
      this.failed = true;
      return this.finish();
    }
    this.#dispatchTo(target);
  }

  #dispatchTo(target: Target): void {
    this.version = target.version;
    this.endpoint = target.endpoint;
    this.attempts++;
    // The first attempt starts with the request; only replays read the clock again.
    this.attemptAt = this.attempts === 1 ? this.startMs : performance.now();
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

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: Node already answered Expect itself; hints are dropped.
    this.#clearPerTry();
    this.status = statusCode;
    const length = headers['content-length'];
    this.bodyLeft = typeof length === 'string' ? Number(length) : -1;
    if (statusCode >= 500 && this.owner.retryPolicy.statuses.has(statusCode) && this.#mayReplay(false)) {
      // Decide now, while the pod's answer could still be passed on: swallow it only with a
      // replay target and a budget slot in hand.
      this.replayTarget = this.#reserveReplay();
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
    if (this.discarding) return this.#replayAfterDiscard(endpoint);
    if (!this.ended) this.res.end();
    this.version?.stats.recordAttempt(this.status >= 500 ? OUTCOME_INDEX.http_5xx : OUTCOME_INDEX.success);
    this.owner.endpointResult(endpoint, this.status >= 500);
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    this.#clearPerTry();
    this.controller = null;
    const endpoint = this.endpoint as UpstreamEndpoint;
    endpoint.outstanding--;
    if (this.clientGone || err === CLIENT_GONE) return this.finish();
    if (err === DISCARD_TOO_LARGE) return this.#replayAfterDiscard(endpoint);
    const failure = classifyUpstreamError(err);
    // A reused keep-alive socket that died before the pod sent a byte is how the idle-close race
    // looks (the pod closed it as we wrote): counted against the version as a reset attempt, but
    // not as evidence against the pod. A pod closing its idle sockets at once made a burst of
    // such races eject it; with one pod, every request then failed for the ejection time
    // (reliability test 6). A pod that really died refuses the next connects, which do count.
    const staleSocket = failure.outcome === OUTCOME_INDEX.reset && !this.upstreamResponded && socketPredates(err, this.attemptAt);
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
    if (failure.outcome >= 0 && this.#mayReplay(this.#safeForAnyMethod(failure, staleSocket))) {
      const target = this.#reserveReplay(staleSocket);
      if (target !== undefined) return this.#replay(target);
    }
    this.#answerFailure(failure);
  }

  /**
   * The pod cannot have acted on the request: the connection never opened, or a reused
   * keep-alive socket died before the pod sent a byte (the idle-close race, research §2.3).
   */
  #safeForAnyMethod(failure: UpstreamFailure, staleSocket: boolean): boolean {
    if (failure.outcome === OUTCOME_INDEX.connect_error || !this.attemptStarted) return true;
    // The same signature is left by a pod killed while it held the request; a client that must
    // never see a request twice says so with `<replayHeader>: false`.
    return staleSocket && !this.replayForbidden;
  }

  #mayReplay(anyMethod: boolean): boolean {
    return !this.res.headersSent && this.attempts <= this.owner.retryPolicy.maxRetries && (anyMethod || this.idempotent) && this.bodyReplayable;
  }

  /** Another pod to replay on, with a retry-budget slot taken for it; undefined if either is missing. */
  #reserveReplay(staleSocket = false): Target | undefined {
    const failed = this.endpoint as UpstreamEndpoint;
    (this.tried ??= []).push(failed);
    let target = this.owner.pickRetryTarget(this);
    // After the idle-close race the pod itself is fine: when no other pod can take the replay
    // (a version with one pod), a fresh connection to the same pod beats a 502 (test 6).
    if (target === undefined && staleSocket && failed.active && failed.routable) target = { version: this.version as VersionRoute, endpoint: failed };
    return target !== undefined && this.owner.acquireRetry() ? target : undefined;
  }

  #replay(target: Target): void {
    const failed = this.version as VersionRoute;
    failed.stats.retries++;
    // By name: the route object is rebuilt with every snapshot.
    if (target.version.name !== failed.name) failed.stats.failovers++;
    this.#dispatchTo(target);
  }

  /** The swallowed error response has ended: replay (re-picking if its target went away meanwhile). */
  #replayAfterDiscard(endpoint: UpstreamEndpoint): void {
    this.version?.stats.recordAttempt(OUTCOME_INDEX.http_5xx);
    this.owner.endpointResult(endpoint, true);
    const planned = this.replayTarget as Target;
    const target = planned.endpoint.routable ? planned : this.owner.pickRetryTarget(this);
    if (target !== undefined) return this.#replay(target);
    this.#answerFailure({ code: 'GP_UPSTREAM_RESET', outcome: OUTCOME_INDEX.http_5xx }, this.status);
  }

  #answerFailure(failure: UpstreamFailure, upstreamStatus = 0): void {
    writeProxyError(this.res, failure.code, {
      requestId: this.requestId,
      detail: upstreamStatus > 0 ? `the pod answered ${upstreamStatus} and no replay was possible` : undefined,
    });
    this.status = this.res.statusCode;
    this.failed = this.status >= 500;
    this.finish();
  }

  /** The client connection closed: before the response finished, this is a client abort. */
  onClientClose(): void {
    if (this.done || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.controller !== null) this.controller.abort(CLIENT_GONE);
    else if (this.endpoint === undefined || this.#collected !== null) this.finish();
    // Otherwise the request is queued in the pool; onRequestStart aborts it.
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    const socket = this.req.socket as TrackedSocket;
    const active = socket[kActive];
    if (active === this) socket[kActive] = null;
    else if (Array.isArray(active)) socket[kActive] = active.length === 2 ? (active[0] === this ? active[1] : active[0]) ?? null : active.filter((e) => e !== this);
    if (this.replayBytes > 0) this.owner.releaseReplayBytes(this.replayBytes);
    this.owner.exchangeDone(this);
  }
}

function onPerTryTimeout(exchange: Exchange): void {
  exchange.perTryTimer = null;
  if (!exchange.done && exchange.controller !== null) exchange.controller.abort(new PerTryTimeout('no response header within retry.perTryTimeout'));
}

function onSocketClose(this: TrackedSocket): void {
  const active = this[kActive];
  this[kActive] = null;
  if (Array.isArray(active)) for (const exchange of active) exchange.onClientClose();
  else active?.onClientClose();
}

function onBodyData(this: Tracked<IncomingMessage>, chunk: Buffer): void {
  this[kExchange]?.onBodyData(chunk);
}

function onBodyEnd(this: Tracked<IncomingMessage>): void {
  this[kExchange]?.onBodyEnd();
}
