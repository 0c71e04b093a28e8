// The forward stage: one Exchange per client request, doubling as the undici dispatch handler
// that streams the pod's response to the client with backpressure both ways.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { RequestFacts } from './headers.ts';
import { buildResponseHeaders } from './headers.ts';
import { classifyUpstreamError, writeProxyError } from './rescue.ts';
import { OUTCOME_INDEX, type VersionStats } from './stats.ts';
import type { VersionRoute } from './snapshot.ts';
import type { UpstreamEndpoint } from './upstream.ts';

/** What an exchange needs from the data plane that owns it. */
export interface ExchangeOwner {
  /** Called exactly once per exchange, when it is over. */
  exchangeDone(exchange: Exchange): void;
}

const kExchange = Symbol('glidepath.exchange');
type TrackedResponse = ServerResponse & { [kExchange]?: Exchange };

/** Sentinel abort reason: the client went away, so nothing is charged to the pod. */
export class ClientGoneError extends Error {
  readonly code = 'GP_CLIENT_GONE';
}
const CLIENT_GONE = new ClientGoneError('client closed the connection');

/**
 * All fields are set in the constructor (one hidden class for every request) and the handler
 * methods are prototype methods: no per-request closures in the steady state.
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
  version: VersionRoute | undefined = undefined;
  endpoint: UpstreamEndpoint | undefined = undefined;
  controller: Dispatcher.DispatchController | null = null;
  /** Status sent to the client (0 while none). */
  status = 0;
  /** Client-visible failure (5xx or an aborted response). */
  failed = false;
  clientGone = false;
  done = false;
  #resume: (() => void) | null = null;

  constructor(owner: ExchangeOwner, req: IncomingMessage, res: ServerResponse, startMs: number) {
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.startMs = startMs;
    (res as TrackedResponse)[kExchange] = this;
    res.on('close', onResponseClose);
  }

  get stats(): VersionStats | undefined {
    return this.version?.stats;
  }

  /** Sends the request to the chosen endpoint. */
  dispatch(endpoint: UpstreamEndpoint, path: string, headers: string[]): void {
    this.endpoint = endpoint;
    endpoint.outstanding++;
    const hasBody = this.chunked || this.contentLength > 0;
    try {
      endpoint.dispatch({ path, method: this.req.method as string, headers, body: hasBody ? this.req : null }, this);
    } catch (err) {
      // undici validates synchronously (e.g. a header value it will not write).
      this.onResponseError(null, err as Error);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(CLIENT_GONE);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode < 200) return; // 1xx: Node already answered Expect itself; hints are dropped.
    this.status = statusCode;
    let headers: string[];
    try {
      headers = buildResponseHeaders(controller.rawHeaders as (Buffer | string)[], this.requestId);
      this.res.writeHead(statusCode, headers);
    } catch (err) {
      controller.abort(err as Error);
      return;
    }
    if (statusCode >= 500) this.failed = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', (this.#resume ??= () => this.controller?.resume()));
    }
  }

  onResponseEnd(): void {
    this.res.end();
    this.stats?.recordAttempt(this.status >= 500 ? OUTCOME_INDEX.http_5xx : OUTCOME_INDEX.success);
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    if (this.clientGone || err === CLIENT_GONE) {
      this.finish();
      return;
    }
    const failure = classifyUpstreamError(err);
    if (failure.outcome >= 0) this.stats?.recordAttempt(failure.outcome);
    if (!this.res.headersSent) {
      writeProxyError(this.res, failure.code, { requestId: this.requestId });
      this.status = this.res.statusCode;
      this.failed = this.status >= 500;
    } else {
      // Headers went out: the only honest signal left is an aborted response, never a clean end.
      this.failed = true;
      this.res.destroy();
    }
    this.finish();
  }

  /** The client connection closed: before the response finished, this is a client abort. */
  onClientClose(): void {
    if (this.done || this.res.writableFinished) return;
    this.clientGone = true;
    if (this.controller !== null) this.controller.abort(CLIENT_GONE);
    else if (this.endpoint === undefined) this.finish();
    // Otherwise the request is queued in the pool; onRequestStart aborts it.
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.endpoint !== undefined) this.endpoint.outstanding--;
    this.owner.exchangeDone(this);
  }
}

function onResponseClose(this: TrackedResponse): void {
  this[kExchange]?.onClientClose();
}
