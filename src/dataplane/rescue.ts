// The one place where failures become HTTP: upstream errors and refused requests map to a
// status, an `x-glidepath-error` code and an outcome; proxy-made responses are written here.

import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CODES, type ErrorCode } from '../core/errors.ts';
import { OUTCOME_INDEX, type RejectReason } from './stats.ts';

export const ERROR_HEADER = 'x-glidepath-error';

const kRefused = Symbol('glidepath.refused');

/** Marks a client connection as closing after a refusal: nothing that follows on it is run or counted. */
export function markRefused(socket: object): void {
  (socket as { [kRefused]?: true })[kRefused] = true;
}

export function isRefused(socket: object): boolean {
  return (socket as { [kRefused]?: true })[kRefused] === true;
}

/** How an upstream failure is reported and charged. */
export interface UpstreamFailure {
  readonly code: ErrorCode;
  /** OUTCOME_INDEX value charged to the attempt, or -1 when the client caused it. */
  readonly outcome: number;
}

const CONNECT: UpstreamFailure = { code: 'GP_UPSTREAM_CONNECT', outcome: OUTCOME_INDEX.connect_error };
const CONNECT_TIMEOUT: UpstreamFailure = { code: 'GP_UPSTREAM_CONNECT_TIMEOUT', outcome: OUTCOME_INDEX.connect_error };
const RESET: UpstreamFailure = { code: 'GP_UPSTREAM_RESET', outcome: OUTCOME_INDEX.reset };
const TIMEOUT: UpstreamFailure = { code: 'GP_UPSTREAM_TIMEOUT', outcome: OUTCOME_INDEX.timeout };
const BAD_RESPONSE: UpstreamFailure = { code: 'GP_UPSTREAM_BAD_RESPONSE', outcome: OUTCOME_INDEX.protocol_error };
const CLIENT: UpstreamFailure = { code: 'GP_BAD_REQUEST', outcome: -1 };

/** Classifies a dependency error by its `code` (never by class: copies of undici break instanceof). */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return CONNECT;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return CONNECT_TIMEOUT;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return TIMEOUT;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return RESET;
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_INFO':
      return BAD_RESPONSE;
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      return CLIENT;
  }
  if (typeof code === 'string' && code.startsWith('HPE_')) return BAD_RESPONSE;
  // undici's HTTPParserError carries no code for most llhttp errors (bare LF, obs-fold, a bad status line).
  if ((err as { name?: unknown } | null)?.name === 'HTTPParserError') return BAD_RESPONSE;
  return RESET;
}

const REJECT_CODES: Readonly<Record<RejectReason, ErrorCode>> = {
  http_version: 'GP_VERSION_NOT_SUPPORTED',
  duplicate_host: 'GP_BAD_REQUEST',
  invalid_host: 'GP_BAD_REQUEST',
  target_form: 'GP_BAD_REQUEST',
  absolute_form_authority: 'GP_BAD_REQUEST',
  te_on_http10: 'GP_BAD_REQUEST',
  transfer_coding: 'GP_NOT_IMPLEMENTED',
  too_many_headers: 'GP_HEADERS_TOO_LARGE',
  header_too_large: 'GP_HEADERS_TOO_LARGE',
  url_too_long: 'GP_URI_TOO_LONG',
  parse_error: 'GP_BAD_REQUEST',
  request_timeout: 'GP_REQUEST_TIMEOUT',
  chunk_extension_too_large: 'GP_PAYLOAD_TOO_LARGE',
  connect_method: 'GP_NOT_IMPLEMENTED',
  invalid_header_value: 'GP_BAD_REQUEST',
  h2c_upgrade: 'GP_BAD_REQUEST',
  bad_websocket: 'GP_BAD_REQUEST',
  overloaded: 'GP_OVERLOADED',
  shutting_down: 'GP_SHUTTING_DOWN',
};

export function rejectCode(reason: RejectReason): ErrorCode {
  return REJECT_CODES[reason];
}

const REASON_TEXT: Partial<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export interface ProxyErrorOptions {
  /** Close the client connection after this response (framing in doubt, shutting down). */
  readonly close?: boolean;
  /** Seconds for Retry-After (overload). */
  readonly retryAfter?: number;
  /** Detail for the body, e.g. the reject reason. */
  readonly detail?: string;
  readonly requestId?: string;
}

/** Writes a proxy-made response. Callers make sure no response header went out yet. */
export function writeProxyError(res: ServerResponse, code: ErrorCode, options: ProxyErrorOptions = {}): void {
  const status = ERROR_CODES[code].status;
  const body = `${status} ${code}: ${options.detail ?? ERROR_CODES[code].summary}\n`;
  const headers: string[] = [
    'content-type',
    'text/plain; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
    ERROR_HEADER,
    code,
  ];
  if (options.retryAfter !== undefined) headers.push('retry-after', String(options.retryAfter));
  if (options.requestId !== undefined) headers.push('x-request-id', options.requestId);
  if (options.close) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * Answers on a raw socket when Node's parser gave up (no ServerResponse exists), then closes:
 * after a parse error the framing of anything that follows on the connection is unknowable.
 */
export function writeRawProxyError(socket: Duplex, code: ErrorCode, detail: string): void {
  const status = ERROR_CODES[code].status;
  const body = `${status} ${code}: ${detail}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASON_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${ERROR_HEADER}: ${code}\r\nconnection: close\r\n\r\n${body}`,
  );
}
