// Timeouts (issue 2, "Timeouts and limits"; scenarios T5/T12 of docs/reliability-notes.md): each one with a small
// value, on real sockets. Downstream: headers (slowloris), whole request (slow body), keep-alive
// idle. Upstream: connect, response headers, body idle. The measurements start together and
// each subtest checks its own, so the file takes about as long as the slowest one.

import t, { type Test } from 'tap';
import net from 'node:net';
import { request } from 'undici';
import { startPod, type Pod } from '../../testkit/pods.ts';
import { startProxy, spawnProxy, type EndpointsDoc } from '../../testkit/proxy.ts';
import { sleep } from '../../testkit/wait.ts';
import { blackhole } from '../../testkit/blackhole.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

/** One request is one attempt: retries off when this build has them. */
const ONE_ATTEMPT: Record<string, unknown> = { 'retry.maxRetries': 0 };
const docFor = (address: string): EndpointsDoc => ({
  versions: [{ name: 'v1', revision: 1, weight: 10_000 }],
  endpoints: [{ address, version: 'v1' }],
});
/** Node checks downstream timeouts once per connectionsCheckingInterval (1 s in glidepath). */
const CHECK_INTERVAL_MS = 1_000;
/** undici arms upstream header and body timeouts on a timer wheel that ticks every ~500 ms. */
const UNDICI_TICK_SLACK_MS = 1_500;

/** A raw client connection that records when bytes and the close arrived. */
interface Conn {
  readonly socket: net.Socket;
  text(): string;
  /** ms from connect to the first response byte / to the close. */
  firstByteMs(): number | undefined;
  closedMs(): number | undefined;
  /** Resolves true once `pred` holds, false after `timeoutMs`. */
  until(pred: () => boolean, timeoutMs: number): Promise<boolean>;
  write(s: string): void;
}

function connect(port: number, host = '127.0.0.1'): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, noDelay: true });
    let start = 0;
    let data = '';
    let firstByte: number | undefined;
    let closed: number | undefined;
    const waiters = new Set<() => void>();
    const wake = (): void => {
      for (const w of [...waiters]) w();
    };
    socket.on('data', (d: Buffer) => {
      firstByte ??= performance.now() - start;
      data += d.toString('latin1');
      wake();
    });
    socket.on('close', () => {
      closed = performance.now() - start;
      wake();
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.once('connect', () => {
      start = performance.now();
      socket.off('error', reject);
      resolve({
        socket,
        text: () => data,
        firstByteMs: () => firstByte,
        closedMs: () => closed,
        write: (s) => {
          if (socket.writable) socket.write(s);
        },
        until: (pred, timeoutMs) =>
          new Promise((done) => {
            if (pred()) return done(true);
            const check = (): void => {
              if (!pred()) return;
              clearTimeout(timer);
              waiters.delete(check);
              done(true);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              done(pred());
            }, timeoutMs);
            waiters.add(check);
          }),
      });
    });
  });
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}
function headerOf(text: string, name: string): string | undefined {
  const head = text.split('\r\n\r\n', 1)[0] ?? '';
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

/** The pod's ledger lines for `path`, polled until `events` is reached (bounded: a pod writes them as they happen). */
async function podEvents(which: Pod, path: string, events: readonly string[], timeoutMs = 2_000): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = which
      .ledger()
      .filter((e) => e.path === path)
      .map((e) => e.ev as string);
    if (seen.length >= events.length || performance.now() > deadline) return seen;
    await sleep(20);
  }
}

interface Outcome {
  readonly text: string;
  readonly firstByteMs: number | undefined;
  readonly closedMs: number | undefined;
}

const pod = await startPod({ POD_NAME: 'timeouts-pod' });
t.teardown(() => pod.stop());
const hangPod = await startPod({ POD_NAME: 'timeouts-hang-pod', HANG: '1' });
t.teardown(() => hangPod.stop());

// Downstream: one proxy with small values. Node wants requestTimeout > headersTimeout.
const downstream = await startProxy(docFor(pod.address), {
  'server.headersTimeout': '1s',
  'server.requestTimeout': '2s',
  'server.keepAliveTimeout': '1s',
});
t.teardown(() => downstream.stop());

/** Slowloris: the request line, then one header line every 250 ms, until the server closes (bounded at 5 s). */
async function slowloris(): Promise<Outcome> {
  const c = await connect(downstream.port);
  c.write('GET /t/slowloris HTTP/1.1\r\nHost: a\r\n');
  let i = 0;
  const drip = setInterval(() => c.write(`X-Drip-${i++}: v\r\n`), 250);
  await c.until(() => c.closedMs() !== undefined, 5_000);
  clearInterval(drip);
  c.socket.destroy();
  return { text: c.text(), firstByteMs: c.firstByteMs(), closedMs: c.closedMs() };
}

/** Connects and sends nothing at all. */
async function silent(): Promise<Outcome> {
  const c = await connect(downstream.port);
  await c.until(() => c.closedMs() !== undefined, 5_000);
  c.socket.destroy();
  return { text: c.text(), firstByteMs: c.firstByteMs(), closedMs: c.closedMs() };
}

/** Complete headers, then a 100-byte body one byte every 100 ms (bounded at 6 s). */
async function slowBody(): Promise<Outcome> {
  const c = await connect(downstream.port);
  c.write('POST /t/slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n');
  const drip = setInterval(() => c.write('b'), 100);
  await c.until(() => c.closedMs() !== undefined, 6_000);
  clearInterval(drip);
  c.socket.destroy();
  return { text: c.text(), firstByteMs: c.firstByteMs(), closedMs: c.closedMs() };
}

interface KeepAlive {
  readonly responses: number;
  readonly hint: string | undefined;
  readonly secondAnswered: boolean;
  /** ms from the end of the second response to the close. */
  readonly idleCloseMs: number | undefined;
}

/** Two requests on one connection 300 ms apart, then idle until glidepath closes it (bounded at 5 s). */
async function keepAlive(): Promise<KeepAlive> {
  const c = await connect(downstream.port);
  const count = (): number => c.text().split('\r\n\r\n').length - 1; // 204 responses: a head and no body
  c.write('GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n');
  await c.until(() => count() >= 1, 3_000);
  const hint = headerOf(c.text(), 'keep-alive');
  await sleep(300);
  c.write('GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n');
  const secondAnswered = await c.until(() => count() >= 2, 3_000);
  const idleFrom = performance.now();
  await c.until(() => c.closedMs() !== undefined, 5_000);
  const closedAt = c.closedMs() === undefined ? undefined : performance.now() - idleFrom;
  c.socket.destroy();
  return { responses: count(), hint, secondAnswered, idleCloseMs: closedAt };
}

// Upstream: a HANG pod (accepts, never answers), and a pod streaming slower than the body idle timeout.
const hanging = await startProxy(docFor(hangPod.address), { 'upstream.responseTimeout': '300ms', ...ONE_ATTEMPT });
t.teardown(() => hanging.stop());
const trickling = await startProxy(docFor(pod.address), { 'upstream.bodyIdleTimeout': '300ms', ...ONE_ATTEMPT });
t.teardown(() => trickling.stop());

async function responseTimeout(): Promise<Outcome> {
  const c = await connect(hanging.port);
  c.write('GET /t/hang HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await c.until(() => c.closedMs() !== undefined, 5_000);
  c.socket.destroy();
  return { text: c.text(), firstByteMs: c.firstByteMs(), closedMs: c.closedMs() };
}

interface BodyIdle {
  readonly status: number;
  readonly headersMs: number;
  readonly bodyError: string | undefined;
  readonly abortedAfterHeadersMs: number;
  readonly received: string;
}

async function bodyIdle(): Promise<BodyIdle> {
  const started = performance.now();
  const res = await request(`${trickling.url}/stream/5/2000`, { signal: AbortSignal.timeout(8_000) });
  const headersAt = performance.now();
  let received = '';
  let bodyError: string | undefined;
  try {
    for await (const chunk of res.body) received += (chunk as Buffer).toString();
  } catch (err) {
    bodyError = (err as { code?: string }).code ?? String(err);
  }
  return {
    status: res.statusCode,
    headersMs: headersAt - started,
    bodyError,
    abortedAfterHeadersMs: performance.now() - headersAt,
    received,
  };
}

const measured = {
  slowloris: slowloris(),
  silent: silent(),
  slowBody: slowBody(),
  keepAlive: keepAlive(),
  responseTimeout: responseTimeout(),
  bodyIdle: bodyIdle(),
};
// A measurement that a failed test never awaits must not become an unhandled rejection.
for (const p of Object.values(measured)) (p as Promise<unknown>).catch(() => undefined);

t.test('downstream headers timeout: a slowloris gets 408 GP_REQUEST_TIMEOUT and is closed within headersTimeout + 1 s', async (t) => {
  const o = await measured.slowloris;
  t.equal(statusOf(o.text), 408, 'status');
  t.equal(headerOf(o.text, 'x-glidepath-error'), 'GP_REQUEST_TIMEOUT', 'code');
  t.ok(o.closedMs !== undefined, 'closed');
  t.ok((o.closedMs ?? 0) >= 1_000, `not before headersTimeout (closed at ${Math.round(o.closedMs ?? -1)} ms)`);
  t.ok(
    (o.closedMs ?? Infinity) <= 1_000 + CHECK_INTERVAL_MS + 500,
    `within headersTimeout + check interval (closed at ${Math.round(o.closedMs ?? -1)} ms)`,
  );
  t.notOk(
    pod.ledger().some((e) => e.path === '/t/slowloris'),
    'nothing reached the pod',
  );
});

t.test('downstream headers timeout: a connection that sends nothing gets 408 and is closed', async (t) => {
  const o = await measured.silent;
  t.equal(statusOf(o.text), 408, 'status');
  t.equal(headerOf(o.text, 'x-glidepath-error'), 'GP_REQUEST_TIMEOUT', 'code');
  t.ok((o.closedMs ?? Infinity) <= 1_000 + CHECK_INTERVAL_MS + 500, `closed at ${Math.round(o.closedMs ?? -1)} ms`);
});

t.test('downstream request timeout: a slow body is cut within requestTimeout + 1 s and the pod never completes it', async (t) => {
  const o = await measured.slowBody;
  t.ok(o.closedMs !== undefined, 'closed');
  t.ok((o.closedMs ?? 0) >= 2_000, `not before requestTimeout (closed at ${Math.round(o.closedMs ?? -1)} ms)`);
  t.ok(
    (o.closedMs ?? Infinity) <= 2_000 + CHECK_INTERVAL_MS + 600,
    `within requestTimeout + check interval (closed at ${Math.round(o.closedMs ?? -1)} ms)`,
  );
  // Small bodies may wait in glidepath's replay buffer and never reach the pod; if one did, it was aborted.
  const seen = await podEvents(pod, '/t/slow-body', ['recv', 'aborted']);
  t.ok(
    seen.length === 0 || (seen.length === 2 && seen[0] === 'recv' && seen[1] === 'aborted'),
    `the pod never completed it (${JSON.stringify(seen)})`,
  );
});

t.test('downstream request timeout: a slow body is answered 408 GP_REQUEST_TIMEOUT', async (t) => {
  const o = await measured.slowBody;
  t.equal(statusOf(o.text), 408, 'status');
  t.equal(headerOf(o.text, 'x-glidepath-error'), 'GP_REQUEST_TIMEOUT', 'code');
});

t.test('downstream keep-alive timeout: an idle client connection is closed after it, not before', async (t) => {
  const k = await measured.keepAlive;
  t.equal(k.hint, 'timeout=1', 'the response advertises the keep-alive timeout');
  t.ok(k.secondAnswered, 'a second request within the timeout reuses the connection');
  t.equal(k.responses, 2, 'two responses on one connection');
  t.ok(k.idleCloseMs !== undefined, 'glidepath closed the idle connection');
  // Node 24 waits its keepAliveTimeoutBuffer (1 s) beyond the advertised timeout, so clients never race the close.
  t.ok(
    (k.idleCloseMs ?? 0) >= 1_000,
    `not before the advertised timeout (closed ${Math.round(k.idleCloseMs ?? -1)} ms after the last response)`,
  );
  t.ok(
    (k.idleCloseMs ?? Infinity) <= 1_000 + 1_000 + 800,
    `within timeout + Node's 1 s buffer (closed ${Math.round(k.idleCloseMs ?? -1)} ms after the last response)`,
  );
});

t.test('upstream response headers timeout: a hung pod gets 504 GP_UPSTREAM_TIMEOUT at about the configured time', async (t) => {
  const o = await measured.responseTimeout;
  t.equal(statusOf(o.text), 504, 'status');
  t.equal(headerOf(o.text, 'x-glidepath-error'), 'GP_UPSTREAM_TIMEOUT', 'code');
  t.ok((o.firstByteMs ?? 0) >= 300, `not before responseTimeout (answered at ${Math.round(o.firstByteMs ?? -1)} ms)`);
  t.ok(
    (o.firstByteMs ?? Infinity) <= 300 + UNDICI_TICK_SLACK_MS,
    `within responseTimeout + undici's timer tick (answered at ${Math.round(o.firstByteMs ?? -1)} ms)`,
  );
  t.comment(`504 after ${Math.round(o.firstByteMs ?? -1)} ms for a 300 ms responseTimeout`);
  t.same(await podEvents(hangPod, '/t/hang', ['recv', 'aborted']), ['recv', 'aborted'], 'glidepath gave up on the pod request');
  const res = await fetch(`${hanging.adminUrl}/status`, { signal: AbortSignal.timeout(3_000) });
  const attempts = ((await res.json()) as StatusDocument).versions[0]?.attempts;
  t.equal(attempts?.timeout, 1, 'counted as a timeout attempt');
});

t.test('upstream body idle timeout: a pod pausing mid-body aborts the client response', async (t) => {
  const b = await measured.bodyIdle;
  t.equal(b.status, 200, 'the pod status went out with the first chunk');
  t.ok(b.headersMs >= 1_800, `headers came with the first chunk at ~2 s (${Math.round(b.headersMs)} ms)`);
  t.ok(b.bodyError, `reading the body rejects (${b.bodyError})`);
  t.equal(b.received, 'chunk 0\n', 'only the first chunk arrived');
  t.ok(
    b.abortedAfterHeadersMs <= 300 + UNDICI_TICK_SLACK_MS,
    `aborted ${Math.round(b.abortedAfterHeadersMs)} ms after the last chunk, long before the next one (2 s)`,
  );
  const res = await fetch(`${trickling.adminUrl}/status`, { signal: AbortSignal.timeout(3_000) });
  const v = ((await res.json()) as StatusDocument).versions[0];
  t.equal(v?.attempts.timeout, 1, 'counted as a timeout attempt');
  t.equal(v?.failures, 1, 'and as a failed request');
});

// ---- upstream connect timeout ----

/** Whether connecting to host:port hangs for at least `ms` (a real blackhole) or what happens instead. */
async function hangsFor(host: string, port: number, ms: number): Promise<true | string> {
  const started = performance.now();
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true);
    }, ms);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(`connected in ${Math.round(performance.now() - started)} ms`);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`${err.code} in ${Math.round(performance.now() - started)} ms`);
    });
  });
}

async function assertConnectTimeout(t: Test, address: string): Promise<void> {
  // A child process: a crash in the connect path (as before bf2a8b1) must fail this test, not kill the runner.
  const proxy = await spawnProxy(docFor(address), { GLIDEPATH_UPSTREAM_CONNECT_TIMEOUT: '200ms', GLIDEPATH_RETRY_MAX_RETRIES: '0' });
  t.teardown(() => proxy.stop());
  const c = await connect(proxy.port);
  c.write('GET /t/connect HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await c.until(() => c.closedMs() !== undefined, 5_000);
  c.socket.destroy();
  t.equal(statusOf(c.text()), 504, 'status');
  t.equal(headerOf(c.text(), 'x-glidepath-error'), 'GP_UPSTREAM_CONNECT_TIMEOUT', 'code');
  t.ok((c.firstByteMs() ?? 0) >= 200, `not before connectTimeout (${Math.round(c.firstByteMs() ?? -1)} ms)`);
  t.ok((c.firstByteMs() ?? Infinity) <= 200 + UNDICI_TICK_SLACK_MS, `about connectTimeout (${Math.round(c.firstByteMs() ?? -1)} ms)`);
  t.equal(proxy.child.exitCode, null, 'glidepath is still running');
}

// Loopback only, so it runs everywhere this suite runs: a listener that never accepts, its accept
// queue filled first; the kernel drops glidepath's SYN and its connect hangs until connectTimeout.
t.test('upstream connect timeout: a pod whose SYNs are dropped gets 504 GP_UPSTREAM_CONNECT_TIMEOUT', async (t) => {
  const hole = await blackhole();
  t.teardown(() => hole.close());
  t.equal(hole.queued, 2, 'the accept queue (backlog 1: two connections) is full');
  t.equal(await hangsFor('127.0.0.1', hole.port, 300), true, 'a further connect hangs (the kernel drops the SYN)');
  await assertConnectTimeout(t, `127.0.0.1:${hole.port}`);
});

// An extra, where the network allows: the classic non-routable address. Skipped where a route
// answers it at once; the loopback test above always runs.
t.test('upstream connect timeout: a non-routable address (10.255.255.1:81)', async (t) => {
  const check = await hangsFor('10.255.255.1', 81, 300);
  if (check !== true)
    return void t.plan(0, `this sandbox answers 10.255.255.1:81 (${check}); the loopback blackhole test covers the timeout`);
  await assertConnectTimeout(t, '10.255.255.1:81');
});
