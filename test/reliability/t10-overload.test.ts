// Issue 3, test 10 (scenario T11 of docs/reliability-notes.md): overload. Past server.maxInFlight (or an endpoint's connection
// plus pending limit) glidepath answers 503 with Retry-After at once instead of queueing, and a
// burst far beyond the limit leaves its memory bounded and its service intact.

import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { runLoad } from '../../testkit/ledger.ts';
import { spawnProxy } from '../../testkit/proxy.ts';
import { log, oneVersion, percentile, pod, pods, proxy, status } from './harness.ts';
import { sleep, waitFor, within } from '../../testkit/wait.ts';

interface Head {
  status: number;
  headers: Record<string, string>;
  ms: number;
}

/** Connects first; `send` then measures from the write to the end of the response head. */
async function openSocket(port: number): Promise<{ send(text: string): Promise<Head>; close(): void }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    send(text) {
      return within(
        new Promise<Head>((resolve) => {
          let buf = '';
          const start = performance.now();
          const onData = (d: Buffer): void => {
            buf += d.toString('latin1');
            const end = buf.indexOf('\r\n\r\n');
            if (end < 0) return;
            const ms = performance.now() - start;
            socket.off('data', onData);
            const [line = '', ...rest] = buf.slice(0, end).split('\r\n');
            const headers: Record<string, string> = {};
            for (const h of rest) headers[h.slice(0, h.indexOf(':')).toLowerCase()] = h.slice(h.indexOf(':') + 1).trim();
            resolve({ status: Number(line.split(' ')[1]), headers, ms });
          };
          socket.on('data', onData);
          socket.write(text);
        }),
        5_000,
        { status: 0, headers: {}, ms: 5_000 },
      );
    },
    close: () => socket.destroy(),
  };
}

const get = (path: string, id: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\nx-test-id: ${id}\r\n\r\n`;
const post = (path: string, id: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: a\r\nx-test-id: ${id}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1024\r\n\r\n${'p'.repeat(1024)}`;

t.test('past server.maxInFlight the excess gets 503 GP_OVERLOADED with Retry-After at once', async (t) => {
  const list = await pods(t, 2);
  const gp = await proxy(t, oneVersion(list), { 'server.maxInFlight': 20, 'upstream.slowStartWindow': '0s' });
  const sockets = await Promise.all(Array.from({ length: 40 }, () => openSocket(gp.port)));
  t.teardown(() => sockets.forEach((s) => s.close()));

  // 20 slow requests fill the limit (half GET, half POST with a body)...
  const slow = sockets.slice(0, 20).map((s, i) => s.send(i % 2 === 0 ? get('/slow/1000', `slow-${i}`) : post('/slow/1000', `slow-${i}`)));
  await waitFor(
    '20 slow requests to reach the pods',
    () => list.reduce((n, p) => n + p.ledger().filter((e) => e.ev === 'recv').length, 0) === 20,
    3_000,
    10,
  );
  // ...and 20 more, GET and POST, go over it.
  const excess = await Promise.all(sockets.slice(20).map((s, i) => s.send(i % 2 === 0 ? get('/', `over-${i}`) : post('/', `over-${i}`))));
  const served = await Promise.all(slow);
  const ms = excess.map((h) => h.ms).sort((a, b) => a - b);
  const doc = await status(gp);
  log('t10 maxInFlight', {
    excess: excess.map((h) => h.status),
    p50ms: +percentile(ms, 50).toFixed(1),
    maxMs: +Math.max(...ms).toFixed(1),
    served: served.map((h) => h.status),
    rejectedOverloaded: doc.rejected.overloaded,
  });

  t.same(
    excess.map((h) => h.status),
    Array(20).fill(503),
    'every request over the limit: 503',
  );
  t.ok(
    excess.every((h) => h.headers['x-glidepath-error'] === 'GP_OVERLOADED'),
    'x-glidepath-error: GP_OVERLOADED',
  );
  t.ok(
    excess.every((h) => /^\d+$/.test(h.headers['retry-after'] ?? '')),
    'with Retry-After',
  );
  t.ok(percentile(ms, 50) < 50, `answered at once: median ${percentile(ms, 50).toFixed(1)} ms (target 50 ms)`);
  t.ok(Math.max(...ms) < 250, `slowest ${Math.max(...ms).toFixed(1)} ms (headroom for a loaded machine)`);
  t.equal(
    list.reduce((n, p) => n + p.ledger().filter((e) => e.ev === 'recv' && e.id.startsWith('over-')).length, 0),
    0,
    'none of them reached a pod',
  );
  t.same(
    served.map((h) => h.status),
    Array(20).fill(200),
    'the 20 within the limit were served',
  );
  t.equal(doc.rejected.overloaded, 20, '/status counts 20 overload rejections');
});

t.test('past an endpoint connection + pending limit the excess gets 503 with Retry-After at once', async (t) => {
  const only = await pod(t);
  const gp = await proxy(t, oneVersion([only]), { 'upstream.maxConnectionsPerEndpoint': 2, 'upstream.maxPendingPerEndpoint': 2 });
  const sockets = await Promise.all(Array.from({ length: 6 }, () => openSocket(gp.port)));
  t.teardown(() => sockets.forEach((s) => s.close()));
  const admitted = sockets.slice(0, 4).map((s, i) => s.send(get('/slow/800', `pend-${i}`)));
  await waitFor('2 requests running at the pod', () => only.ledger().filter((e) => e.ev === 'recv').length === 2, 3_000, 10);
  await sleep(50);
  const over = await Promise.all(sockets.slice(4).map((s, i) => s.send(i === 0 ? get('/', `pover-${i}`) : post('/', `pover-${i}`))));
  const done = await Promise.all(admitted);
  log('t10 pending limit', {
    over: over.map((h) => [h.status, h.headers['x-glidepath-error'], +h.ms.toFixed(1)]),
    admitted: done.map((h) => h.status),
  });
  t.same(
    over.map((h) => h.status),
    [503, 503],
    '2 running + 2 pending fill it: the next 2 get 503',
  );
  t.ok(
    over.every((h) => h.headers['x-glidepath-error'] === 'GP_OVERLOADED' && h.headers['retry-after'] !== undefined),
    'GP_OVERLOADED with Retry-After',
  );
  t.ok(
    over.every((h) => h.ms < 250),
    'at once',
  );
  t.same(
    done.map((h) => h.status),
    [200, 200, 200, 200],
    'the 4 admitted (2 queued) were served',
  );
});

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

t.test('a burst 10x past the limit leaves memory bounded and service intact (real process)', async (t) => {
  const list = await pods(t, 2);
  const gp = await spawnProxy(oneVersion(list), { GLIDEPATH_SERVER_MAX_IN_FLIGHT: '20', GLIDEPATH_LOG_LEVEL: 'info', NODE_OPTIONS: '' });
  t.teardown(() => gp.stop());
  const pid = gp.child.pid as number;
  // Warm up (JIT, pools), then the baseline.
  await runLoad({ url: gp.url, connections: 8, durationMs: 400, postRatio: 0.3, bodyBytes: 1024 });
  await sleep(200);
  const before = rssKiB(pid);
  // 200 connections hammering slow requests: ten times the limit in flight at any moment.
  const burst = await runLoad({
    url: gp.url,
    path: '/slow/200',
    connections: 200,
    durationMs: 1_500,
    postRatio: 0.3,
    bodyBytes: 1024,
    requestTimeoutMs: 5_000,
  });
  const peak = rssKiB(pid);
  await sleep(300);
  const after = rssKiB(pid);
  const overloaded = [...burst.records.values()].filter((r) => r.status === 503 && r.code === 'GP_OVERLOADED').length;
  const recovery = await runLoad({ url: gp.url, connections: 4, total: 200, postRatio: 0.3, bodyBytes: 1024 });
  log('t10 memory', { rssKiB: { before, peak, after }, burst: burst.summary(), overloaded, recovery: recovery.summary() });
  t.ok(burst.sent > 500, `the burst was heavy (${burst.sent} requests)`);
  t.ok(overloaded > burst.sent / 2, `most of it was refused as overload (${overloaded})`);
  t.equal(burst.count('lost') + burst.count('error'), 0, 'every request got an answer (served or 503), none hung or was reset');
  t.ok(
    peak - before < 64 * 1024,
    `RSS grew by ${Math.round((peak - before) / 1024)} MiB during the burst (< 64 MiB; baseline ${Math.round(before / 1024)} MiB)`,
  );
  t.ok(after < before * 1.5 + 16 * 1024, `and is ${Math.round(after / 1024)} MiB after it`);
  t.equal(recovery.count('ok'), 200, 'service is intact right after the burst');
});
