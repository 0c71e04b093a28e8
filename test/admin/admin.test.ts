// The admin listener: health, readiness through shutdown, Prometheus text that matches the
// traffic sent, /status, and mutating verbs: 403 without admin.token, 401 without the token, 409
// without a rollout controller, 400/413 for bad bodies.

import t, { type Test } from 'tap';
import { startPod } from '../../testkit/pods.ts';
import { startProxy } from '../../testkit/proxy.ts';
import { rawRequest } from '../../testkit/raw.ts';
import { createAdminServer, type AdminDeps } from '../../src/admin/server.ts';
import { GlidepathError } from '../../src/core/errors.ts';
import { sleep } from '../../testkit/wait.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

t.test('livez, readyz, metrics and status reflect the traffic', async (t) => {
  const pod = await startPod({ APP_VERSION: 'v1' });
  t.teardown(() => pod.stop());
  const proxy = await startProxy(
    { versions: [{ name: 'v1', revision: 1 }], endpoints: [{ address: pod.address, version: 'v1' }] },
    { 'shutdown.drainDelay': '300ms' },
  );
  t.teardown(() => proxy.stop());

  t.equal((await fetch(`${proxy.adminUrl}/livez`)).status, 200);
  t.equal((await fetch(`${proxy.adminUrl}/readyz`)).status, 200);
  for (let i = 0; i < 20; i++) await (await fetch(`${proxy.url}/`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${proxy.url}/status/503`)).text();
  await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');

  const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  t.match(metrics, /glidepath_requests_total\{version="v1",class="2xx"\} 20\n/);
  t.match(metrics, /glidepath_requests_total\{version="v1",class="5xx"\} 3\n/);
  t.match(metrics, /glidepath_request_failures_total\{version="v1"\} 3\n/);
  t.match(metrics, /glidepath_upstream_attempts_total\{version="v1",outcome="success"\} 20\n/);
  t.match(metrics, /glidepath_rejected_requests_total\{reason="duplicate_host"\} 1\n/);
  t.match(metrics, /glidepath_request_duration_seconds_count\{version="v1"\} 23\n/);
  t.match(metrics, /glidepath_request_duration_seconds_bucket\{version="v1",le="\+Inf"\} 23\n/);
  t.match(metrics, /glidepath_endpoints\{version="v1",state="ready"\} 1\n/);
  t.match(metrics, /glidepath_version_weight\{version="v1"\} 10000\n/);
  t.match(metrics, /glidepath_process_cpu_seconds_total/, 'process metrics are there');

  const status = (await (await fetch(`${proxy.adminUrl}/status`)).json()) as StatusDocument;
  t.match(status, {
    glidepath: String,
    inFlight: 0,
    discovery: { source: /endpoints file/, lastError: null },
    versions: [
      { name: 'v1', revision: 1, weight: 10000, endpoints: [{ address: pod.address, state: 'ready' }], requests: 23, failures: 3 },
    ],
    rejected: { duplicate_host: 1 },
  });

  const stopping = proxy.stop();
  await sleep(50);
  t.equal((await fetch(`${proxy.adminUrl}/readyz`)).status, 503, 'not ready from the moment shutdown starts');
  t.equal((await fetch(`${proxy.url}/`)).status, 200, 'still serving during the drain delay');
  await stopping;
});

t.test('routes, methods and the bearer token', async (t) => {
  let called = 0;
  const server = createAdminServer({
    isLive: () => true,
    isReady: () => false,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    status: () => ({ ok: true }),
    token: 's3cret',
    actions: { ping: (body) => ({ called: ++called, body }) },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => void server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  t.equal((await fetch(`${url}/readyz`)).status, 503);
  const missing = await fetch(`${url}/nope`);
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-glidepath-error'), 'GP_NOT_FOUND');
  t.equal(missing.headers.get('x-glidepath-admin'), '1', 'every admin answer says it is one');
  t.equal((await fetch(`${url}/status`)).headers.get('x-glidepath-admin'), '1');
  const wrongMethod = await fetch(`${url}/status`, { method: 'POST' });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  t.equal((await fetch(`${url}/actions/ping`)).status, 405, 'mutating verbs are POST only');
  const noToken = await fetch(`${url}/actions/ping`, { method: 'POST' });
  t.equal(noToken.status, 401);
  t.equal(noToken.headers.get('x-glidepath-error'), 'GP_UNAUTHORIZED');
  t.equal(noToken.headers.get('www-authenticate'), 'Bearer realm="glidepath-admin"');
  t.match(await noToken.json(), { error: 'GP_UNAUTHORIZED', message: /a bearer token is required/ });
  const wrong = await fetch(`${url}/actions/ping`, { method: 'POST', headers: { authorization: 'Bearer wrong!' } });
  t.equal(wrong.status, 401);
  t.equal(
    wrong.headers.get('www-authenticate'),
    'Bearer realm="glidepath-admin", error="invalid_token"',
    'RFC 6750 §3: a wrong token is invalid_token',
  );
  t.match(await wrong.json(), { message: /does not match admin\.token/ });
  t.equal(
    (await fetch(`${url}/actions/ping`, { method: 'POST', headers: { authorization: 'Bearer s3cretX' } })).status,
    401,
    'a longer token is wrong too',
  );
  const ok = await fetch(`${url}/actions/ping`, { method: 'POST', headers: { authorization: 'Bearer s3cret' }, body: '{"x":1}' });
  t.equal(ok.status, 200);
  t.same(await ok.json(), { called: 1, body: { x: 1 } });
});

async function adminServer(t: Test, deps: Partial<AdminDeps>): Promise<string> {
  const server = createAdminServer({
    isLive: () => true,
    isReady: () => true,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    status: () => ({}),
    token: '',
    ...deps,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => void server.close());
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const post = (url: string, body?: string, token = 's3cret') =>
  fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body }) });

t.test('no admin.token: verbs are forbidden (403), whatever the credentials', async (t) => {
  let called = 0;
  const url = await adminServer(t, { token: '', actions: { abort: () => ++called } });
  for (const headers of [{}, { authorization: 'Bearer ' }, { authorization: 'Bearer anything' }] as Record<string, string>[]) {
    const r = await fetch(`${url}/actions/abort`, { method: 'POST', headers });
    t.equal(r.status, 403);
    t.equal(r.headers.get('x-glidepath-error'), 'GP_FORBIDDEN');
    t.equal(r.headers.get('www-authenticate'), null, 'no challenge: no credential could succeed');
    t.match(await r.json(), {
      error: 'GP_FORBIDDEN',
      message: /mutating verbs are disabled on this glidepath: set admin\.token \(GLIDEPATH_ADMIN_TOKEN\)/,
    });
  }
  t.equal(called, 0);
  t.equal((await fetch(`${url}/actions/resume`, { method: 'POST' })).status, 403, 'also for a verb nobody registered');
});

t.test('rollout verbs without a controller answer 409; unknown verbs 404', async (t) => {
  const url = await adminServer(t, { token: 's3cret' });
  for (const verb of ['promote', 'abort', 'pause', 'resume']) {
    const r = await post(`${url}/actions/${verb}`, '{"reason":"test"}');
    t.equal(r.status, 409, verb);
    t.equal(r.headers.get('x-glidepath-error'), 'GP_CONFLICT');
    t.match(await r.json(), {
      error: 'GP_CONFLICT',
      message: new RegExp(`no rollout controller: glidepath runs without --deployment .*nothing to ${verb}`),
    });
  }
  t.equal((await post(`${url}/actions/abort`, undefined, 'nope')).status, 401, 'credentials are checked before state');
  t.equal((await fetch(`${url}/actions/abort`)).status, 405, 'a known verb is POST only');
  const unknown = await post(`${url}/actions/rollback`);
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: 'GP_NOT_FOUND', message: 'no admin route /actions/rollback' });
});

t.test('verb bodies: JSON objects with a string reason, at most 64 KiB', async (t) => {
  const seen: unknown[] = [];
  const url = await adminServer(t, { token: 's3cret', actions: { pause: (body) => void seen.push(body) } });
  const ok = await post(`${url}/actions/pause`, JSON.stringify({ reason: 'wait for the DBA — ok ✓' }));
  t.equal(ok.status, 200);
  t.same(await ok.json(), { ok: true }, 'an action that returns nothing answers {"ok": true}');
  t.equal((await post(`${url}/actions/pause`)).status, 200, 'an empty body is {}');
  t.same(seen, [{ reason: 'wait for the DBA — ok ✓' }, {}]);

  const cases: [string, number, RegExp][] = [
    ['{"reason":', 400, /body is not JSON/],
    ['["stop"]', 400, /body must be a JSON object/],
    ['"stop"', 400, /body must be a JSON object/],
    ['{"reason":42}', 400, /reason must be a string/],
    [JSON.stringify({ reason: 'x'.repeat(1025) }), 400, /reason is longer than 1024 characters/],
    [JSON.stringify({ reason: 'x'.repeat(70_000) }), 413, /body over 64 KiB/],
  ];
  for (const [body, status, message] of cases) {
    const r = await post(`${url}/actions/pause`, body);
    t.equal(r.status, status, body.slice(0, 20));
    t.match(await r.json(), { message }, body.slice(0, 20));
  }
  t.equal(seen.length, 2, 'no bad body reached the action');

  // A multi-byte character split across TCP chunks arrives whole.
  const reason = 'é'.repeat(500);
  const bytes = Buffer.from(JSON.stringify({ reason }));
  const split = await fetch(`${url}/actions/pause`, {
    method: 'POST',
    headers: { authorization: 'Bearer s3cret' },
    duplex: 'half',
    body: new ReadableStream({
      async start(c) {
        c.enqueue(bytes.subarray(0, 16));
        await new Promise((r) => setTimeout(r, 20));
        c.enqueue(bytes.subarray(16));
        c.close();
      },
    }),
  } as RequestInit);
  t.equal(split.status, 200);
  t.same(seen.at(-1), { reason });
});

t.test('an action refuses with a GlidepathError status; other throws are 500', async (t) => {
  const url = await adminServer(t, {
    token: 's3cret',
    actions: {
      promote: () => {
        throw new GlidepathError('GP_CONFLICT', 'no rollout in progress: nothing to promote');
      },
      resume: async () => {
        throw new Error('kube API down');
      },
      abort: (body) => ({ aborted: true, reason: body.reason }),
    },
  });
  const refused = await post(`${url}/actions/promote`);
  t.equal(refused.status, 409);
  t.same(await refused.json(), { error: 'GP_CONFLICT', message: 'no rollout in progress: nothing to promote' });
  const broken = await post(`${url}/actions/resume`);
  t.equal(broken.status, 500);
  t.match(await broken.json(), { error: 'internal', message: 'kube API down' });
  const ok = await post(`${url}/actions/abort`, '{"reason":"bad deploy"}');
  t.equal(ok.status, 200);
  t.same(await ok.json(), { aborted: true, reason: 'bad deploy' });
});
