// The admin listener: health, readiness through shutdown, Prometheus text that matches the
// traffic sent, /status, and mutating verbs refused without the token.

import t from 'tap';
import { startPod } from '../helpers/pods.ts';
import { startProxy } from '../helpers/proxy.ts';
import { rawRequest } from '../helpers/raw.ts';
import { createAdminServer } from '../../src/admin/server.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

t.test('livez, readyz, metrics and status reflect the traffic', async (t) => {
  const pod = await startPod({ APP_VERSION: 'v1' });
  t.teardown(() => pod.stop());
  const proxy = await startProxy({ versions: [{ name: 'v1', revision: 1 }], endpoints: [{ address: pod.address, version: 'v1' }] }, { 'shutdown.drainDelay': '300ms' });
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
    versions: [{ name: 'v1', revision: 1, weight: 10000, endpoints: [{ address: pod.address, state: 'ready' }], requests: 23, failures: 3 }],
    rejected: { duplicate_host: 1 },
  });

  const stopping = proxy.stop();
  await new Promise((r) => setTimeout(r, 50));
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
  const wrongMethod = await fetch(`${url}/status`, { method: 'POST' });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  t.equal((await fetch(`${url}/actions/ping`)).status, 405, 'mutating verbs are POST only');
  const noToken = await fetch(`${url}/actions/ping`, { method: 'POST' });
  t.equal(noToken.status, 401);
  t.equal(noToken.headers.get('x-glidepath-error'), 'GP_UNAUTHORIZED');
  t.equal((await fetch(`${url}/actions/ping`, { method: 'POST', headers: { authorization: 'Bearer wrong!' } })).status, 401);
  const ok = await fetch(`${url}/actions/ping`, { method: 'POST', headers: { authorization: 'Bearer s3cret' }, body: '{"x":1}' });
  t.equal(ok.status, 200);
  t.same(await ok.json(), { called: 1, body: { x: 1 } });
});
