// The command line's side of the admin API (src/admin/server.ts): one bounded request with node's
// fetch, and every way it can fail turned into a sentence that says what to check.

import { readFileSync } from 'node:fs';
import { ADMIN_HEADER } from '../core/admin-api.ts';

/** Where `glidepath serve` listens for admin requests unless admin.listen says otherwise. */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9901';

/** The request failed; `message` is for the operator as it stands. */
export class AdminClientError extends Error {
  /** HTTP status when the admin API answered, else undefined. */
  readonly status: number | undefined;
  /** The admin API's error code (GP_UNAUTHORIZED, ...) when it sent one. */
  readonly code: string | undefined;

  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.name = 'AdminClientError';
    this.status = status;
    this.code = code;
  }
}

/** Bad command-line input for the admin client (exit 2). */
export class AdminUsageError extends Error {}

/**
 * The admin base URL from --admin (or GLIDEPATH_ADMIN_URL): a URL, or HOST:PORT as `serve --admin`
 * takes it. A path is kept, for an admin API behind a prefix.
 */
export function parseAdminUrl(value: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new AdminUsageError(`--admin: expected a URL such as ${DEFAULT_ADMIN_URL} or HOST:PORT; got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AdminUsageError(`--admin: expected an http:// or https:// URL; got "${value}"`);
  if (url.search || url.hash)
    throw new AdminUsageError(`--admin: no query or fragment, only scheme, host, port and an optional path; got "${value}"`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/**
 * The bearer token: the first of --token-file FILE and GLIDEPATH_ADMIN_TOKEN. Surrounding whitespace
 * is dropped (a Secret mounted as a file often ends with a newline).
 */
export function readToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string {
  let token: string;
  let from: string;
  if (tokenFile !== undefined) {
    from = `--token-file ${tokenFile}`;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new AdminClientError(
        `cannot read the token file ${tokenFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`,
      );
    }
  } else if (env.GLIDEPATH_ADMIN_TOKEN !== undefined && env.GLIDEPATH_ADMIN_TOKEN !== '') {
    from = 'GLIDEPATH_ADMIN_TOKEN';
    token = env.GLIDEPATH_ADMIN_TOKEN.trim();
  } else {
    throw new AdminUsageError('no admin token: pass --token-file FILE or set GLIDEPATH_ADMIN_TOKEN (the admin.token of that glidepath)');
  }
  if (token === '') throw new AdminClientError(`the admin token from ${from} is empty`);
  // An Authorization header cannot carry these; say so instead of failing inside fetch.
  if (/[\x00-\x1f\x7f]/.test(token)) throw new AdminClientError(`the admin token from ${from} contains a line break or control character`);
  return token;
}

export interface AdminRequest {
  readonly base: URL;
  readonly method: 'GET' | 'POST';
  /** Below the base URL, e.g. "/status" or "/actions/abort". */
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  readonly timeoutMs: number;
}

/** Sends one request; resolves with the parsed JSON answer of a 2xx, or throws an AdminClientError. */
export async function adminRequest(r: AdminRequest): Promise<unknown> {
  const url = `${r.base.href.replace(/\/$/, '')}${r.path}`;
  const shown = r.base.href.replace(/\/$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (r.token !== undefined) headers.authorization = `Bearer ${r.token}`;
  if (r.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let text: string;
  try {
    // One signal for the whole exchange, so a server that sends headers and then stalls is bounded too.
    const signal = AbortSignal.timeout(r.timeoutMs);
    res = await fetch(url, {
      method: r.method,
      headers,
      body: r.body === undefined ? undefined : JSON.stringify(r.body),
      signal,
      redirect: 'manual',
    });
    text = await res.text();
  } catch (err) {
    throw connectionError(err, shown, r.timeoutMs);
  }
  // The proxy port would pass the request to the application, which may answer anything, even 200.
  if (res.headers.get(ADMIN_HEADER) === null) {
    throw new AdminClientError(
      `${url} answered ${res.status} ${res.statusText} without the glidepath admin header: is --admin the glidepath admin listener (admin.listen), not the proxy port?`,
      res.status,
    );
  }
  const json = parseJson(text, res.headers.get('content-type'));
  if (res.status >= 200 && res.status < 300) {
    if (json === undefined) throw new AdminClientError(`${url} answered ${res.status} without a JSON document`, res.status);
    return json.value;
  }
  const code =
    typeof (json?.value as { error?: unknown } | undefined)?.error === 'string' ? (json?.value as { error: string }).error : undefined;
  const message =
    typeof (json?.value as { message?: unknown } | undefined)?.message === 'string'
      ? (json?.value as { message: string }).message
      : undefined;
  if (code === undefined || message === undefined) {
    throw new AdminClientError(`${url} answered ${res.status} ${res.statusText} without a glidepath error document`, res.status);
  }
  switch (res.status) {
    case 401:
      throw new AdminClientError(
        `the admin API refused the token: ${message}; use the admin.token of that glidepath (--token-file FILE or GLIDEPATH_ADMIN_TOKEN)`,
        401,
        code,
      );
    case 403:
      throw new AdminClientError(`the admin API refused the verb: ${message}`, 403, code);
    case 404:
      throw new AdminClientError(
        `the admin API has no such route (${message}): is that glidepath older than this command line?`,
        404,
        code,
      );
    default:
      throw new AdminClientError(`the admin API answered ${res.status} ${code}: ${message}`, res.status, code);
  }
}

function parseJson(text: string, contentType: string | null): { value: unknown } | undefined {
  if (contentType === null || !/^application\/json\b/i.test(contentType)) return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** fetch rejects with a TypeError whose `cause` carries the socket error's code (undici's behaviour). */
function connectionError(err: unknown, url: string, timeoutMs: number): AdminClientError {
  if ((err as Error).name === 'TimeoutError') {
    return new AdminClientError(
      `the glidepath admin API at ${url} did not answer within ${timeoutMs} ms (--timeout): is it overloaded, or is that address something else?`,
    );
  }
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  // The Fetch standard's port blocklist (SMTP, IRC and the like): fetch refuses before connecting.
  if (cause?.message === 'bad port')
    return new AdminClientError(`cannot use ${url}: fetch refuses that port (a blocked port); use the port of admin.listen`);
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return new AdminClientError(
        `cannot reach the glidepath admin API at ${url}: is glidepath running, and is admin.listen that address? (connection refused)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new AdminClientError(`cannot reach the glidepath admin API at ${url}: the host name does not resolve (${code})`);
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return new AdminClientError(
        `the connection to the glidepath admin API at ${url} was closed before an answer: is that address the admin listener, and is it plain HTTP?`,
      );
    default:
      return new AdminClientError(
        `cannot reach the glidepath admin API at ${url}: ${code ? `${code}: ` : ''}${cause?.message ?? (err as Error).message}`,
      );
  }
}
