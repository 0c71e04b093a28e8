// The admin listener: health, readiness, metrics and status on their own port (never the proxy's),
// with mutating verbs POST-only behind a bearer token.

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../core/errors.ts';
import { ERROR_CODES } from '../core/errors.ts';

/** A mutating admin verb (promote, abort, ...), registered by whoever owns the action. */
export type AdminAction = (body: unknown) => Promise<unknown> | unknown;

export interface AdminDeps {
  /** Liveness: false only when the process should be restarted. */
  readonly isLive: () => boolean;
  /** Readiness: listeners bound and first endpoint snapshot loaded, and not shutting down. */
  readonly isReady: () => boolean;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly status: () => unknown;
  /** Bearer token for POST routes; empty disables every POST route. */
  readonly token: string;
  readonly actions?: Readonly<Record<string, AdminAction>>;
}

export function createAdminServer(deps: AdminDeps): http.Server {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
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
  const action = path.startsWith('/actions/') ? deps.actions?.[path.slice('/actions/'.length)] : undefined;
  if (action === undefined) return sendError(res, 'GP_NOT_FOUND', `no admin route ${path}`);
  if (method !== 'POST') return methodNotAllowed(res, 'POST');
  if (!authorized(deps.token, req.headers.authorization)) {
    res.setHeader('www-authenticate', 'Bearer realm="glidepath-admin"');
    return sendError(res, 'GP_UNAUTHORIZED', deps.token === '' ? 'mutating verbs are disabled: set admin.token (GLIDEPATH_ADMIN_TOKEN)' : 'a valid bearer token is required');
  }
  const body = await readJson(req);
  return send(res, 200, await action(body));
}

function authorized(token: string, header: string | undefined): boolean {
  if (token === '' || header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 65_536) throw new Error('admin request body over 64 KiB');
  }
  return text.trim() === '' ? {} : JSON.parse(text);
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
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
