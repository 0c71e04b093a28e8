// Strict input (issue 2, "The request path"; scenarios T13/T14 of docs/reliability-notes.md): every bad
// request as raw bytes on a real socket. Each refusal must carry its status and x-glidepath-error
// code, close the connection, be counted by reason, and never reach the pod (its ledger is the
// witness). Where haproxy and nginx are installed, glidepath must be at least as strict as both.

import t, { type Test } from 'tap';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPod } from '../../testkit/pods.ts';
import { startProxy, type EndpointsDoc } from '../../testkit/proxy.ts';
import { rawRequest, type RawResponse } from '../../testkit/raw.ts';
import type { LedgerEntry } from '../../src/demo/app.ts';
import { REJECT_REASONS } from '../../src/dataplane/stats.ts';
import { sleep, unusedPort } from '../../testkit/wait.ts';

interface Refusal {
  status: number;
  code: string;
  reason: string;
}
interface Forward {
  forward: true;
  status: number;
  bytes?: number;
}
interface Case {
  name: string;
  /** The target as the pod would see it in origin-form: the token the pod's ledger is searched for. */
  path: string;
  bytes: string;
  expect: Refusal | Forward;
  /** Rejected by Node's parser only after the headers were handed over. */
  phase?: 'body';
  diff?: boolean;
  source?: string;
}

const corpus = (JSON.parse(readFileSync(new URL('../fixtures/strict-input/corpus.json', import.meta.url), 'utf8')) as { cases: Case[] })
  .cases;
const isRefusal = (e: Refusal | Forward): e is Refusal => !('forward' in e);

function fields(n: number): string {
  return Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
}
const TOO_LARGE = { status: 431, code: 'GP_HEADERS_TOO_LARGE' };
/** Limit cases (T13), generated: sizes around the defaults (100 fields, 16 KiB of headers, 8 KiB of URL). */
const limits: Case[] = [
  {
    name: 'fields-100',
    path: '/si/fields-100',
    bytes: `GET /si/fields-100 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${fields(98)}\r\n`,
    expect: { forward: true, status: 200 },
  },
  {
    name: 'fields-101',
    path: '/si/fields-101',
    bytes: `GET /si/fields-101 HTTP/1.1\r\nHost: a\r\n${fields(100)}\r\n`,
    expect: { ...TOO_LARGE, reason: 'too_many_headers' },
  },
  // Node 20 silently kept the first ~1000 of these and dropped the rest, Authorization included (measured).
  {
    name: 'fields-1500',
    path: '/si/fields-1500',
    bytes: `GET /si/fields-1500 HTTP/1.1\r\nHost: a\r\n${fields(1499)}Authorization: last\r\n\r\n`,
    expect: { ...TOO_LARGE, reason: 'too_many_headers' },
  },
  {
    name: 'header-17k',
    path: '/si/header-17k',
    bytes: `GET /si/header-17k HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`,
    expect: { ...TOO_LARGE, reason: 'header_too_large' },
  },
  {
    name: 'url-8192',
    path: `/si/url-8192?${'u'.repeat(8192 - 15)}`,
    bytes: `GET /si/url-8192?${'u'.repeat(8192 - 15)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    expect: { forward: true, status: 200 },
  },
  {
    name: 'url-9k',
    path: `/si/url-9k?${'u'.repeat(9000)}`,
    bytes: `GET /si/url-9k?${'u'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
    expect: { status: 414, code: 'GP_URI_TOO_LONG', reason: 'url_too_long' },
  },
  {
    name: 'url-20k',
    path: `/si/url-20k?${'u'.repeat(20_000)}`,
    bytes: `GET /si/url-20k?${'u'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
    expect: { ...TOO_LARGE, reason: 'header_too_large' },
  },
  {
    name: 'chunk-extension-20k',
    phase: 'body',
    source: 'CVE-2024-22019',
    path: '/si/chunk-extension-20k',
    bytes: `POST /si/chunk-extension-20k HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`,
    expect: { status: 413, code: 'GP_PAYLOAD_TOO_LARGE', reason: 'chunk_extension_too_large' },
  },
];
const cases = [...corpus, ...limits];
const byName = new Map(cases.map((c) => [c.name, c]));
function caseNamed(name: string): Case {
  const c = byName.get(name);
  if (c === undefined) throw new Error(`no corpus case ${name}`);
  return c;
}

/**
 * True if the pod's ledger shows the request arriving: the token ends the path (or precedes its
 * query), in origin-form or behind an absolute-form prefix (haproxy forwards that form as is), or
 * it is the request's x-test-id (targets that cannot carry it: `*`, authority-form).
 */
function arrived(entries: readonly LedgerEntry[], token: string, ev: LedgerEntry['ev'] = 'recv'): boolean {
  return entries.some((e) => {
    if (e.ev !== ev) return false;
    if (e.id === token) return true;
    const at = e.path.indexOf(token);
    if (at < 0) return false;
    const end = at + token.length;
    return (end === e.path.length || e.path[end] === '?') && (at === 0 || /^[a-z][a-z0-9+.-]*:\/\/[^/]*$/i.test(e.path.slice(0, at)));
  });
}

function bodyOf(r: RawResponse): string {
  const at = r.text.indexOf('\r\n\r\n');
  return at < 0 ? '' : r.text.slice(at + 4);
}

/** Number of HTTP responses in a raw capture (a status line may follow the previous body directly). */
function responseCount(text: string): number {
  return text.match(/HTTP\/1\.[01] \d{3} /g)?.length ?? 0;
}

function send(port: number, c: Case, options: { waitMs?: number; gapMs?: number; parts?: string[] } = {}): Promise<RawResponse> {
  return rawRequest(port, options.parts ?? c.bytes, { waitMs: options.waitMs ?? 3_000, gapMs: options.gapMs });
}

async function settle(ms = 150): Promise<void> {
  // The pod writes its ledger synchronously on arrival; this only lets in-flight bytes land.
  await sleep(ms);
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const pod = await startPod({ POD_NAME: 'strict-input-pod' });
t.teardown(() => pod.stop());
const doc: EndpointsDoc = { versions: [{ name: 'v1', revision: 1, weight: 10_000 }], endpoints: [{ address: pod.address, version: 'v1' }] };
const proxy = await startProxy(doc);
t.teardown(() => proxy.stop());

function assertRefused(t: Test, r: RawResponse, e: Refusal): void {
  t.equal(r.status, e.status, 'status');
  t.equal(r.headers['x-glidepath-error'], e.code, 'x-glidepath-error');
  t.match(bodyOf(r), new RegExp(`^${e.status} ${e.code}`), 'proxy-made body');
  t.equal(r.headers.connection, 'close', 'announces the close');
  t.ok(r.closed, 'connection closed after the refusal');
  t.equal(responseCount(r.text), 1, 'exactly one response');
}

t.test('the corpus refuses or normalises each input exactly as expected', async (t) => {
  const results = await Promise.all(cases.map((c) => send(proxy.port, c)));
  await settle();
  const ledger = pod.ledger();
  cases.forEach((c, i) => {
    const r = results[i] as RawResponse;
    const e = c.expect;
    const label = c.source ? ` (${c.source})` : '';
    if (!isRefusal(e)) {
      t.test(`forwards ${c.name} to the pod in origin-form${label}`, async (t) => {
        t.equal(r.status, e.status, 'status from the pod');
        t.ok(r.headers['x-pod-name'], 'answered by the pod');
        t.notOk(r.headers['x-glidepath-error'], 'no proxy error');
        const own = new RegExp(`/si/${c.name}(?:$|[?])`);
        const seen = ledger.filter((l) => l.ev === 'recv' && own.test(l.path));
        t.same(
          seen.map((l) => l.path),
          [c.path],
          'the pod saw exactly one request, with the origin-form target',
        );
        if (e.bytes !== undefined) {
          const done = ledger.find((l) => l.ev === 'done' && l.path === c.path);
          t.equal(done?.bytes, e.bytes, 'the pod received the whole body');
        }
      });
      return;
    }
    if (c.phase === 'body') {
      // Node can reject these only after the headers reached the handler (and streamed upstream).
      t.test(`closes on ${c.name} and the pod never completes it${label}`, async (t) => {
        t.ok(r.closed, 'connection closed');
        t.notOk(arrived(ledger, c.path, 'done'), 'the pod never completed the request');
        t.notOk(r.headers['x-pod-name'], 'no pod response reached the client');
      });
      t.test(`answers ${c.name} with ${e.status} ${e.code}${label}`, async (t) => assertRefused(t, r, e));
      return;
    }
    t.test(`refuses ${c.name} with ${e.status} ${e.code}, closes, and forwards nothing${label}`, async (t) => {
      assertRefused(t, r, e);
      t.notOk(arrived(ledger, c.path), 'nothing reached the pod');
    });
  });
});

t.test('refuses 150 and 1500 header fields with 431 and never forwards a truncated list', async (t) => {
  const many = (n: number) => `GET /si/fields-${n}x HTTP/1.1\r\nHost: a\r\n${fields(n - 2)}Authorization: last\r\n\r\n`;
  const [r150, r1500] = await Promise.all([rawRequest(proxy.port, many(150)), rawRequest(proxy.port, many(1500))]);
  await settle();
  for (const [n, r] of [
    [150, r150],
    [1500, r1500],
  ] as const) {
    t.equal(r.status, 431, `${n} fields: 431`);
    t.equal(r.headers['x-glidepath-error'], 'GP_HEADERS_TOO_LARGE', `${n} fields: code`);
    t.ok(r.closed, `${n} fields: closed`);
    t.notOk(arrived(pod.ledger(), `/si/fields-${n}x`), `${n} fields: nothing reached the pod`);
  }
});

t.test('counts 150 and 1500 header fields as too_many_headers', async (t) => {
  const own = await startProxy(doc);
  t.teardown(() => own.stop());
  for (const n of [150, 1500]) {
    const r = await rawRequest(own.port, `GET /si/fields-${n}c HTTP/1.1\r\nHost: a\r\n${fields(n - 1)}\r\n`);
    t.equal(r.status, 431, `${n} fields: 431`);
  }
  const counts = await rejectedCounts(own.adminUrl);
  t.equal(counts.too_many_headers, 2, 'both counted as too_many_headers');
  t.equal(counts.header_too_large, 0, 'neither as header_too_large');
});

t.test('counts a refused request once, even when Node then fails on its body', async (t) => {
  const own = await startProxy(doc);
  t.teardown(() => own.stop());
  const r = await send(own.port, caseNamed('te-xchunked'));
  t.equal(r.status, 501);
  const counts = await rejectedCounts(own.adminUrl);
  t.equal(counts.transfer_coding, 1, 'counted as transfer_coding');
  t.equal(counts.parse_error, 0, 'not also as parse_error');
});

t.test('pipelining behind a refused request', async (t) => {
  const follow = (token: string) => `GET ${token} HTTP/1.1\r\nHost: a\r\nX-Test-Id: ${token}\r\n\r\n`;
  // An idle pooled upstream connection lets glidepath forward at once; with a cold pool the race
  // to connect can hide a forwarded pipelined request. Warm it right before each case.
  const warm = async (): Promise<void> => {
    const r = await rawRequest(proxy.port, 'GET /si/warm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    if (r.status !== 200) throw new Error(`warm-up failed: ${r.text.slice(0, 200)}`);
  };

  t.test('a request smuggled behind CL+TE never reaches the pod', async (t) => {
    await warm();
    const r = await rawRequest(
      proxy.port,
      `POST /si/smuggle-carrier HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${follow('/si/smuggled')}`,
    );
    await settle();
    t.equal(r.status, 400);
    t.ok(r.closed, 'closed');
    t.equal(responseCount(r.text), 1, 'one response');
    t.notOk(arrived(pod.ledger(), '/si/smuggle-carrier'), 'carrier not forwarded');
    t.notOk(arrived(pod.ledger(), '/si/smuggled'), 'smuggled request not forwarded');
  });

  const validThenBad = `${follow('/si/pipe-valid-1')}GET /si/pipe-bad HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n${follow('/si/pipe-after-bad-1')}`;

  t.test('after a valid request and a parse error, the request behind the error is never executed upstream', async (t) => {
    await warm();
    const r = await rawRequest(proxy.port, validThenBad);
    await settle();
    t.ok(r.closed, 'closed');
    t.notOk(arrived(pod.ledger(), '/si/pipe-bad'), 'the malformed request never reached the pod');
    t.notOk(arrived(pod.ledger(), '/si/pipe-after-bad-1'), 'the request after it never reached the pod');
  });

  t.test('after a valid request and a parse error, the valid one is answered before the 400', async (t) => {
    await warm();
    const r = await rawRequest(proxy.port, validThenBad.replaceAll('/si/pipe-', '/si/pipe2-'));
    await settle();
    t.match(r.text, /^HTTP\/1\.1 200 /, 'first answered by the pod');
    t.match(r.text, /\r\n\r\n[^]*HTTP\/1\.1 400 [^]*x-glidepath-error: GP_BAD_REQUEST/, 'then the malformed one refused');
    t.equal(responseCount(r.text), 2, 'two responses, no third');
    t.ok(r.closed, 'closed');
    t.ok(arrived(pod.ledger(), '/si/pipe2-valid-1'), 'the valid request reached the pod');
  });

  for (const name of ['dup-host', 'te-identity-chunked', 'absolute-form-other']) {
    t.test(`a request pipelined behind ${name} is never executed upstream`, async (t) => {
      const c = caseNamed(name);
      const token = `/si/behind-${name}`;
      await warm();
      const r = await rawRequest(proxy.port, c.bytes + follow(token));
      await settle();
      assertRefused(t, r, c.expect as Refusal);
      t.notOk(arrived(pod.ledger(), token), 'the pipelined request never reached the pod');
    });
  }

  t.test('after a valid request and a refused one, the third is never executed upstream', async (t) => {
    await warm();
    const r = await rawRequest(proxy.port, `${follow('/si/pipe-valid-2')}${caseNamed('dup-host').bytes}${follow('/si/pipe-after-bad-2')}`);
    await settle();
    t.equal(responseCount(r.text), 2, 'two responses');
    t.ok(r.closed, 'closed');
    t.notOk(arrived(pod.ledger(), '/si/pipe-after-bad-2'), 'never executed');
  });
});

t.test('the same inputs split at byte boundaries get the same answers', async (t) => {
  const representative = [
    'dup-host',
    'host-at',
    'cl-te',
    'te-on-http10',
    'te-identity-chunked',
    'absolute-form-other',
    'version-http20',
    'obs-fold',
    'bare-lf',
    'cl-inner-space',
  ];

  t.test('byte by byte', async (t) => {
    const results = await Promise.all(
      representative.map((name) => send(proxy.port, caseNamed(name), { parts: [...caseNamed(name).bytes], gapMs: 1, waitMs: 5_000 })),
    );
    await settle();
    const ledger = pod.ledger();
    representative.forEach((name, i) => {
      const c = caseNamed(name);
      const e = c.expect as Refusal;
      const r = results[i] as RawResponse;
      t.equal(r.status, e.status, `${name}: status`);
      t.equal(r.headers['x-glidepath-error'], e.code, `${name}: code`);
      t.ok(r.closed, `${name}: closed`);
      t.notOk(arrived(ledger, c.path), `${name}: nothing reached the pod`);
    });
  });

  t.test('split in two at every boundary', async (t) => {
    for (const name of ['dup-host', 'cl-te', 'te-on-http10']) {
      const c = caseNamed(name);
      const e = c.expect as Refusal;
      const splits = Array.from({ length: c.bytes.length - 1 }, (_, i) => i + 1);
      const results = await inBatches(splits, 40, (k) => send(proxy.port, c, { parts: [c.bytes.slice(0, k), c.bytes.slice(k)], gapMs: 5 }));
      const wrong = splits.filter((_, i) => {
        const r = results[i] as RawResponse;
        return r.status !== e.status || r.headers['x-glidepath-error'] !== e.code || !r.closed;
      });
      t.same(wrong, [], `${name}: every one of ${splits.length} splits answered ${e.status} ${e.code} and closed`);
    }
    await settle();
    for (const name of ['dup-host', 'cl-te', 'te-on-http10'])
      t.notOk(arrived(pod.ledger(), caseNamed(name).path), `${name}: nothing reached the pod`);
  });
});

async function rejectedCounts(adminUrl: string): Promise<Record<string, number>> {
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(3_000) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^glidepath_rejected_requests_total\{reason="([a-z_0-9]+)"\} (\d+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

t.test('/metrics counts every refusal under its reason', async (t) => {
  const own = await startProxy(doc);
  t.teardown(() => own.stop());
  const refused = cases.filter((c) => isRefusal(c.expect));
  const expected: Record<string, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0]));
  for (const c of refused) (expected[(c.expect as Refusal).reason] as number)++;
  await Promise.all(refused.map((c) => send(own.port, c)));
  const counts = await rejectedCounts(own.adminUrl);
  t.same(Object.keys(counts).sort(), [...REJECT_REASONS].sort(), 'one series per reason');
  t.same(counts, expected, 'each reason counted once per refused request');
  t.ok(Object.values(expected).filter((n) => n > 0).length >= 12, 'the corpus covers at least 12 reasons');
});

// ---- differential: haproxy and nginx as an outside oracle (docs/reliability-notes.md) ----

interface Oracle {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await sleep(25);
  }
  throw new Error(`not listening on ${port} after 5 s: ${output()}`);
}

async function startOracle(name: string, command: string, args: string[], port: number): Promise<Oracle> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const output = (): string => out;
  await waitForPort(port, child, output);
  return { name, port, child, output };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const HAPROXY = '/usr/sbin/haproxy';
const NGINX = '/usr/sbin/nginx';

t.test('differential: glidepath refuses everything haproxy or nginx refuses', async (t) => {
  const missing = [HAPROXY, NGINX].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    t.plan(0, `${missing.join(' and ')} not installed (apt-get install haproxy nginx); the differential check needs both`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-differential-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [hp, np] = [await unusedPort(), await unusedPort()];
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 5s',
      '  timeout server 5s',
      'frontend fe',
      `  bind 127.0.0.1:${hp}`,
      '  default_backend be',
      'backend be',
      `  server pod ${pod.address}`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${np};
    location / {
      proxy_pass http://${pod.address};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const oracles: Oracle[] = [];
  t.teardown(async () => {
    await Promise.all(oracles.map((o) => stopChild(o.child)));
  });
  oracles.push(await startOracle('haproxy', HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], hp));
  oracles.push(await startOracle('nginx', NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'nginx-error.log')], np));

  const fronts = [...oracles.map((o) => ({ name: o.name, port: o.port })), { name: 'glidepath', port: proxy.port }];
  const diffCases = corpus.filter((c) => c.diff === true);
  const tokenFor = (c: Case, front: string): string => c.path.replace('/si/', `/si-${front}/`);
  await Promise.all(
    fronts.flatMap((f) => diffCases.map((c) => rawRequest(f.port, c.bytes.replaceAll('/si/', `/si-${f.name}/`), { waitMs: 1_500 }))),
  );
  await settle(250);
  const ledger = pod.ledger();
  const forwardedBy = (c: Case, front: string): boolean => arrived(ledger, tokenFor(c, front));

  for (const control of diffCases.filter((c) => c.name.startsWith('control-'))) {
    for (const f of fronts) t.ok(forwardedBy(control, f.name), `${f.name} forwards ${control.name} (the oracle works)`);
  }
  const table: string[] = [];
  let stricter = 0;
  for (const c of diffCases) {
    const haproxy = forwardedBy(c, 'haproxy');
    const nginx = forwardedBy(c, 'nginx');
    const glidepath = forwardedBy(c, 'glidepath');
    table.push(
      `${c.name.padEnd(26)} haproxy ${haproxy ? 'forwards' : 'refuses '}  nginx ${nginx ? 'forwards' : 'refuses '}  glidepath ${glidepath ? 'forwards' : 'refuses'}`,
    );
    if (!haproxy || !nginx)
      t.notOk(
        glidepath,
        `${c.name}: refused by ${!haproxy && !nginx ? 'both' : !haproxy ? 'haproxy' : 'nginx'}, so glidepath refuses it too`,
      );
    if (haproxy && nginx && !glidepath) stricter++;
    t.equal(glidepath, !isRefusal(c.expect), `${c.name}: glidepath ${isRefusal(c.expect) ? 'refuses' : 'forwards'} it as the corpus says`);
  }
  t.comment(`differential (${diffCases.length} cases; glidepath stricter than both on ${stricter}):\n${table.join('\n')}`);
});
