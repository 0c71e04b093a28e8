// The HTTP face of the simulated API server: routing of Kubernetes REST paths onto the registry,
// discovery, OpenAPI, Tables, watches, bearer-token auth and the fault-injection hooks for tests.

import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { decodeProtobuf, PROTOBUF } from './protobuf.ts';
import { apiGroupDoc, apiGroupList, apiResourceList, apiVersions, openApiV3Document, openApiV3Index, SERVER_VERSION } from './discovery.ts';
import { ApiError, badRequest, methodNotAllowed, qualifiedResource, successStatus } from './errors.ts';
import type { Status } from './errors.ts';
import { isObject } from './objects.ts';
import type { KObject } from './objects.ts';
import type { DeleteOptions, PropagationPolicy, Registry } from './registry.ts';
import { findResource } from './resources.ts';
import type { ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { toTable, wantsTable } from './tables.ts';
import type { IncludeObject } from './tables.ts';
import { WatchHub } from './watch.ts';

const MAX_BODY = 3 * 1024 * 1024;

/** Where `pods/log` reads from (the kubelet). */
export interface PodLogSource {
  /** The log text, or an ApiError thrown for an unknown container. */
  read(namespace: string, pod: string, container: string | undefined, previous: boolean): string;
  /** Streams new output until the container exits; returns an unsubscribe function. */
  follow(namespace: string, pod: string, container: string | undefined, onData: (chunk: string) => void, onEnd: () => void): () => void;
}

export interface RequestRecord {
  method: string;
  url: string;
  contentType: string | undefined;
  /** 0 while the response is still open (watches) or when the connection was dropped. */
  status: number;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  token: string | undefined;
  bookmarkIntervalMs: number;
  /** Serve https with this key and certificate (PEM). */
  tls: { key: string; cert: string } | undefined;
}

interface Route {
  rt: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string;
}

/** Faults armed by tests; each one-shot fault fires on the next request it applies to. */
interface Faults {
  latencyMs: number;
  failNext: { status: number; watchOnly: boolean } | undefined;
  dropNext: boolean;
  /** While true every request's connection is reset at once (an API server gone from the network). */
  unreachable: boolean;
  /** RBAC denials in force: a request whose resource (`deployments`, `deployments/scale`) and verb match one gets 403. */
  forbidden: Set<{ resource: string; verb: string }>;
}

export class ApiServer {
  readonly server: http.Server | https.Server;
  readonly watches: WatchHub;
  readonly faults: Faults = { latencyMs: 0, failNext: undefined, dropNext: false, unreachable: false, forbidden: new Set() };
  /** The last requests served, newest last (for tests that assert what a client sent). */
  readonly requests: RequestRecord[] = [];
  readonly #registry: Registry;
  readonly #options: ApiServerOptions;
  #logs: PodLogSource | undefined;
  #address = '';

  constructor(registry: Registry, options: ApiServerOptions) {
    this.#registry = registry;
    this.#options = options;
    this.watches = new WatchHub(registry.store, options.bookmarkIntervalMs);
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.#handle(req, res);
    this.server = options.tls
      ? https.createServer({ keepAliveTimeout: 65_000, key: options.tls.key, cert: options.tls.cert }, handler)
      : http.createServer({ keepAliveTimeout: 65_000 }, handler);
  }

  setLogSource(logs: PodLogSource): void {
    this.#logs = logs;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    const addr = this.server.address();
    if (!addr || typeof addr === 'string') throw new Error('API server has no TCP address');
    this.#address = `${addr.address}:${addr.port}`;
    return `${this.#options.tls ? 'https' : 'http'}://${this.#address}`;
  }

  async close(): Promise<void> {
    this.watches.endAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const isWatch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' || url.pathname.includes('/watch/');
    const record = this.#record(req);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    if (this.faults.dropNext || this.faults.unreachable) {
      this.faults.dropNext = false;
      req.socket.resetAndDestroy();
      return;
    }
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
    try {
      const fail = this.faults.failNext;
      if (fail && (!fail.watchOnly || isWatch)) {
        this.faults.failNext = undefined;
        throw new ApiError(
          fail.status,
          fail.status === 503 ? 'ServiceUnavailable' : 'InternalError',
          `Internal error occurred: injected fault (HTTP ${fail.status})`,
        );
      }
      if (!this.#authorized(req, url.pathname)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      await this.#route(req, res, url, isWatch);
    } catch (err) {
      const status: Status =
        err instanceof ApiError
          ? err.status
          : {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              message: `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`,
              reason: 'InternalError',
              code: 500,
            };
      if (res.headersSent) res.end();
      else sendJson(res, status.code, status);
    }
  }

  /** Recorded when the request arrives (watches never finish); the status is filled in at the end. */
  #record(req: IncomingMessage): RequestRecord {
    const record: RequestRecord = { method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], status: 0 };
    this.requests.push(record);
    if (this.requests.length > 1000) this.requests.splice(0, this.requests.length - 1000);
    return record;
  }

  #authorized(req: IncomingMessage, path: string): boolean {
    if (!this.#options.token) return true;
    if (path === '/version' || path === '/healthz' || path === '/livez' || path === '/readyz') return true;
    return req.headers.authorization === `Bearer ${this.#options.token}`;
  }

  /**
   * The RBAC denials armed by `faults.forbid`, answered as the apiserver's authorizer does
   * (apiserver/pkg/endpoints/handlers/responsewriters `forbiddenMessage`): 403 Forbidden naming
   * the user, the verb, the resource with its subresource, the API group and the namespace.
   */
  #authorize(req: IncomingMessage, r: Route, isWatch: boolean): void {
    if (this.faults.forbidden.size === 0) return;
    const method = req.method ?? 'GET';
    const verb =
      method === 'GET'
        ? isWatch
          ? 'watch'
          : r.name === undefined
            ? 'list'
            : 'get'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : method === 'DELETE'
                ? r.name === undefined
                  ? 'deletecollection'
                  : 'delete'
                : method.toLowerCase();
    const resource = r.subresource ? `${r.rt.plural}/${r.subresource}` : r.rt.plural;
    const denied = [...this.faults.forbidden].some(
      (f) => (f.resource === resource || f.resource === '*') && (f.verb === verb || f.verb === '*'),
    );
    if (!denied) return;
    // client-go sends credentials over TLS only; a request without them is the anonymous user.
    const user = req.headers.authorization ? 'kubernetes-admin' : 'system:anonymous';
    const where = r.namespace !== undefined ? `in the namespace "${r.namespace}"` : 'at the cluster scope';
    const why = `User "${user}" cannot ${verb} resource "${resource}" in API group "${r.rt.group}" ${where}`;
    const subject = r.name !== undefined && !isWatch ? `${qualifiedResource(r.rt)} "${r.name}"` : qualifiedResource(r.rt);
    throw new ApiError(403, 'Forbidden', `${subject} is forbidden: ${why}`, {
      ...(r.name !== undefined ? { name: r.name } : {}),
      ...(r.rt.group ? { group: r.rt.group } : {}),
      kind: r.rt.plural,
    });
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, isWatch: boolean): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return void res.end('ok');
    }
    if (method === 'GET') {
      const doc = this.#staticDocument(path);
      if (doc !== undefined) return sendJson(res, 200, doc);
    }
    const segs = path.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) {
      group = '';
      version = segs[1] as string;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 3) {
      group = segs[1] as string;
      version = segs[2] as string;
      rest = segs.slice(3);
    } else throw notFoundPath(path);
    if (rest[0] === 'watch') rest = rest.slice(1);
    const route = parseRoute(group, version, rest.map(decodeURIComponent));
    if (!route) throw notFoundPath(path);
    this.#authorize(req, route, isWatch);
    await this.#resource(req, res, url, route, isWatch);
  }

  #staticDocument(path: string): unknown | undefined {
    if (path === '/version') return SERVER_VERSION;
    if (path === '/api') return apiVersions(this.#address);
    if (path === '/apis') return apiGroupList();
    if (path === '/openapi/v3') return openApiV3Index();
    if (path.startsWith('/openapi/v3/')) return openApiV3Document(path.slice('/openapi/v3/'.length));
    const segs = path.split('/').filter(Boolean);
    if (segs[0] === 'api' && segs.length === 2) return apiResourceList('', segs[1] as string);
    if (segs[0] === 'apis' && segs.length === 2) return apiGroupDoc(segs[1] as string);
    if (segs[0] === 'apis' && segs.length === 3) return apiResourceList(segs[1] as string, segs[2] as string);
    return undefined;
  }

  async #resource(req: IncomingMessage, res: ServerResponse, url: URL, r: Route, isWatch: boolean): Promise<void> {
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const reg = this.#registry;
    const dryRun = q.getAll('dryRun').includes('All');
    const table = wantsTable(req.headers.accept);
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
    const { rt, namespace, name, subresource } = r;
    if (subresource && !rt.subresources.includes(subresource)) throw notFoundPath(url.pathname);

    if (name === undefined) {
      if (method === 'GET' && isWatch) return this.#watch(res, q, r, table, include);
      if (method === 'GET') {
        const list = reg.list(rt, namespace, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
        });
        if (table) return sendJson(res, 200, toTable(rt, list.items, list.resourceVersion, include));
        return sendJson(res, 200, {
          kind: `${rt.kind}List`,
          apiVersion: rt.apiVersion,
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items.map(stripTypeMeta),
        });
      }
      if (method === 'POST') return sendJson(res, 201, reg.create(rt, namespace, await readBody(req), { dryRun }));
      if (method === 'DELETE') {
        const opts = deleteOptions(q, await readBody(req, true));
        const items = reg.deleteCollection(
          rt,
          namespace,
          { labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined },
          opts,
        );
        return sendJson(res, 200, {
          kind: `${rt.kind}List`,
          apiVersion: rt.apiVersion,
          metadata: { resourceVersion: String(reg.store.resourceVersion) },
          items: items.map(stripTypeMeta),
        });
      }
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
    }

    if (isWatch && method === 'GET') {
      q.set('fieldSelector', [q.get('fieldSelector'), `metadata.name=${name}`].filter(Boolean).join(','));
      return this.#watch(res, q, { ...r, name: undefined }, table, include);
    }
    if (subresource === 'log') return this.#log(res, q, r);
    if (subresource === 'scale') {
      if (method === 'GET') return sendJson(res, 200, reg.getScale(rt, namespace, name));
      if (method === 'PUT') return sendJson(res, 200, reg.updateScale(rt, namespace, name, await readBody(req), { dryRun }));
      if (method === 'PATCH')
        return sendJson(
          res,
          200,
          reg.patch(rt, namespace, name, req.headers['content-type'] ?? '', await readBody(req), 'scale', { dryRun }),
        );
      throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
    switch (method) {
      case 'GET': {
        const o = reg.get(rt, namespace, name);
        return sendJson(res, 200, table ? toTable(rt, [o], undefined, include) : o);
      }
      case 'PUT':
        return sendJson(res, 200, reg.update(rt, namespace, name, await readBody(req), subresource, { dryRun }));
      case 'PATCH': {
        const contentType = req.headers['content-type'] ?? '';
        if (/apply-patch/.test(contentType))
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - server-side apply (${contentType}) is not supported by the simulated cluster`,
          );
        return sendJson(res, 200, reg.patch(rt, namespace, name, contentType, await readBody(req), subresource, { dryRun }));
      }
      case 'DELETE': {
        if (subresource) throw methodNotAllowed('the server does not allow this method on the requested resource');
        const result = reg.delete(rt, namespace, name, { ...deleteOptions(q, await readBody(req, true)), dryRun });
        if (result.removed && rt.kind !== 'Pod') return sendJson(res, 200, successStatus(rt, name, result.object.metadata.uid ?? ''));
        return sendJson(res, 200, result.object);
      }
    }
    throw methodNotAllowed('the server does not allow this method on the requested resource');
  }

  #watch(res: ServerResponse, q: URLSearchParams, r: Route, table: boolean, include: IncludeObject): void {
    const labels = parseLabelSelector(q.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(
      q.get('fieldSelector') ?? undefined,
      ['metadata.name', 'metadata.namespace', ...r.rt.fieldSelectors],
      r.rt.kind,
    );
    const rv = q.get('resourceVersion');
    if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
    const timeout = q.get('timeoutSeconds');
    this.watches.serve(res, {
      rt: r.rt,
      namespace: r.namespace,
      labels,
      fields,
      resourceVersion: rv ?? undefined,
      allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
      timeoutSeconds: timeout ? Number(timeout) : undefined,
      render: (o, type) => (table && type !== 'BOOKMARK' ? toTable(r.rt, [o], o.metadata.resourceVersion, include) : o),
    });
  }

  #log(res: ServerResponse, q: URLSearchParams, r: Route): void {
    const logs = this.#logs;
    const namespace = r.namespace ?? '';
    const name = r.name ?? '';
    this.#registry.get(r.rt, namespace, name);
    if (!logs) throw badRequest('no kubelet serves logs');
    const container = q.get('container') ?? undefined;
    let text = logs.read(namespace, name, container, q.get('previous') === 'true');
    const tail = q.get('tailLines');
    if (tail !== null) {
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      text = lines
        .slice(Math.max(0, lines.length - Number(tail)))
        .map((l) => `${l}\n`)
        .join('');
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.flushHeaders();
    res.write(text);
    if (q.get('follow') !== 'true') return void res.end();
    const stop = logs.follow(
      namespace,
      name,
      container,
      (chunk) => res.write(chunk),
      () => res.end(),
    );
    res.on('close', stop);
  }
}

function parseRoute(group: string, version: string, rest: string[]): Route | undefined {
  let namespace: string | undefined;
  let tail = rest;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    tail = rest.slice(2);
  }
  const [plural, name, subresource, extra] = tail;
  if (!plural || extra !== undefined) return undefined;
  const rt = findResource(group, version, plural);
  if (!rt) return undefined;
  if (rt.namespaced === false && namespace !== undefined) return undefined;
  return { rt, namespace, name, subresource: subresource === 'finalize' ? 'status' : (subresource ?? '') };
}

function notFoundPath(path: string): ApiError {
  void path;
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

function stripTypeMeta(o: KObject): KObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KObject;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith(PROTOBUF) && raw.length > 0) return decodeProtobuf(raw);
  const text = raw.toString('utf8');
  if (text.trim() === '') {
    if (optional) return undefined;
    throw badRequest('the body of the request was empty');
  }
  try {
    return /yaml/.test(type) && !/apply-patch/.test(type) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const b = isObject(body) ? body : {};
  const grace = q.get('gracePeriodSeconds') ?? b.gracePeriodSeconds;
  let policy = (q.get('propagationPolicy') ?? b.propagationPolicy) as PropagationPolicy | undefined;
  const orphan = q.get('orphanDependents') ?? b.orphanDependents;
  if (!policy && (orphan === true || orphan === 'true')) policy = 'Orphan';
  const pre = isObject(b.preconditions) ? b.preconditions : {};
  return {
    ...(grace !== undefined && grace !== null ? { gracePeriodSeconds: Number(grace) } : {}),
    ...(policy ? { propagationPolicy: policy } : {}),
    preconditions: {
      ...(typeof pre.uid === 'string' ? { uid: pre.uid } : {}),
      ...(typeof pre.resourceVersion === 'string' ? { resourceVersion: pre.resourceVersion } : {}),
    },
  };
}
