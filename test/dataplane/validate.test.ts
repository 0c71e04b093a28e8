// Strict input, stage one (src/dataplane/validate.ts): the Host grammar, the request-line checks,
// origin-form targets and Transfer-Encoding. Where a check takes an IncomingMessage it runs inside
// a real node:http server on what Node's parser made of raw bytes: the inputs below are ones Node
// lets through, which is why glidepath has to refuse them itself.

import t from 'tap';
import { checkRequestLine, checkTransferEncoding, isValidHost, originFormTarget } from '../../src/dataplane/validate.ts';
import { inspectingServer } from '../../testkit/raw.ts';

const MAX_URL = 32;

const server = await inspectingServer((req) => ({
  version: `${req.httpVersionMajor}.${req.httpVersionMinor}`,
  line: checkRequestLine(req, MAX_URL),
  te: req.headers['transfer-encoding'] === undefined ? 'none' : checkTransferEncoding(req.headers['transfer-encoding'], req),
}));
t.teardown(() => server.close());

t.test('isValidHost: uri-host [ ":" port ] and nothing else (RFC 9110 §7.2)', async (t) => {
  const good = [
    'example.com',
    'a',
    'EXAMPLE.com',
    'example.com:8080',
    'a:0',
    'a:65535',
    '127.0.0.1',
    '127.0.0.1:80',
    '[::1]',
    '[::1]:443',
    '[2001:db8::1]',
    'xn--bcher-kva.example',
    'a_b.example',
    '%41',
    'a~b',
    "a!$&'()*+,;=b",
    'x'.repeat(255),
  ];
  for (const host of good)
    t.ok(isValidHost(host), `valid: ${JSON.stringify(host.length > 40 ? `${host.slice(0, 10)}… (${host.length})` : host)}`);
  const bad = [
    '',
    'a:65536',
    'a:99999',
    'a:123456',
    'a:',
    ':80',
    'a b',
    'a/b',
    'a\\b',
    'user@host',
    'user:pw@host',
    'a?b',
    'a#b',
    '[::1',
    '::1',
    '[::1]x',
    '[fe80::1%eth0]',
    'a:80:80',
    'a:-1',
    'a:8o',
    'x'.repeat(256),
    'ä.example',
    'a\tb',
  ];
  for (const host of bad)
    t.notOk(isValidHost(host), `invalid: ${JSON.stringify(host.length > 40 ? `${host.slice(0, 10)}… (${host.length})` : host)}`);
});

t.test('checkRequestLine: HTTP/1.0 and 1.1 only, even though Node parses 0.9 and 2.0', async (t) => {
  t.same(await server.ask('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), { version: '1.1', line: null, te: 'none' });
  t.same(await server.ask('GET / HTTP/1.0\r\n\r\n'), { version: '1.0', line: null, te: 'none' });
  t.same(await server.ask('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), { version: '2.0', line: 'http_version', te: 'none' });
  t.same(await server.ask('GET / HTTP/0.9\r\nHost: a\r\n\r\n'), { version: '0.9', line: 'http_version', te: 'none' });
  t.same(await server.ask('GET /\r\n\r\n'), { version: '0.9', line: 'http_version', te: 'none' }, 'a bare HTTP/0.9 request line');
});

t.test('checkRequestLine: the target may be maxUrlBytes long, not one byte more', async (t) => {
  const at = `/${'a'.repeat(MAX_URL - 1)}`;
  t.equal((await server.ask(`GET ${at} HTTP/1.1\r\nHost: a\r\n\r\n`)).line, null, `${at.length} bytes`);
  t.equal((await server.ask(`GET ${at}b HTTP/1.1\r\nHost: a\r\n\r\n`)).line, 'url_too_long', `${at.length + 1} bytes`);
  t.equal((await server.ask(`GET /?${'q'.repeat(MAX_URL)} HTTP/1.1\r\nHost: a\r\n\r\n`)).line, 'url_too_long', 'the query counts');
});

t.test('checkTransferEncoding: "chunked" alone, on HTTP/1.1 only (RFC 9112 §6.1)', async (t) => {
  const post = (version: string, te: string[]): string =>
    `POST / HTTP/${version}\r\nHost: a\r\n${te.map((v) => `Transfer-Encoding: ${v}\r\n`).join('')}\r\n0\r\n\r\n`;
  t.equal((await server.ask(post('1.1', ['chunked']))).te, null);
  t.equal((await server.ask(post('1.1', ['Chunked']))).te, null, 'the coding name is case-insensitive');
  t.equal((await server.ask(post('1.1', ['chunked  ']))).te, null, 'trailing whitespace is not part of the value');
  t.equal((await server.ask(post('1.1', ['gzip, chunked']))).te, 'transfer_coding', 'another coding before chunked');
  t.equal((await server.ask(post('1.1', ['gzip']))).te, 'transfer_coding', 'a coding without chunked');
  t.equal((await server.ask(post('1.1', ['gzip', 'chunked']))).te, 'transfer_coding', 'two field lines combine to "gzip, chunked"');
  t.equal((await server.ask(post('1.0', ['chunked']))).te, 'te_on_http10', 'HTTP/1.0 has no chunked coding');
});

t.test('originFormTarget: origin-form passes, absolute-form only for the Host it names (RFC 9112 §3.2.2)', async (t) => {
  const cases: [string, string | undefined, string][] = [
    ['/', 'a', '/'],
    ['/p/q?x=1#f', 'a', '/p/q?x=1#f'],
    ['/p', undefined, '/p'],
    ['http://a/p?x=1', 'a', '/p?x=1'],
    ['http://a', 'a', '/'],
    ['http://a?x=1', 'a', '/?x=1'],
    ['http://a?x=/y', 'a', '/?x=/y'],
    ['https://a/p', 'a', '/p'],
    ['HTTP://A/p', 'a', '/p'],
    ['http://a:8080/p', 'a:8080', '/p'],
    ['http://a:8080/p', 'a', 'absolute_form_authority'],
    ['http://b/p', 'a', 'absolute_form_authority'],
    ['http://a/p', undefined, 'absolute_form_authority'],
    ['http:///p', 'a', 'absolute_form_authority'],
    ['http://u@a/p', 'u@a', 'absolute_form_authority'],
    ['*', 'a', 'target_form'],
    ['a:443', 'a', 'target_form'],
    ['ftp://a/p', 'a', 'target_form'],
    ['p', 'a', 'target_form'],
    ['', 'a', 'target_form'],
  ];
  for (const [url, host, expected] of cases)
    t.equal(originFormTarget(url, host), expected, `${JSON.stringify(url)} with Host ${JSON.stringify(host)}`);
});
