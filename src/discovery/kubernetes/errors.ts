// Turns what client-node throws (ApiException, a watch's HTTP status, a fetch failure) into a
// GlidepathError whose message says what to fix: the RBAC rule to grant, the object to create.

import { GlidepathError } from '../../core/errors.ts';

/** Which API request failed, so that a 403 can name the verb to grant. */
export interface RequestDescription {
  readonly verb: 'list' | 'watch' | 'get';
  /** Plural resource name: `pods`, `endpointslices`. */
  readonly resource: string;
  /** API group; '' for the core group. */
  readonly group: string;
  readonly namespace: string;
}

/** An error thrown by a list function, tagged with the request so the informer's error callback can tell list from watch. */
export class RequestError extends Error {
  readonly request: RequestDescription;

  constructor(request: RequestDescription, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'RequestError';
    this.request = request;
  }
}

/** The HTTP status of a client-node failure: ApiException has `code`, the Watch's error `statusCode`. */
export function httpStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

/** The server's own Status message, when the body carries one. */
function serverMessage(err: unknown): string | undefined {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string') return undefined;
  try {
    const status = JSON.parse(body) as { message?: unknown };
    return typeof status.message === 'string' ? status.message : undefined;
  } catch {
    return undefined;
  }
}

/** Network-level cause: `ECONNREFUSED`, `UND_ERR_SOCKET`, `TimeoutError`, a TLS code. */
function networkCause(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 4; depth++) {
    const e = cur as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.code === 'string') parts.push(e.code);
    else if (e.name === 'TimeoutError' || e.name === 'AbortError') parts.push(e.name);
    cur = e.cause;
  }
  if (parts.length > 0) return parts[parts.length - 1] as string;
  return err instanceof Error ? err.message : String(err);
}

export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** Classifies one failed request; `server` is the API server URL for the unreachable case. */
export function kubernetesError(request: RequestDescription, err: unknown, server: string): GlidepathError {
  const cause = err instanceof RequestError ? err.cause : err;
  const status = httpStatus(cause);
  const what = `${request.verb} ${qualified(request.resource, request.group)} in namespace "${request.namespace}"`;
  const said = serverMessage(cause);
  if (status === 403) {
    return new GlidepathError(
      'GP_KUBERNETES_FORBIDDEN',
      `forbidden to ${what} (HTTP 403${said ? `: ${said}` : ''}); grant glidepath's ServiceAccount a Role in "${request.namespace}" with ` +
        `apiGroups: ["${request.group}"], resources: ["${request.resource}"], verbs: ["get", "list", "watch"] and a RoleBinding to it`,
      { cause },
    );
  }
  if (status === 401) {
    return new GlidepathError(
      'GP_KUBERNETES_UNAUTHORIZED',
      `the API server at ${server} rejected the credentials to ${what} (HTTP 401): check the token or client certificate of kubernetes.kubeconfig, or the pod's service-account token`,
      { cause },
    );
  }
  if (status === 404) {
    return new GlidepathError(
      'GP_KUBERNETES_NOT_FOUND',
      `the API server at ${server} does not serve ${qualified(request.resource, request.group)} (HTTP 404 to ${request.verb}${said ? `: ${said}` : ''}); EndpointSlices need Kubernetes 1.21 or newer`,
      { cause },
    );
  }
  if (status !== undefined) {
    return new GlidepathError(
      'GP_KUBERNETES_SERVER_ERROR',
      `the API server at ${server} answered HTTP ${status} to ${what}${said ? `: ${said}` : ''}; retrying with back-off`,
      { cause },
    );
  }
  return new GlidepathError(
    'GP_KUBERNETES_UNREACHABLE',
    `cannot reach the API server at ${server} to ${what} (${networkCause(cause)}); retrying with back-off, the last good endpoints stay in force`,
    { cause },
  );
}
