// Kubernetes API failures of the rollout actions as typed glidepath errors: which code, whether a
// retry can help, and a message that names the verb, the object and what the operator should fix.

import { GlidepathError } from '../../core/errors.ts';
import type { ErrorCode } from '../../core/errors.ts';

/** One API call as an operator would name it: `patch deployments/web in namespace shop`. */
export interface Operation {
  /** Kubernetes verb: get, list, create, update, patch. */
  readonly verb: string;
  /** API group ('' for core) and plural resource. */
  readonly group: string;
  readonly resource: string;
  readonly namespace: string;
  /** Object name; absent for collections (list, create). */
  readonly name?: string;
  /** What to do instead of granting the verb, e.g. a setting that avoids the write. */
  readonly alternative?: string;
}

/** A failed Kubernetes call. `retryable` says whether the same call may succeed later unchanged. */
export class KubernetesError extends GlidepathError {
  readonly retryable: boolean;
  /** The HTTP status the API answered, or 0 when no answer arrived. */
  readonly httpStatus: number;
  readonly operation: Operation;

  constructor(
    code: ErrorCode,
    message: string,
    operation: Operation,
    httpStatus: number,
    retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'KubernetesError';
    this.retryable = retryable;
    this.httpStatus = httpStatus;
    this.operation = operation;
  }
}

/** The apiserver's `Status` body, as far as glidepath reads it. */
interface StatusBody {
  message?: string;
  reason?: string;
}

export function describe(op: Operation): string {
  const target = op.name === undefined ? op.resource : `${op.resource}/${op.name}`;
  return `${op.verb} ${target} in namespace ${op.namespace}`;
}

function groupResource(op: Operation): string {
  return op.group ? `${op.group}/${op.resource}` : `${op.resource} (core API group "")`;
}

function parseStatus(body: string): StatusBody {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' ? (v as StatusBody) : {};
  } catch {
    return {};
  }
}

/**
 * The error for a non-2xx answer. 409 gets GP_KUBERNETES_CONFLICT here; callers that retry on it
 * themselves only surface it when their retries ran out.
 */
export function fromStatus(op: Operation, httpStatus: number, body: string): KubernetesError {
  const status = parseStatus(body);
  const said = status.message ? `: ${status.message}` : '';
  const what = describe(op);
  if (httpStatus === 401) {
    return new KubernetesError(
      'GP_KUBERNETES_FORBIDDEN',
      `${what} was refused (401 Unauthorized): the API server did not accept glidepath's credentials; check the kubeconfig user or the service account token`,
      op,
      httpStatus,
      false,
    );
  }
  if (httpStatus === 403) {
    // The authorizer's message names the user: `User "system:serviceaccount:shop:glidepath" cannot patch …`.
    const user = /User "([^"]*)"/.exec(status.message ?? '')?.[1];
    const fix = `grant verb ${op.verb} on ${groupResource(op)}${op.alternative ? ` (or ${op.alternative})` : ''}`;
    return new KubernetesError(
      'GP_KUBERNETES_FORBIDDEN',
      `${what} is forbidden for ${user ?? "glidepath's credentials"}: ${fix}`,
      op,
      httpStatus,
      false,
    );
  }
  if (httpStatus === 404) {
    return new KubernetesError(
      'GP_KUBERNETES_NOT_FOUND',
      `${what}: not found${said}; check the name and the namespace glidepath was given`,
      op,
      httpStatus,
      false,
    );
  }
  if (httpStatus === 409) {
    return new KubernetesError('GP_KUBERNETES_CONFLICT', `${what} met a concurrent edit (409)${said}`, op, httpStatus, true);
  }
  if (httpStatus === 429 || httpStatus >= 500) {
    return new KubernetesError('GP_KUBERNETES_SERVER_ERROR', `${what} failed with HTTP ${httpStatus}${said}`, op, httpStatus, true);
  }
  return new KubernetesError('GP_KUBERNETES_REJECTED', `${what} was rejected with HTTP ${httpStatus}${said}`, op, httpStatus, false);
}

/** The error for a request that got no HTTP answer (refused, reset, DNS, TLS, timeout). */
export function unreachable(op: Operation, server: string, err: unknown): KubernetesError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const detail =
    e?.name === 'TimeoutError'
      ? 'no answer within the request timeout'
      : e?.cause?.code
        ? `${e.cause.code}${e.cause.message ? ` (${e.cause.message})` : ''}`
        : (e?.cause?.message ?? e?.message ?? String(err));
  return new KubernetesError(
    'GP_KUBERNETES_UNREACHABLE',
    `${describe(op)}: the Kubernetes API at ${server} is unreachable: ${detail}; check that the API server runs and the kubeconfig server address`,
    op,
    0,
    true,
    { cause: err },
  );
}

/** True for errors a later identical call may not meet: 5xx, 429, network, conflicts. */
export function isRetryable(err: unknown): boolean {
  return err instanceof KubernetesError && err.retryable;
}
