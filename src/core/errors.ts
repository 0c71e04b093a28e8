// The one table of glidepath error codes: what clients see in `x-glidepath-error`, what logs and
// config reports carry in `code`. docs/errors.md documents each one; a test keeps the two in step.

export interface ErrorCodeInfo {
  /** HTTP status of the proxy-made response, or 0 when the code never becomes a response. */
  readonly status: number;
  readonly summary: string;
}

export const ERROR_CODES = {
  // Proxy-made responses: routing and capacity.
  GP_NO_ENDPOINT: { status: 503, summary: 'no usable endpoint in any version' },
  GP_OVERLOADED: { status: 503, summary: 'process in-flight limit or endpoint pending limit reached; carries Retry-After' },
  GP_SHUTTING_DOWN: {
    status: 503,
    summary: 'glidepath is shutting down: a WebSocket upgrade after the drain began, or a rollout action still queued',
  },
  // Proxy-made responses: the upstream failed before a response header reached the client.
  GP_UPSTREAM_CONNECT: { status: 502, summary: 'connecting to the pod failed (refused, unreachable)' },
  GP_UPSTREAM_CONNECT_TIMEOUT: { status: 504, summary: 'connecting to the pod took longer than upstream.connectTimeout' },
  GP_UPSTREAM_RESET: { status: 502, summary: 'the pod closed or reset the connection before a complete response header' },
  GP_UPSTREAM_BAD_RESPONSE: { status: 502, summary: 'the pod sent a response that could not be parsed' },
  GP_UPSTREAM_TIMEOUT: { status: 504, summary: 'no response header within upstream.responseTimeout (or the per-try timeout)' },
  // Proxy-made responses: the request was refused before routing.
  GP_BAD_REQUEST: {
    status: 400,
    summary: 'malformed or ambiguous request (framing, Host, target form, header syntax); admin: a verb body that is not a JSON object',
  },
  GP_REQUEST_TIMEOUT: {
    status: 408,
    summary: 'request headers or body did not arrive within server.headersTimeout / server.requestTimeout',
  },
  GP_PAYLOAD_TOO_LARGE: {
    status: 413,
    summary: 'a chunk extension or body part exceeded the parser limit; admin: a verb body over 64 KiB',
  },
  GP_URI_TOO_LONG: { status: 414, summary: 'request target longer than server.maxUrlBytes' },
  GP_HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'more header fields than server.maxHeaderCount, or header bytes beyond server.maxHeaderBytes',
  },
  GP_NOT_IMPLEMENTED: {
    status: 501,
    summary: 'a transfer coding other than exactly "chunked", or a method glidepath does not proxy (CONNECT)',
  },
  GP_VERSION_NOT_SUPPORTED: { status: 505, summary: 'HTTP version other than 1.0 or 1.1 on the request line' },
  GP_NOT_FOUND: { status: 404, summary: 'admin: no such route' },
  GP_UNAUTHORIZED: { status: 401, summary: 'admin: a mutating verb without the admin bearer token, or with a wrong one' },
  GP_FORBIDDEN: { status: 403, summary: 'admin: mutating verbs are disabled because admin.token is empty' },
  GP_METHOD_NOT_ALLOWED: { status: 405, summary: 'admin: wrong method for the route' },
  GP_CONFLICT: { status: 409, summary: 'admin: the verb does not apply now (no rollout controller, or no rollout in that state)' },
  // Not responses: reported by the command line, logs and /status.
  GP_CONFIG_INVALID: { status: 0, summary: 'the configuration failed validation; every error is listed with its field path' },
  GP_ENDPOINTS_INVALID: { status: 0, summary: 'the endpoints file failed validation; the last good snapshot stays in force' },
  // Not responses: the Kubernetes API refused a request or could not be reached (discovery, rollout actions).
  GP_KUBERNETES_FORBIDDEN: {
    status: 0,
    summary: 'the Kubernetes API refused a verb (403); the message names the verb, resource, namespace and the RBAC rule to grant',
  },
  GP_KUBERNETES_UNAUTHORIZED: {
    status: 0,
    summary: 'the Kubernetes API rejected the credentials (401): expired or wrong token or certificate',
  },
  GP_KUBERNETES_NOT_FOUND: {
    status: 0,
    summary: 'a Kubernetes object glidepath was pointed at does not exist (404): the Service, its port, the Deployment, a ReplicaSet',
  },
  GP_KUBERNETES_UNREACHABLE: {
    status: 0,
    summary: 'the Kubernetes API could not be reached (refused, reset, timed out, TLS); retried with backoff',
  },
  GP_KUBERNETES_CONFLICT: {
    status: 0,
    summary: 'a write kept meeting concurrent edits of the object (409) through its bounded retries; retried with backoff',
  },
  GP_KUBERNETES_SERVER_ERROR: { status: 0, summary: 'the Kubernetes API answered 5xx or 429; retried with backoff' },
  GP_KUBERNETES_REJECTED: {
    status: 0,
    summary: 'the Kubernetes API rejected a request as invalid (400, 413, 415, 422), or it would exceed an API limit',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that knows its code. Dependency errors are matched by their own `code`, never by class. */
export class GlidepathError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GlidepathError';
    this.code = code;
  }
}

/** One problem found while validating a document, with its location. */
export interface FieldError {
  /** Where: a field path such as `upstream.connectTimeout` or `endpoints[2].address`. */
  readonly path: string;
  readonly message: string;
}

/** A JSON pointer ("/endpoints/2/address") as a field path ("endpoints[2].address"). */
export function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}

/** Validation failed; `errors` lists every problem, not only the first. */
export class ValidationError extends GlidepathError {
  readonly errors: readonly FieldError[];
  readonly source: string;

  constructor(code: 'GP_CONFIG_INVALID' | 'GP_ENDPOINTS_INVALID', source: string, errors: readonly FieldError[]) {
    super(
      code,
      `${source}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n${errors.map((e) => `  ${e.path || '(root)'}: ${e.message}`).join('\n')}`,
    );
    this.name = 'ValidationError';
    this.errors = errors;
    this.source = source;
  }
}
