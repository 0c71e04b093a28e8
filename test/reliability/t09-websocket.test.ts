// Issue 3, test 9 (scenario T16 of docs/reliability-notes.md): WebSocket tunnels. An echo works through glidepath; draining the
// pod under it (endpoint terminating, or its version's weight set to 0) closes the tunnel with
// 1001 "going away" at once, well within the drain window; an upgrade the pod answers with a
// wrong Sec-WebSocket-Accept, or refuses, is never tunnelled: no 101 ever reaches the client.

import t from 'tap';
import { rawRequest } from '../../testkit/raw.ts';
import { connectionsTo, log, oneVersion, pods, proxy, status, versionOf, type Pod, type InProcessProxy } from './harness.ts';
import { waitFor, within } from '../../testkit/wait.ts';

interface Echo {
  ws: WebSocket;
  closed: Promise<{ code: number; at: number }>;
  roundTrip(text: string): Promise<string>;
}

async function openEcho(gp: InProcessProxy, path = '/ws'): Promise<Echo> {
  const ws = new WebSocket(`ws://127.0.0.1:${gp.port}${path}`);
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.addEventListener('close', (e) => resolve({ code: e.code, at: performance.now() })),
  );
  await within(
    new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('WebSocket failed to open')));
    }),
    3_000,
    undefined,
  );
  if (ws.readyState !== WebSocket.OPEN) throw new Error('WebSocket did not open');
  return {
    ws,
    closed,
    roundTrip: (text) =>
      within(
        new Promise<string>((resolve) => {
          ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true });
          ws.send(text);
        }),
        2_000,
        '(no echo)',
      ),
  };
}

t.test('an echo through glidepath; marking its endpoint terminating closes it with 1001 at once', async (t) => {
  const list = await pods(t, 2);
  const gp = await proxy(t, oneVersion(list), { 'upstream.slowStartWindow': '0s' });
  // No plain HTTP before the WebSocket: the pod under the tunnel has only the tunnel.
  const echo = await openEcho(gp);
  t.teardown(() => echo.ws.close());
  t.equal(await echo.roundTrip('hello through glidepath'), 'hello through glidepath', 'text frames echo');
  const under = await waitFor(
    'the tunnel to show on one pod',
    () => list.filter((p) => connectionsTo(p.port) === 1).length === 1,
    2_000,
    10,
  ).then(() => list.find((p) => connectionsTo(p.port) === 1) as Pod);

  const before = performance.now();
  gp.writeEndpoints({
    versions: [{ name: 'v1', revision: 1 }],
    endpoints: list.map((p) => ({ address: p.address, version: 'v1', name: p.name, terminating: p === under })),
  });
  const closed = await within(echo.closed, 3_000, { code: -1, at: performance.now() });
  const ms = Math.round(closed.at - before);
  log('t09 drain by terminating', { code: closed.code, msAfterFileWrite: ms });
  t.equal(closed.code, 1001, 'closed with 1001 going away');
  t.ok(closed.code !== -1 && ms < 1_000, `within ${ms} ms of the endpoints file changing (drain window 30 s)`);
  const again = await openEcho(gp);
  t.teardown(() => again.ws.close());
  t.equal(await again.roundTrip('reconnected'), 'reconnected', 'a reconnect lands on the ready pod and works');
});

t.test("setting a tunnel's version to weight 0 closes it with 1001 at once", async (t) => {
  const [oldPod, newPod] = (await pods(t, 2)) as [Pod, Pod];
  const doc = (newWeight: number) => ({
    versions: [
      { name: 'old', revision: 1, weight: 10_000 - newWeight },
      { name: 'new', revision: 2, weight: newWeight },
    ],
    endpoints: [
      { address: oldPod.address, version: 'old' },
      { address: newPod.address, version: 'new' },
    ],
  });
  const gp = await proxy(t, doc(10_000), { 'upstream.slowStartWindow': '0s' });
  const echo = await openEcho(gp);
  t.teardown(() => echo.ws.close());
  t.equal(await echo.roundTrip('binary? text!'), 'binary? text!', 'echo works');
  t.equal(versionOf(await status(gp), 'new').endpoints.length, 1, 'the tunnel went to the new version');
  const before = performance.now();
  gp.writeEndpoints(doc(0));
  const closed = await within(echo.closed, 3_000, { code: -1, at: performance.now() });
  const ms = Math.round(closed.at - before);
  log('t09 drain by weight 0', { code: closed.code, msAfterFileWrite: ms });
  t.equal(closed.code, 1001, 'closed with 1001 going away');
  t.ok(closed.code !== -1 && ms < 1_000, `within ${ms} ms of the weight change`);
});

const upgrade = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

t.test('a bad upgrade is never tunnelled: no 101 reaches the client', async (t) => {
  const list = await pods(t, 1);
  const gp = await proxy(t, oneVersion(list));

  const bad = await rawRequest(gp.port, upgrade('/ws/bad-accept'), { waitMs: 2_000 });
  log('t09 bad accept', { status: bad.status, code: bad.headers['x-glidepath-error'], closed: bad.closed });
  t.equal(bad.status, 502, 'a 101 with a wrong Sec-WebSocket-Accept becomes a 502');
  t.equal(bad.headers['x-glidepath-error'], 'GP_UPSTREAM_BAD_RESPONSE', 'GP_UPSTREAM_BAD_RESPONSE');
  t.notMatch(
    bad.text,
    /HTTP\/1\.1 101|^sec-websocket-accept:|^upgrade:/im,
    'no 101 status line and no accept or upgrade header in anything the client received',
  );
  t.ok(bad.closed, 'and the connection is closed');

  const refused = await rawRequest(gp.port, upgrade('/ws/refuse'), { waitMs: 2_000 });
  log('t09 refused', { status: refused.status, closed: refused.closed });
  t.equal(refused.status, 426, "the pod's 426 is relayed as plain HTTP");
  t.match(refused.text, /\r\n\r\nrefused$/, 'with its body');
  t.notMatch(refused.text, /HTTP\/1\.1 101/, 'no 101');

  // A browser-grade client sees a failed handshake, never an open socket.
  const ws = new WebSocket(`ws://127.0.0.1:${gp.port}/ws/bad-accept`);
  const outcome = await within(
    new Promise<string>((resolve) => {
      ws.addEventListener('open', () => resolve('open'));
      ws.addEventListener('error', () => resolve('error'));
    }),
    3_000,
    'timeout',
  );
  ws.close();
  t.equal(outcome, 'error', 'the WebSocket client never opens');
  const v1 = versionOf(await status(gp), 'v1');
  t.equal(v1.attempts.protocol_error, 2, '/status counts both bad accepts as protocol errors');
});
