// Kubernetes `Status` errors of the simulated API server: the exact shapes and messages that
// client-node and kubectl parse (apimachinery pkg/api/errors/errors.go), thrown by the registry and answered by the server.

import type { ResourceType } from './resources.ts';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An API failure that the HTTP layer turns into a `Status` body with `code` as the HTTP status. */
export class ApiError extends Error {
  readonly status: Status;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'ApiError';
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
  }

  get code(): number {
    return this.status.code;
  }
}

/** `deployments.apps`, or `pods` for the core group: how the apiserver names a resource in messages. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function details(rt: ResourceType, name: string): StatusDetails {
  return { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, details(rt, name));
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(rt)} "${name}" already exists`, details(rt, name));
}

export function conflict(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(rt, name),
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType})`,
  );
}

export function forbidden(rt: ResourceType, name: string, reason: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualifiedResource(rt)} "${name}" is forbidden: ${reason}`, details(rt, name));
}

export interface FieldProblem {
  /** `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueForbidden` … */
  reason: string;
  field: string;
  /** The text after the field, e.g. `Required value` or `Invalid value: "x": must be …`. */
  detail: string;
}

/** 422 Invalid, formatted like the apiserver: `Kind.group "name" is invalid: [field: detail, …]`. */
export function invalid(rt: ResourceType, name: string, problems: FieldProblem[]): ApiError {
  const qualifiedKind = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
  const parts = problems.map((p) => `${p.field}: ${p.detail}`);
  const list = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${list}`, {
    name,
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.kind,
    causes: problems.map((p) => ({ reason: p.reason, message: p.detail, field: p.field })),
  });
}

export function successStatus(rt: ResourceType, name: string, uid: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...details(rt, name), uid }, code: 200 };
}
