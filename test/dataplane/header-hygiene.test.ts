// Header hygiene (issue 2, "The request path"; scenarios T15/T17 of docs/reliability-notes.md): what the pod
// receives and what the client gets back. Hop-by-hop headers and every header named in
// Connection are stripped on both legs, forwarding headers are rewritten unless the peer is
// trusted, Via and X-Request-Id are set, raw case and order survive, and nothing of the admin
// API is reachable through the proxy port.

import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { startPod } from '../../testkit/pods.ts';
import { startProxy, type EndpointsDoc, type InProcessProxy } from '../../testkit/proxy.ts';
import { rawRequest, type RawResponse } from '../../testkit/raw.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const docFor = (address: string): EndpointsDoc => ({
  versions: [{ name: 'v1', revision: 1, weight: 10_000 }],
  endpoints: [{ address, version: 'v1' }],
});

const pod = await startPod({ POD_NAME: 'hygiene-pod' });
t.teardown(() => pod.stop());
const proxy = await startProxy(docFor(pod.address));
t.teardown(() => proxy.stop());

/** [name, value] pairs, as sent or as received. */
type Pairs = [string, string][];

interface PodView {
  readonly response: RawResponse;
  /** Response header lines in order, raw case. */
  readonly responseHeaders: Pairs;
  /** What the pod received: rawHeaders pairs and the target. */
  readonly headers: Pairs;
  readonly url: string;
}

function pairsOf(raw: readonly string[]): Pairs {
  const out: Pairs = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

function responseHeaderPairs(r: RawResponse): Pairs {
  const head = r.text.split('\r\n\r\n', 1)[0] ?? '';
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const i = line.indexOf(':');
      return [line.slice(0, i), line.slice(i + 1).trim()] as [string, string];
    });
}

const named = (pairs: Pairs, name: string): string[] => pairs.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

/** Sends GET /headers with these header lines (plus Connection: close unless one is given) and reads what the pod saw. */
async function podSees(port: number, headers: Pairs, options: { method?: string; body?: string } = {}): Promise<PodView> {
  const lines = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
  const close = headers.some(([n]) => n.toLowerCase() === 'connection') ? '' : 'Connection: close\r\n';
  const response = await rawRequest(port, `${options.method ?? 'GET'} /headers HTTP/1.1\r\n${lines}${close}\r\n${options.body ?? ''}`, {
    waitMs: 3_000,
  });
  const body = response.text.slice(response.text.indexOf('\r\n\r\n') + 4);
  if (response.status !== 200) throw new Error(`expected 200 from the pod, got: ${response.text.slice(0, 300)}`);
  const seen = JSON.parse(body) as { rawHeaders: string[]; url: string };
  return { response, responseHeaders: responseHeaderPairs(response), headers: pairsOf(seen.rawHeaders), url: seen.url };
}

t.test('request side', async (t) => {
  t.test('strips hop-by-hop request headers before forwarding', async (t) => {
    const v = await podSees(proxy.port, [
      ['Host', 'app.example'],
      ['Connection', 'Upgrade, X-Upgrade-Params, close'],
      ['Keep-Alive', 'timeout=5, max=100'],
      ['Proxy-Connection', 'keep-alive'],
      ['TE', 'trailers'],
      // Not websocket (tunnelled) and not h2c (refused): served as plain HTTP with the header stripped.
      ['Upgrade', 'TLS/1.2'],
      ['X-Upgrade-Params', 'p'],
      ['Trailer', 'X-Checksum'],
      ['X-Kept', 'yes'],
    ]);
    for (const name of ['keep-alive', 'proxy-connection', 'te', 'upgrade', 'trailer', 'x-upgrade-params', 'transfer-encoding']) {
      t.same(named(v.headers, name), [], `${name} not forwarded`);
    }
    // undici writes its own `connection: keep-alive` for the pooled upstream connection; the client's value never passes.
    t.same(named(v.headers, 'connection'), ['keep-alive'], "only the upstream connection's own Connection header");
    t.same(named(v.headers, 'x-kept'), ['yes'], 'end-to-end headers pass');
  });

  t.test('re-frames a chunked body itself instead of forwarding the client Transfer-Encoding', async (t) => {
    const v = await podSees(
      proxy.port,
      [
        ['Host', 'app.example'],
        ['Transfer-Encoding', 'CHUNKED'],
      ],
      { method: 'POST', body: '3\r\nabc\r\n0\r\n\r\n' },
    );
    const te = named(v.headers, 'transfer-encoding');
    const cl = named(v.headers, 'content-length');
    t.notOk(te.includes('CHUNKED'), 'the client Transfer-Encoding value never passes');
    // undici frames a body that has already fully arrived with Content-Length, else chunked.
    t.ok(
      (te.length === 1 && te[0] === 'chunked' && cl.length === 0) || (te.length === 0 && cl.length === 1 && cl[0] === '3'),
      `exactly one framing header, glidepath's own (got TE ${JSON.stringify(te)}, CL ${JSON.stringify(cl)})`,
    );
  });

  t.test('strips every header named in Connection, whatever its case', async (t) => {
    const v = await podSees(proxy.port, [
      ['Host', 'app.example'],
      ['Connection', 'X-Secret, x-OTHER ,close'],
      ['x-secret', 's'],
      ['X-Other', 'o'],
      ['X-Other-Not-Named', 'kept'],
    ]);
    t.same(named(v.headers, 'x-secret'), [], 'x-secret stripped');
    t.same(named(v.headers, 'x-other'), [], 'X-Other stripped');
    t.same(named(v.headers, 'x-other-not-named'), ['kept'], 'a header merely sharing a prefix is kept');
  });

  t.test('replaces forwarding headers from an untrusted peer', async (t) => {
    const v = await podSees(proxy.port, [
      ['Host', 'app.example:8080'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['x-forwarded-for', '7.7.7.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'evil.example'],
      ['Forwarded', 'for=6.6.6.6;proto=https'],
      ['X-Real-IP', '6.6.6.6'],
    ]);
    t.same(named(v.headers, 'x-forwarded-for'), ['127.0.0.1'], 'X-Forwarded-For is the peer address only');
    t.same(named(v.headers, 'x-forwarded-proto'), ['http'], 'X-Forwarded-Proto is what glidepath saw');
    t.same(named(v.headers, 'x-forwarded-host'), ['app.example:8080'], 'X-Forwarded-Host is the Host glidepath saw');
    t.same(named(v.headers, 'forwarded'), [], 'Forwarded dropped');
    t.same(named(v.headers, 'x-real-ip'), [], 'X-Real-IP dropped');
  });

  t.test('a spoofed X-Forwarded-For named in Connection from an untrusted peer is replaced', async (t) => {
    const v = await podSees(proxy.port, [
      ['Host', 'a'],
      ['Connection', 'keep-alive, X-Forwarded-For, close'],
      ['X-Forwarded-For', '6.6.6.6'],
    ]);
    t.same(named(v.headers, 'x-forwarded-for'), ['127.0.0.1']);
  });

  t.test('appends to forwarding headers from a trusted peer', async (t) => {
    for (const trusted of [['127.0.0.1'], ['127.0.0.0/8']]) {
      const p = await startProxy(docFor(pod.address), { 'server.trustedProxies': trusted });
      t.teardown(() => p.stop());
      const v = await podSees(p.port, [
        ['Host', 'edge.example'],
        ['X-Forwarded-For', '6.6.6.6'],
        ['X-Forwarded-For', '7.7.7.7'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'orig.example'],
        ['Forwarded', 'for=6.6.6.6;proto=https'],
        ['X-Real-IP', '6.6.6.6'],
      ]);
      const label = `trustedProxies ${trusted.join(',')}`;
      t.same(named(v.headers, 'x-forwarded-for'), ['6.6.6.6, 7.7.7.7, 127.0.0.1'], `${label}: client chain kept, peer appended`);
      t.same(named(v.headers, 'x-forwarded-proto'), ['https'], `${label}: X-Forwarded-Proto kept`);
      t.same(named(v.headers, 'x-forwarded-host'), ['orig.example'], `${label}: X-Forwarded-Host kept`);
      t.same(named(v.headers, 'forwarded'), ['for=6.6.6.6;proto=https'], `${label}: Forwarded kept`);
      t.same(named(v.headers, 'x-real-ip'), ['6.6.6.6'], `${label}: X-Real-IP kept`);
    }
  });

  t.test('does not trust a peer outside the configured set', async (t) => {
    const p = await startProxy(docFor(pod.address), { 'server.trustedProxies': ['10.0.0.0/8', '::1'] });
    t.teardown(() => p.stop());
    const v = await podSees(p.port, [
      ['Host', 'a'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['X-Forwarded-Proto', 'https'],
    ]);
    t.same(named(v.headers, 'x-forwarded-for'), ['127.0.0.1']);
    t.same(named(v.headers, 'x-forwarded-proto'), ['http']);
  });

  t.test("strips a trusted peer's X-Forwarded-For named in Connection before appending", async (t) => {
    const p = await startProxy(docFor(pod.address), { 'server.trustedProxies': ['127.0.0.1'] });
    t.teardown(() => p.stop());
    const v = await podSees(p.port, [
      ['Host', 'a'],
      ['Connection', 'X-Forwarded-For, close'],
      ['X-Forwarded-For', '6.6.6.6'],
    ]);
    t.same(named(v.headers, 'x-forwarded-for'), ['127.0.0.1'], 'hop-by-hop XFF dropped, then glidepath adds its own');
  });

  t.test('appends Via', async (t) => {
    const plain = await podSees(proxy.port, [['Host', 'a']]);
    t.same(named(plain.headers, 'via'), ['1.1 glidepath'], 'added when absent');
    const chained = await podSees(proxy.port, [
      ['Host', 'a'],
      ['Via', '1.0 edge-lb'],
      ['via', '1.1 cdn'],
    ]);
    t.same(named(chained.headers, 'via'), ['1.0 edge-lb, 1.1 cdn, 1.1 glidepath'], 'appended to the client chain, as one field');
  });

  t.test('propagates a sane X-Request-Id and returns it on the response', async (t) => {
    const v = await podSees(proxy.port, [
      ['Host', 'a'],
      ['X-Request-Id', 'req-42.abc_DEF'],
    ]);
    t.same(named(v.headers, 'x-request-id'), ['req-42.abc_DEF'], 'pod got it');
    t.same(named(v.responseHeaders, 'x-request-id'), ['req-42.abc_DEF'], 'client got it back');
  });

  t.test('creates an X-Request-Id when there is none, the same one at the pod and on the response', async (t) => {
    const a = await podSees(proxy.port, [['Host', 'a']]);
    const b = await podSees(proxy.port, [['Host', 'a']]);
    const [id] = named(a.headers, 'x-request-id');
    t.match(id, UUID_RE, 'a UUID');
    t.same(named(a.responseHeaders, 'x-request-id'), [id], 'returned to the client');
    t.not(named(b.headers, 'x-request-id')[0], id, 'a new one per request');
  });

  t.test('replaces an X-Request-Id that is not sane', async (t) => {
    for (const bad of ['has space', 'x'.repeat(201), 'caf\u00e9']) {
      const v = await podSees(proxy.port, [
        ['Host', 'a'],
        ['X-Request-Id', bad],
      ]);
      const ids = named(v.headers, 'x-request-id');
      t.equal(ids.length, 1, `${JSON.stringify(bad.slice(0, 12))}: exactly one id forwarded`);
      t.match(ids[0], UUID_RE, `${JSON.stringify(bad.slice(0, 12))}: replaced by a new one`);
    }
    const twice = await podSees(proxy.port, [
      ['Host', 'a'],
      ['X-Request-Id', 'first-id'],
      ['X-Request-Id', 'second-id'],
    ]);
    t.same(named(twice.headers, 'x-request-id'), ['first-id'], 'of two, only the first is forwarded');
  });

  t.test('keeps the raw case and order of end-to-end request headers', async (t) => {
    const sent: Pairs = [
      ['X-Zeta', 'z'],
      ['X-Mixed-CASE', 'One'],
      ['Accept', '*/*'],
      ['x-mixed-case', 'Two'],
      ['x-alpha', 'a'],
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
    ];
    const v = await podSees(proxy.port, [['Host', 'a'], ...sent]);
    const names = new Set(sent.map(([n]) => n.toLowerCase()));
    t.same(
      v.headers.filter(([n]) => names.has(n.toLowerCase())),
      sent,
      'same names, same case, same order, duplicates kept apart',
    );
  });
});

// ---- response side: a tiny raw upstream that says exactly what the test wants ----

async function rawUpstream(response: string): Promise<net.Server & { port: number }> {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        socket.write(response);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

t.test('response side', async (t) => {
  const upstream = await rawUpstream(
    [
      'HTTP/1.1 200 OK',
      'X-Case-Keep: A',
      'Connection: X-Hop, keep-alive',
      'X-Hop: secret',
      'Keep-Alive: timeout=5, max=7',
      'Proxy-Connection: keep-alive',
      'Upgrade: h2c',
      'TE: trailers',
      'Set-Cookie: a=1; Path=/',
      'x-middle: m',
      'set-cookie: b=2; HttpOnly',
      'X-Request-Id: pod-made-id',
      'Content-Length: 2',
      '',
      'ok',
    ].join('\r\n'),
  );
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  upstream.unref();
  const p: InProcessProxy = await startProxy(docFor(`127.0.0.1:${upstream.port}`));
  t.teardown(() => p.stop());
  const r = await rawRequest(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: client-id\r\nConnection: close\r\n\r\n');
  const pairs = responseHeaderPairs(r);
  t.equal(r.status, 200);
  t.ok(r.text.endsWith('\r\n\r\nok'), 'body intact');
  t.same(named(pairs, 'x-hop'), [], 'header named in the pod Connection is not returned');
  t.same(named(pairs, 'proxy-connection'), [], 'Proxy-Connection not returned');
  t.same(named(pairs, 'upgrade'), [], 'Upgrade not returned');
  t.same(named(pairs, 'te'), [], 'TE not returned');
  t.notOk(named(pairs, 'keep-alive').includes('timeout=5, max=7'), "the pod's Keep-Alive is not returned");
  t.same(named(pairs, 'connection'), ['close'], "Connection is glidepath's own");
  t.same(
    pairs.filter(([n]) => ['x-case-keep', 'set-cookie', 'x-middle'].includes(n.toLowerCase())),
    [
      ['X-Case-Keep', 'A'],
      ['Set-Cookie', 'a=1; Path=/'],
      ['x-middle', 'm'],
      ['set-cookie', 'b=2; HttpOnly'],
    ],
    'raw case and order kept; both Set-Cookie fields returned separately',
  );
  t.same(named(pairs, 'x-request-id'), ['client-id'], "the request's id replaces the pod's");
});

t.test('response side: hop-by-hop headers of a chunked pod response are not returned either', async (t) => {
  const upstream = await rawUpstream(
    'HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n',
  );
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  upstream.unref();
  const p = await startProxy(docFor(`127.0.0.1:${upstream.port}`));
  t.teardown(() => p.stop());
  const r = await rawRequest(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const pairs = responseHeaderPairs(r);
  t.equal(r.status, 200);
  t.same(named(pairs, 'x-hop'), [], 'X-Hop not returned');
  t.same(named(pairs, 'trailer'), [], 'Trailer not returned');
  t.same(named(pairs, 'transfer-encoding'), ['chunked'], "one Transfer-Encoding, glidepath's own framing");
  t.match(r.text, /\r\n\r\n2\r\nok\r\n0\r\n\r\n$/, 'body re-framed, the trailer dropped');
});

// ---- admin isolation (scenario T17; Envoy's edge guide: restrict the admin endpoint) ----

t.test('admin routes are unreachable through the proxy port, whatever the Host or encoding', async (t) => {
  const seen: { method: string; url: string; host: string }[] = [];
  const recorder = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '' });
    req.resume();
    req.on('end', () => {
      res.writeHead(404, { 'x-recorder': 'yes', 'content-type': 'text/plain' });
      res.end(`recorder 404 ${req.url}`);
    });
  });
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        recorder.close(() => resolve());
        recorder.closeAllConnections();
      }),
  );
  const p = await startProxy(docFor(`127.0.0.1:${(recorder.address() as net.AddressInfo).port}`));
  t.teardown(() => p.stop());
  const adminPort = Number(new URL(p.adminUrl).port);

  const live = await fetch(`${p.adminUrl}/livez`, { signal: AbortSignal.timeout(3_000) });
  t.equal(live.status, 200, 'control: the admin API answers on its own port');
  await live.text();

  const paths = [
    '/livez',
    '/readyz',
    '/metrics',
    '/status',
    '/%6Civez',
    '/%6c%69%76%65%7a',
    '//status',
    '/x/../metrics',
    '/./readyz',
    '/status?verbose=1',
    '/STATUS',
    '/actions/promote',
  ];
  const hosts = ['app.example', `127.0.0.1:${adminPort}`, `localhost:${adminPort}`];
  const requests: { label: string; bytes: string; expectUrl: string }[] = [];
  for (const path of paths) {
    for (const host of hosts) {
      const method = path.startsWith('/actions/') ? 'POST' : 'GET';
      const body = method === 'POST' ? 'Content-Length: 2\r\n\r\n{}' : '\r\n';
      requests.push({
        label: `${method} ${path} Host: ${host}`,
        bytes: `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${body}`,
        expectUrl: path,
      });
    }
  }
  requests.push({
    label: 'absolute-form naming the admin port',
    bytes: `GET http://127.0.0.1:${adminPort}/status HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`,
    expectUrl: '/status',
  });
  const results = await Promise.all(requests.map((q) => rawRequest(p.port, q.bytes)));
  requests.forEach((q, i) => {
    const r = results[i] as RawResponse;
    t.equal(r.status, 404, `${q.label}: 404`);
    t.equal(r.headers['x-recorder'], 'yes', `${q.label}: answered by the pod`);
    t.notMatch(r.text, /glidepath_|"versions"|^ok\n|ready\n/m, `${q.label}: no admin content`);
  });
  const urls = seen.map((s) => s.url).sort();
  t.same(urls, requests.map((q) => q.expectUrl).sort(), 'the pod received every request, with the target as sent');
});
