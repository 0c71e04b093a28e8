// Header hygiene as pure functions (src/dataplane/headers.ts): the exact header list glidepath
// forwards for a request Node really parsed, and the exact list it returns for a response undici
// really parsed. The end-to-end view through a running glidepath is header-hygiene.test.ts.

import t, { type Test } from 'tap';
import net from 'node:net';
import { Client } from 'undici';
import type { Dispatcher } from 'undici';
import {
  buildResponseHeaders,
  buildUpstreamHeaders,
  nextRequestId,
  stripConnectionOptions,
  type RequestFacts,
} from '../../src/dataplane/headers.ts';
import { inspectingServer } from '../../testkit/raw.ts';

const REPLAY_HEADER = 'x-replay';
const GENERATED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Upstream {
  /** The flat [name, value, ...] list, or the reject reason. */
  out: string[] | string;
  facts: RequestFacts;
}

// The peer is trusted when the request asks for /trusted (the peer is 127.0.0.1 either way). Like
// glidepath's own listener, the server leaves the Host check to the header pass.
const server = await inspectingServer(
  (req): Upstream => {
    const facts: RequestFacts = {
      host: undefined,
      path: '',
      requestId: '',
      chunked: false,
      contentLength: 0,
      replayMarked: false,
      replayForbidden: false,
    };
    const out = buildUpstreamHeaders(req, req.url === '/trusted', REPLAY_HEADER, facts);
    return { out, facts };
  },
  { requireHostHeader: false },
);
t.teardown(() => server.close());

/** A request from `path` with the given header lines. */
const ask = (lines: string[], options: { path?: string; version?: string } = {}): Promise<Upstream> =>
  server.ask(`GET ${options.path ?? '/'} HTTP/${options.version ?? '1.1'}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`);

/** The forwarded list with the generated x-request-id checked and replaced by 'ID'. */
function forwarded(t: Test, u: Upstream): string[] {
  if (typeof u.out === 'string') throw new Error(`refused: ${u.out}`);
  const out = [...u.out];
  const last = out.length - 1;
  if (out[last - 1] === 'x-request-id' && GENERATED_ID.test(out[last] as string)) {
    t.equal(u.facts.requestId, out[last], 'facts carry the generated request id');
    out[last] = 'ID';
  }
  return out;
}

t.test('a plain request: its headers in order and case, then the forwarding headers glidepath sets', async (t) => {
  const u = await ask(['Host: shop.example', 'Accept: */*', 'X-CamelCase: Value', 'Cookie: a=1', 'Cookie: b=2']);
  t.same(forwarded(t, u), [
    'Host',
    'shop.example',
    'Accept',
    '*/*',
    'X-CamelCase',
    'Value',
    'Cookie',
    'a=1',
    'Cookie',
    'b=2',
    'x-forwarded-for',
    '127.0.0.1',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'shop.example',
    'via',
    '1.1 glidepath',
    'x-request-id',
    'ID',
  ]);
  t.match(u.facts, { host: 'shop.example', chunked: false, contentLength: -1, replayMarked: false, replayForbidden: false });
});

t.test('hop-by-hop headers and the headers Connection names are stripped (RFC 9110 §7.6.1)', async (t) => {
  const u = await ask([
    'Host: a',
    'Connection: keep-alive, X-Hop',
    'Connection: Upgrade',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'TE: trailers',
    'Trailer: X-T',
    'Upgrade: websocket',
    'X-Hop: secret',
    'X-Kept: yes',
    'Expect: 100-continue',
  ]);
  t.same(forwarded(t, u), [
    'Host',
    'a',
    'X-Kept',
    'yes',
    'x-forwarded-for',
    '127.0.0.1',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'a',
    'via',
    '1.1 glidepath',
    'x-request-id',
    'ID',
  ]);
});

t.test('an untrusted peer: client-sent forwarding headers are dropped and rewritten from what glidepath saw', async (t) => {
  const u = await ask([
    'Host: a',
    'X-Forwarded-For: 6.6.6.6',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil',
    'Forwarded: for=6.6.6.6',
    'X-Real-IP: 6.6.6.6',
  ]);
  t.same(forwarded(t, u), [
    'Host',
    'a',
    'x-forwarded-for',
    '127.0.0.1',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'a',
    'via',
    '1.1 glidepath',
    'x-request-id',
    'ID',
  ]);
});

t.test('a trusted peer: forwarding headers are kept and appended to', async (t) => {
  const u = await ask(
    [
      'Host: a',
      'X-Forwarded-For: 1.1.1.1',
      'X-Forwarded-For: 2.2.2.2, 3.3.3.3',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Host: shop.example',
      'Forwarded: for=1.1.1.1',
      'X-Real-IP: 1.1.1.1',
      'Via: 1.1 edge',
    ],
    { path: '/trusted' },
  );
  t.same(forwarded(t, u), [
    'Host',
    'a',
    'Forwarded',
    'for=1.1.1.1',
    'X-Real-IP',
    '1.1.1.1',
    'x-forwarded-for',
    '1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1',
    'x-forwarded-proto',
    'https',
    'x-forwarded-host',
    'shop.example',
    'via',
    '1.1 edge, 1.1 glidepath',
    'x-request-id',
    'ID',
  ]);
});

t.test('a trusted peer: forwarding headers the Connection header names are hop-by-hop all the same', async (t) => {
  const u = await ask(
    [
      'Host: a',
      'Connection: X-Forwarded-For, x-forwarded-proto, X-Forwarded-Host, Via, X-Request-Id',
      'X-Forwarded-For: 1.1.1.1',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Host: other',
      'Via: 1.1 edge',
      'X-Request-Id: from-client',
    ],
    { path: '/trusted' },
  );
  t.same(forwarded(t, u), [
    'Host',
    'a',
    'x-forwarded-for',
    '127.0.0.1',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'a',
    'via',
    '1.1 glidepath',
    'x-request-id',
    'ID',
  ]);
});

t.test('x-request-id: a printable one up to 200 bytes is propagated, the first of several; anything else is replaced', async (t) => {
  const keep = await ask(['Host: a', 'X-Request-Id: abc-123', 'X-Request-Id: second']);
  t.same((keep.out as string[]).slice(-2), ['x-request-id', 'abc-123']);
  t.equal(keep.facts.requestId, 'abc-123');
  const long = 'r'.repeat(200);
  t.same(((await ask(['Host: a', `X-Request-Id: ${long}`])).out as string[]).slice(-2), ['x-request-id', long], '200 bytes');
  for (const bad of ['r'.repeat(201), 'has space', 'caf\u00e9']) {
    const u = await ask(['Host: a', `X-Request-Id: ${bad}`]);
    const id = (u.out as string[]).at(-1) as string;
    t.match(id, GENERATED_ID, `${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 5)}… (${bad.length})` : bad)} is replaced`);
  }
  const a = nextRequestId();
  const b = nextRequestId();
  t.match(a, GENERATED_ID);
  t.equal(a.slice(0, 24), b.slice(0, 24), 'generated ids share the per-process prefix');
  t.equal(parseInt(b.slice(24), 16) - parseInt(a.slice(24), 16), 1, 'and count up in the last 12 hex digits');
});

t.test('the replay header marks a request replayable (true) or never replayable (false), and is forwarded', async (t) => {
  const yes = await ask(['Host: a', 'X-Replay: TRUE']);
  t.match(yes.facts, { replayMarked: true, replayForbidden: false });
  t.same((yes.out as string[]).slice(0, 4), ['Host', 'a', 'X-Replay', 'TRUE']);
  const no = await ask(['Host: a', 'X-Replay: false']);
  t.match(no.facts, { replayMarked: false, replayForbidden: true });
  const other = await ask(['Host: a', 'X-Replay: maybe']);
  t.match(other.facts, { replayMarked: false, replayForbidden: false });
});

t.test('body framing: content-length and chunked are recorded; TE is re-framed by undici, never forwarded', async (t) => {
  const cl = await server.ask('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
  t.match(cl.facts, { contentLength: 5, chunked: false });
  t.same((cl.out as string[]).slice(0, 4), ['Host', 'a', 'Content-Length', '5']);
  const chunked = await server.ask('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  t.match(chunked.facts, { contentLength: -1, chunked: true });
  t.notOk(
    (chunked.out as string[]).some((h) => h.toLowerCase() === 'transfer-encoding'),
    'no Transfer-Encoding in the list',
  );
});

t.test('refusals: Host count and grammar, h2c upgrades, transfer codings', async (t) => {
  t.equal((await ask(['Host: a', 'Host: b'])).out, 'duplicate_host');
  t.equal((await ask([])).out, 'invalid_host', 'HTTP/1.1 without Host (RFC 9112 §3.2)');
  t.equal((await ask(['Host: a/b'])).out, 'invalid_host');
  t.equal((await ask(['Host: a b'])).out, 'invalid_host');
  t.equal((await ask(['Host: user@a'])).out, 'invalid_host');
  t.equal(
    (await ask(['Host: a', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'])).out,
    'h2c_upgrade',
  );
  t.equal((await ask(['Host: a', 'Upgrade: websocket, H2C'])).out, 'h2c_upgrade', 'h2c anywhere in Upgrade, any case');
  t.equal((await server.ask('POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).out, 'te_on_http10');
  t.equal((await server.ask('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n')).out, 'transfer_coding');
  const u10 = await ask([], { version: '1.0' });
  t.same(
    forwarded(t, u10),
    ['x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'via', '1.1 glidepath', 'x-request-id', 'ID'],
    'HTTP/1.0 may omit Host: no x-forwarded-host then',
  );
});

t.test('stripConnectionOptions: removes the named headers in place and returns the names', async (t) => {
  const out = ['A', '1', 'X-Hop', '2', 'B', '3', 'x-hop', '4', 'Other', '5'];
  const names = stripConnectionOptions(out, ' X-Hop ,close,, other');
  t.same([...(names ?? [])], ['x-hop', 'other']);
  t.same(out, ['A', '1', 'B', '3']);
  for (const common of ['keep-alive', 'Keep-Alive', 'close', 'upgrade', 'close, keep-alive']) {
    const list = ['A', '1'];
    t.equal(stripConnectionOptions(list, common), undefined, `${common}: nothing named`);
    t.same(list, ['A', '1']);
  }
});

/** Raw response headers as undici's parser hands them to glidepath's dispatch handler. */
async function undiciRawHeaders(head: string): Promise<(Buffer | string)[]> {
  const upstream = net.createServer((socket) => {
    socket.once('data', () => socket.end(Buffer.from(head, 'latin1')));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const client = new Client(`http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`);
  try {
    return await new Promise((resolve, reject) => {
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseData() {},
        onResponseEnd() {},
        onResponseStart(controller) {
          resolve((controller as unknown as { rawHeaders: (Buffer | string)[] }).rawHeaders);
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      };
      client.dispatch({ path: '/', method: 'GET', headersTimeout: 3_000 }, handler);
    });
  } finally {
    await client.destroy();
    upstream.close();
  }
}

t.test('buildResponseHeaders: hop-by-hop and Connection-named response headers are dropped, the rest kept as sent', async (t) => {
  const raw = await undiciRawHeaders(
    [
      'HTTP/1.1 200 OK',
      'Content-Type: text/plain',
      'Connection: keep-alive, X-Internal',
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'TE: trailers',
      'Trailer: X-Checksum',
      'Upgrade: h2c',
      'X-Internal: pod-secret',
      'X-Request-Id: pod-made',
      'Set-Cookie: a=1',
      'Set-Cookie: b=2',
      'X-CamelCase: Value',
      'X-Latin: caf\u00e9',
      // Names as long as a hop-by-hop one (the function switches on length first) must survive.
      'Ab: 2',
      'X-Seven: 7',
      'X-Ten-Char: 10',
      'X-Twelve-Chr: 12',
      'X-Sixteen-Charss: 16',
      'X-Seventeen-Chars: 17',
      'Content-Length: 2',
      '',
      'ok',
    ].join('\r\n'),
  );
  t.ok(Buffer.isBuffer(raw[0]), 'undici hands over Buffers');
  t.same(buildResponseHeaders(raw, 'req-1'), [
    'Content-Type',
    'text/plain',
    'Set-Cookie',
    'a=1',
    'Set-Cookie',
    'b=2',
    'X-CamelCase',
    'Value',
    'X-Latin',
    'caf\u00e9',
    'Ab',
    '2',
    'X-Seven',
    '7',
    'X-Ten-Char',
    '10',
    'X-Twelve-Chr',
    '12',
    'X-Sixteen-Charss',
    '16',
    'X-Seventeen-Chars',
    '17',
    'Content-Length',
    '2',
    'x-request-id',
    'req-1',
  ]);
});

t.test('buildResponseHeaders: a chunked response loses Transfer-Encoding (Node re-frames it) and nothing else', async (t) => {
  const raw = await undiciRawHeaders(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-A: 1\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  );
  t.same(buildResponseHeaders(raw, 'r'), ['X-A', '1', 'x-request-id', 'r']);
  t.same(buildResponseHeaders(['X-B', '2', 'connection', 'x-b'], 'r'), ['x-request-id', 'r'], 'string lists work the same');
});

// Found while writing these tests: the header pass checks only the last Transfer-Encoding field
// line, so "gzip" and "chunked" on two lines pass where "gzip, chunked" on one is refused 501;
// the gzip coding is then silently dropped on the way to the pod. Fixing it changes behaviour,
// which this change must not: left for a follow-up, kept visible here as a todo.
t.test(
  'Transfer-Encoding split over two field lines is refused like the combined value',
  { todo: 'header pass checks only the last TE line' },
  async (t) => {
    const split = await server.ask('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    t.equal(split.out, 'transfer_coding');
  },
);
