// Upstream error classification (classifyUpstreamError in src/dataplane/rescue.ts): every code it
// maps, by `err.code`, to the x-glidepath-error code and the attempt outcome it is charged as.
// undici's own error classes supply the UND_ERR_* codes, so a renamed code in a new undici fails
// here; a few errors come from real sockets to show the codes are the ones undici really reports.

import t, { type Test } from 'tap';
import net from 'node:net';
import { Client, errors, request } from 'undici';
import { classifyUpstreamError } from '../../src/dataplane/rescue.ts';
import { unusedPort } from '../../testkit/wait.ts';

type Expected = [code: string, outcome: 'connect_error' | 'reset' | 'timeout' | 'protocol_error' | 'client'];

// The outcome indexes of src/dataplane/stats.ts OUTCOMES, written out: a reorder must fail here.
const OUTCOME: Record<Expected[1], number> = { connect_error: 2, reset: 3, timeout: 4, protocol_error: 5, client: -1 };

function check(t: Test, err: unknown, [code, outcome]: Expected, what: string): void {
  t.same(classifyUpstreamError(err), { code, outcome: OUTCOME[outcome] }, `${what} → ${code} (${outcome})`);
}

t.test("undici's errors, constructed from undici's own classes", async (t) => {
  const cases: [Error, string, Expected][] = [
    [new errors.ConnectTimeoutError(), 'UND_ERR_CONNECT_TIMEOUT', ['GP_UPSTREAM_CONNECT_TIMEOUT', 'connect_error']],
    [new errors.HeadersTimeoutError(), 'UND_ERR_HEADERS_TIMEOUT', ['GP_UPSTREAM_TIMEOUT', 'timeout']],
    [new errors.BodyTimeoutError(), 'UND_ERR_BODY_TIMEOUT', ['GP_UPSTREAM_TIMEOUT', 'timeout']],
    [new errors.SocketError('other side closed'), 'UND_ERR_SOCKET', ['GP_UPSTREAM_RESET', 'reset']],
    [new errors.ClientClosedError(), 'UND_ERR_CLOSED', ['GP_UPSTREAM_RESET', 'reset']],
    [new errors.ClientDestroyedError(), 'UND_ERR_DESTROYED', ['GP_UPSTREAM_RESET', 'reset']],
    [
      new errors.ResponseContentLengthMismatchError(),
      'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
      ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error'],
    ],
    [new errors.HeadersOverflowError(), 'UND_ERR_HEADERS_OVERFLOW', ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error']],
    [new errors.ResponseExceededMaxSizeError(), 'UND_ERR_RES_EXCEEDED_MAX_SIZE', ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error']],
    [new errors.InformationalError('bad 1xx'), 'UND_ERR_INFO', ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error']],
    [new errors.RequestContentLengthMismatchError(), 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', ['GP_BAD_REQUEST', 'client']],
    [new errors.InvalidArgumentError('bad header'), 'UND_ERR_INVALID_ARG', ['GP_BAD_REQUEST', 'client']],
    [new errors.NotSupportedError(), 'UND_ERR_NOT_SUPPORTED', ['GP_BAD_REQUEST', 'client']],
  ];
  for (const [err, undiciCode, expected] of cases) {
    t.equal((err as { code?: string }).code, undiciCode, `${err.name} still carries ${undiciCode}`);
    check(t, err, expected, undiciCode);
  }
});

t.test('socket and resolver errors, by errno code', async (t) => {
  const cases: [string, Expected][] = [
    ['ECONNREFUSED', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['EHOSTUNREACH', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['ENETUNREACH', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['EADDRNOTAVAIL', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['ENOTFOUND', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['EAI_AGAIN', ['GP_UPSTREAM_CONNECT', 'connect_error']],
    ['ETIMEDOUT', ['GP_UPSTREAM_TIMEOUT', 'timeout']],
    ['ECONNRESET', ['GP_UPSTREAM_RESET', 'reset']],
    ['EPIPE', ['GP_UPSTREAM_RESET', 'reset']],
  ];
  for (const [code, expected] of cases) check(t, Object.assign(new Error(code), { code }), expected, code);
});

// undici's typings leave out the constructor's second argument, the llhttp error name.
const ParserError = errors.HTTPParserError as unknown as new (message: string, code?: string) => Error;

t.test("llhttp's parse errors: HPE_* codes, and HTTPParserError without a code", async (t) => {
  const coded = new ParserError('Invalid status', 'INVALID_STATUS');
  t.equal((coded as { code?: string }).code, 'HPE_INVALID_STATUS', 'undici prefixes the llhttp name with HPE_');
  check(t, coded, ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error'], 'HTTPParserError HPE_INVALID_STATUS');
  check(
    t,
    new ParserError('Response does not match the HTTP/1.1 protocol'),
    ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error'],
    'HTTPParserError without a code',
  );
  check(
    t,
    Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' }),
    ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error'],
    'any HPE_ code',
  );
});

t.test('anything else is a reset: unknown codes, no code, not an error at all', async (t) => {
  for (const err of [
    Object.assign(new Error('x'), { code: 'UND_ERR_ABORTED' }),
    Object.assign(new Error('x'), { code: 'ESOMETHINGNEW' }),
    Object.assign(new Error('x'), { code: 42 }),
    new Error('no code'),
    new TypeError('a bug'),
    null,
    undefined,
    'a string',
  ])
    check(t, err, ['GP_UPSTREAM_RESET', 'reset'], String((err as { code?: unknown } | null)?.code ?? err));
});

t.test('real failures on loopback carry the codes mapped above', async (t) => {
  // Nobody listens: the kernel refuses the connection.
  const refused = await request(`http://127.0.0.1:${await unusedPort()}/`).then(
    () => undefined,
    (err: unknown) => err,
  );
  check(t, refused, ['GP_UPSTREAM_CONNECT', 'connect_error'], `a dead port (${(refused as { code?: string }).code})`);

  // A pod that resets, one that closes mid-body, one that answers garbage, one that says nothing.
  const behaviours: Record<string, (s: net.Socket) => void> = {
    '/reset': (s) => s.resetAndDestroy(),
    '/close': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'),
    '/garbage': (s) => s.end('NOT HTTP AT ALL\r\n\r\n'),
    '/silent': () => undefined,
  };
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => behaviours[d.toString('latin1').split(' ')[1] ?? '']?.(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
  });
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const fail = async (path: string, options: { headersTimeout?: number } = {}): Promise<unknown> => {
    const client = new Client(origin, { headersTimeout: options.headersTimeout ?? 5_000 });
    try {
      const res = await client.request({ path, method: 'GET' });
      await res.body.text();
      return undefined;
    } catch (err) {
      return err;
    } finally {
      await client.destroy();
    }
  };
  const reset = await fail('/reset');
  check(t, reset, ['GP_UPSTREAM_RESET', 'reset'], `a reset before the response (${(reset as { code?: string }).code})`);
  // undici reports the early close as a socket error, not as a length mismatch.
  const closed = await fail('/close');
  check(
    t,
    closed,
    ['GP_UPSTREAM_RESET', 'reset'],
    `a close before the Content-Length was complete (${(closed as { code?: string }).code})`,
  );
  const garbage = await fail('/garbage');
  check(
    t,
    garbage,
    ['GP_UPSTREAM_BAD_RESPONSE', 'protocol_error'],
    `a response that is not HTTP (${(garbage as { name?: string }).name} ${(garbage as { code?: string }).code})`,
  );
  const silent = await fail('/silent', { headersTimeout: 200 });
  check(t, silent, ['GP_UPSTREAM_TIMEOUT', 'timeout'], `no response headers in time (${(silent as { code?: string }).code})`);
});
