// The admin listener: health, readiness, metrics and status on their own port (never the proxy's),
// with mutating verbs POST-only behind a bearer token.

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../core/errors.ts';
import { ERROR_CODES, GlidepathError } from '../core/errors.ts';
import { ADMIN_HEADER, ROLLOUT_VERBS, type RolloutVerb } from '../core/admin-api.ts';
export { ADMIN_HEADER, ROLLOUT_VERBS, type RolloutVerb };

/** The body of a verb request: a JSON object, empty when nothing is said. */
export interface AdminVerbBody {
  /** Why the operator acted (abort, pause); recorded with the decision. */
  readonly reason?: string;
  readonly [key: string]: unknown;
}

/**
 * A mutating admin verb, registered by whoever owns the action. Its result is the 200 body; a
 * GlidepathError it throws becomes that code's status (e.g. GP_CONFLICT when no rollout is in progress).
 */
export type AdminAction = (body: AdminVerbBody) => Promise<unknown> | unknown;

/** Longest accepted verb body; a reason is a sentence, not a document. */
const MAX_BODY_BYTES = 65_536;
const MAX_REASON_CHARS = 1_024;

export interface AdminDeps {
  /** Liveness: false only when the process should be restarted. */
  readonly isLive: () => boolean;
  /** Readiness: listeners bound and first endpoint snapshot loaded, and not shutting down. */
  readonly isReady: () => boolean;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly status: () => unknown;
  /** Bearer token for POST routes; empty disables every POST route (403, since no credential could succeed). */
  readonly token: string;
  /**
   * Verbs by name, looked up per request (so an owner that starts later may fill the record in).
   * A rollout verb absent here answers 409: no rollout controller runs in this process.
   */
  readonly actions?: Readonly<Record<string, AdminAction>>;
}

export function createAdminServer(deps: AdminDeps): http.Server {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
    res.setHeader(ADMIN_HEADER, '1');
    route(deps, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'internal', message: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  return server;
}

async function route(deps: AdminDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] as string;
  const method = req.method ?? 'GET';
  const get = method === 'GET' || method === 'HEAD';
  switch (path) {
    case '/livez':
      if (!get) return methodNotAllowed(res, 'GET');
      return sendText(res, deps.isLive() ? 200 : 503, deps.isLive() ? 'ok\n' : 'not live\n');
    case '/readyz':
      if (!get) return methodNotAllowed(res, 'GET');
      return sendText(res, deps.isReady() ? 200 : 503, deps.isReady() ? 'ready\n' : 'not ready\n');
    case '/metrics': {
      if (!get) return methodNotAllowed(res, 'GET');
      const { contentType, body } = await deps.metrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      return void res.end(body);
    }
    case '/status':
      if (!get) return methodNotAllowed(res, 'GET');
      return send(res, 200, deps.status());
  }
  const name = path.startsWith('/actions/') ? path.slice('/actions/'.length) : undefined;
  const action = name === undefined ? undefined : deps.actions?.[name];
  const known = action !== undefined || (ROLLOUT_VERBS as readonly (string | undefined)[]).includes(name);
  if (!known) return sendError(res, 'GP_NOT_FOUND', `no admin route ${path}`);
  if (method !== 'POST') return methodNotAllowed(res, 'POST');
  // Credentials before state: the token is the caller's first problem to fix, whatever the rollout does.
  if (deps.token === '')
    return sendError(
      res,
      'GP_FORBIDDEN',
      'mutating verbs are disabled on this glidepath: set admin.token (GLIDEPATH_ADMIN_TOKEN) where it runs',
    );
  const auth = authorized(deps.token, req.headers.authorization);
  if (auth !== 'ok') {
    res.setHeader('www-authenticate', `Bearer realm="glidepath-admin"${auth === 'wrong' ? ', error="invalid_token"' : ''}`);
    return sendError(
      res,
      'GP_UNAUTHORIZED',
      auth === 'missing'
        ? 'a bearer token is required: Authorization: Bearer <admin.token>'
        : 'the bearer token does not match admin.token',
    );
  }
  const body = await readBody(req);
  if (typeof body === 'string') return sendError(res, body.startsWith('body over') ? 'GP_PAYLOAD_TOO_LARGE' : 'GP_BAD_REQUEST', body);
  if (action === undefined)
    return sendError(
      res,
      'GP_CONFLICT',
      `no rollout controller: glidepath runs without --deployment (static endpoints), so there is nothing to ${name}`,
    );
  let result: unknown;
  try {
    result = await action(body);
  } catch (err) {
    if (err instanceof GlidepathError && ERROR_CODES[err.code].status >= 400) return sendError(res, err.code, err.message);
    throw err;
  }
  return send(res, 200, result ?? { ok: true });
}

/** RFC 6750 §2.1 credentials, compared in constant time. */
function authorized(token: string, header: string | undefined): 'ok' | 'missing' | 'wrong' {
  if (header === undefined || !/^bearer /i.test(header)) return 'missing';
  const given = Buffer.from(header.slice(7).trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'wrong';
}

/** The verb's JSON object body, or a message saying what is wrong with it. */
async function readBody(req: http.IncomingMessage): Promise<AdminVerbBody | string> {
  const chunks: Buffer[] = [];
  const complete = await new Promise<boolean>((resolve, reject) => {
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      // Answer at once and discard the rest as it arrives (bounded by requestTimeout): closing with
      // unread bytes would reset the connection and could lose the 413 before the client reads it.
      req.off('data', onData);
      req.resume();
      resolve(false);
    };
    req.on('data', onData);
    req.once('end', () => resolve(true));
    req.once('error', reject);
  });
  if (!complete) return `body over ${MAX_BODY_BYTES / 1024} KiB`;
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `body is not JSON: ${(err as Error).message}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'body must be a JSON object, e.g. {"reason": "..."}';
  const reason = (value as { reason?: unknown }).reason;
  if (reason !== undefined && typeof reason !== 'string') return 'reason must be a string';
  if (typeof reason === 'string' && reason.length > MAX_REASON_CHARS) return `reason is longer than ${MAX_REASON_CHARS} characters`;
  return value as AdminVerbBody;
}

function methodNotAllowed(res: http.ServerResponse, allow: string): void {
  res.setHeader('allow', allow === 'GET' ? 'GET, HEAD' : allow);
  sendError(res, 'GP_METHOD_NOT_ALLOWED', `use ${allow}`);
}

function sendError(res: http.ServerResponse, code: ErrorCode, message: string): void {
  res.setHeader('x-glidepath-error', code);
  send(res, ERROR_CODES[code].status, { error: code, message });
}

function send(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
