// Upstream faults (issue 2, "Upstream faults"; scenario T9 of docs/reliability-notes.md): a pod that dies mid-body
// must give the client an aborted response, never a clean-looking truncated one; an unparseable
// response or a reset maps to 502, no usable endpoint to 503, each with its x-glidepath-error
// code; a pod's own 5xx passes through untouched. /status counts every attempt by outcome.

import t from 'tap';
import net from 'node:net';
import { request } from 'undici';
import { startPod } from '../../testkit/pods.ts';
import { startProxy, spawnProxy, type EndpointsDoc } from '../../testkit/proxy.ts';
import { rawRequest } from '../../testkit/raw.ts';
import { unusedPort } from '../../testkit/wait.ts';
import type { StatusCounters, StatusDocument } from '../../src/admin/status.ts';

/** One request is one attempt: retries off when this build has them, so attempt counts are exact. */
const ONE_ATTEMPT: Record<string, unknown> = { 'retry.maxRetries': 0 };
const ONE_ATTEMPT_ENV = { GLIDEPATH_RETRY_MAX_RETRIES: '0' };

const docFor = (address: string, extra: Partial<EndpointsDoc['endpoints'][number]> = {}): EndpointsDoc => ({
  versions: [{ name: 'v1', revision: 1, weight: 10_000 }],
  endpoints: [{ address, version: 'v1', ...extra }],
});

type Counters = StatusCounters;

async function status(adminUrl: string): Promise<StatusDocument> {
  const res = await fetch(`${adminUrl}/status`, { signal: AbortSignal.timeout(3_000) });
  return (await res.json()) as StatusDocument;
}
const NO_ATTEMPTS = { success: 0, http_5xx: 0, connect_error: 0, reset: 0, timeout: 0, protocol_error: 0 };
async function attemptsOf(adminUrl: string): Promise<Record<string, number>> {
  return (await status(adminUrl)).versions[0]?.attempts ?? {};
}

/** A raw upstream that answers each request head with `answer`; counts its connections. */
async function rawUpstream(
  answer: (socket: net.Socket) => void,
): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      answer(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const pod = await startPod({ POD_NAME: 'faults-pod' });
t.teardown(() => pod.stop());

t.test('a pod dying mid-body', async (t) => {
  const proxy = await startProxy(docFor(pod.address), ONE_ATTEMPT);
  t.teardown(() => proxy.stop());

  for (const [label, path] of [
    ['content-length', '/truncate'],
    ['chunked', '/truncate?chunked=1'],
  ] as const) {
    t.test(`${label}: an HTTP client sees the body fail within 1 s, never a clean end`, async (t) => {
      const started = performance.now();
      const res = await request(`${proxy.url}${path}`, { signal: AbortSignal.timeout(5_000) });
      t.equal(res.statusCode, 200, 'the pod status went out first');
      if (label === 'content-length') t.equal(res.headers['content-length'], '1000', "the pod's promised length is kept");
      const err = await res.body.text().then(
        () => null,
        (e: unknown) => e as { code?: string },
      );
      t.ok(err, 'reading the body rejects');
      t.match(err?.code, /^UND_ERR_(SOCKET|RES_CONTENT_LENGTH_MISMATCH)$/, `aborted (${err?.code})`);
      t.ok(performance.now() - started < 1_000, 'within 1 s');
    });

    t.test(`${label}: on the wire, the connection closes before the body is complete`, async (t) => {
      const r = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`, { waitMs: 3_000 });
      const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
      t.equal(r.status, 200);
      t.ok(r.closed, 'connection closed (never reused)');
      if (label === 'content-length') t.equal(body, 'hello', 'only the 5 bytes the pod sent, of 1000 promised');
      else {
        t.equal(body, '5\r\nhello\r\n', 'the chunks the pod sent, and no more');
        t.notMatch(body, /(^|\r\n)0\r\n\r\n$/, 'no terminating chunk');
      }
    });
  }

  t.test('glidepath keeps serving, and /status charges each truncation as a reset and a failure', async (t) => {
    const ok = await request(`${proxy.url}/after`, { signal: AbortSignal.timeout(5_000) });
    t.equal(ok.statusCode, 200, 'the next request succeeds');
    await ok.body.text();
    const v = (await status(proxy.adminUrl)).versions[0] as Counters;
    t.same(v.attempts, { ...NO_ATTEMPTS, reset: 4, success: 1 }, 'four truncations charged as reset, one success');
    t.equal(v.failures, 4, 'four failed requests');
    t.equal(v.requests, 5, 'five requests');
  });
});

t.test('a pod that is not listening: 502 GP_UPSTREAM_CONNECT, and glidepath survives', async (t) => {
  // A child process: a crash here (as before bf2a8b1) must fail this test, not kill the runner.
  const proxy = await spawnProxy(docFor(`127.0.0.1:${await unusedPort()}`), ONE_ATTEMPT_ENV);
  t.teardown(() => proxy.stop());
  const r = await rawRequest(proxy.port, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi', { waitMs: 3_000 });
  t.equal(r.status, 502);
  t.equal(r.headers['x-glidepath-error'], 'GP_UPSTREAM_CONNECT');
  const again = await rawRequest(proxy.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { waitMs: 3_000 });
  t.equal(again.status, 502, 'still answering');
  t.equal(proxy.child.exitCode, null, 'glidepath is still running');
  t.same(await attemptsOf(proxy.adminUrl), { ...NO_ATTEMPTS, connect_error: 2 }, 'charged as connect_error');
});

const malformed: { name: string; response: string }[] = [
  { name: 'two different Content-Length values', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello' },
  {
    name: 'Content-Length and Transfer-Encoding',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  },
  { name: 'a 20 KB header', response: `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 5\r\n\r\nhello` },
  { name: 'bare LF line endings', response: 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello' },
  { name: 'an obs-folded header', response: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'a status line that is not HTTP', response: 'HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello' },
];

t.test('a malformed pod response', async (t) => {
  for (const m of malformed) {
    const upstream = await rawUpstream((socket) => socket.write(m.response));
    const proxy = await startProxy(docFor(`127.0.0.1:${upstream.port}`), ONE_ATTEMPT);
    t.teardown(async () => {
      await proxy.stop();
      await upstream.close();
    });
    const send = () => rawRequest(proxy.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { waitMs: 3_000 });
    const first = await send();
    const second = await send();

    t.test(`${m.name}: 502, none of it passed on, the connection not reused`, async (t) => {
      for (const r of [first, second]) {
        t.equal(r.status, 502, 'status');
        t.match(r.headers['x-glidepath-error'], /^GP_UPSTREAM_/, 'a proxy-made answer');
        t.notMatch(r.text, /hello|X-Big/, 'nothing of the malformed response reaches the client');
      }
      t.equal(upstream.connections(), 2, 'a fresh upstream connection for the second request');
    });

    t.test(`${m.name}: reported as GP_UPSTREAM_BAD_RESPONSE and counted as protocol_error`, async (t) => {
      t.equal(first.headers['x-glidepath-error'], 'GP_UPSTREAM_BAD_RESPONSE');
      t.equal(second.headers['x-glidepath-error'], 'GP_UPSTREAM_BAD_RESPONSE');
      t.same(await attemptsOf(proxy.adminUrl), { ...NO_ATTEMPTS, protocol_error: 2 });
    });
  }
});

t.test('a pod that closes before any response byte: 502 GP_UPSTREAM_RESET', async (t) => {
  for (const [label, answer] of [
    ['reset (RST)', (s: net.Socket) => s.resetAndDestroy()],
    ['close (FIN)', (s: net.Socket) => s.end()],
  ] as const) {
    const upstream = await rawUpstream(answer);
    const proxy = await startProxy(docFor(`127.0.0.1:${upstream.port}`), ONE_ATTEMPT);
    t.teardown(async () => {
      await proxy.stop();
      await upstream.close();
    });
    // POST: never replayable, whatever the retry policy.
    const r = await rawRequest(proxy.port, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi', {
      waitMs: 3_000,
    });
    t.equal(r.status, 502, `${label}: status`);
    t.equal(r.headers['x-glidepath-error'], 'GP_UPSTREAM_RESET', `${label}: code`);
    t.same(await attemptsOf(proxy.adminUrl), { ...NO_ATTEMPTS, reset: 1 }, `${label}: counted as reset`);
  }
});

t.test('no usable endpoint: 503 GP_NO_ENDPOINT, and the pod gets nothing', async (t) => {
  const docs: [string, EndpointsDoc][] = [
    ['all not ready', docFor(pod.address, { ready: false })],
    // Terminating pods that still serve stand in when nothing is ready (KEP-1669); these do not.
    ['all terminating and not serving', docFor(pod.address, { terminating: true, serving: false })],
    ['no endpoints at all', { versions: [{ name: 'v1', revision: 1, weight: 10_000 }], endpoints: [] }],
  ];
  for (const [label, doc] of docs) {
    const proxy = await startProxy(doc, ONE_ATTEMPT);
    t.teardown(() => proxy.stop());
    const before = pod.ledger().length;
    const r = await rawRequest(proxy.port, `GET /no-endpoint HTTP/1.1\r\nHost: a\r\nX-Test-Id: ne-${label}\r\nConnection: close\r\n\r\n`, {
      waitMs: 3_000,
    });
    t.equal(r.status, 503, `${label}: status`);
    t.equal(r.headers['x-glidepath-error'], 'GP_NO_ENDPOINT', `${label}: code`);
    t.match(r.headers['x-request-id'], /\S/, `${label}: carries a request id`);
    t.equal(pod.ledger().length, before, `${label}: the pod got nothing`);
    const s = await status(proxy.adminUrl);
    t.equal(s.unrouted.statusClasses['5xx'], 1, `${label}: counted as an unrouted 5xx`);
    t.equal(s.unrouted.failures, 1, `${label}: and as a failure`);
  }
});

t.test("a pod's own 5xx passes through unchanged", async (t) => {
  const proxy = await startProxy(docFor(pod.address), ONE_ATTEMPT);
  t.teardown(() => proxy.stop());
  for (const [method, code] of [
    ['GET', 500],
    ['POST', 503],
    ['POST', 502],
    ['GET', 599],
  ] as const) {
    const res = await request(`${proxy.url}/status/${code}`, {
      method,
      body: method === 'POST' ? 'x' : null,
      signal: AbortSignal.timeout(5_000),
    });
    const body = await res.body.text();
    t.equal(res.statusCode, code, `${method} /status/${code}: status unchanged`);
    t.equal(res.headers['x-glidepath-error'], undefined, `${method} /status/${code}: no x-glidepath-error`);
    t.equal(res.headers['x-pod-name'], 'faults-pod', `${method} /status/${code}: the pod's own response`);
    t.equal(body, '', `${method} /status/${code}: the pod's (empty) body`);
  }
  const v = (await status(proxy.adminUrl)).versions[0] as Counters;
  t.same(v.attempts, { ...NO_ATTEMPTS, http_5xx: 4 }, 'attempts counted as http_5xx');
  t.equal(v.statusClasses['5xx'], 4, 'requests counted as 5xx');
  t.equal(v.failures, 4, 'and as failures');
});
