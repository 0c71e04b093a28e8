// Streaming (issue 2, "The request path": streaming both ways with backpressure, no whole-body
// buffering, large uploads and downloads, chunked and content-length, HEAD, Expect: 100-continue).
// glidepath runs as a child process so that its resident memory can be read from /proc while
// hundreds of megabytes pass through it.

import t, { type Test } from 'tap';
import net from 'node:net';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'undici';
import { startPod } from '../../testkit/pods.ts';
import { spawnProxy, type EndpointsDoc } from '../../testkit/proxy.ts';
import { sleep } from '../../testkit/wait.ts';

const MB = 1024 * 1024;
const UPLOAD_BYTES = 50 * MB;
const DOWNLOAD_BYTES = 100_000_000;
/**
 * Most that glidepath's RSS may grow while the far side of a transfer is not reading. Buffering
 * would let the whole body (50-100 MB) pile up; backpressure keeps it to socket and stream buffers.
 * (While data flows, RSS growth mostly shows when V8 collects spent buffers, so the bounded-memory
 * checks are made with a stalled reader, where buffering would show.)
 */
const RSS_GROWTH_LIMIT = 40 * MB;

const docFor = (address: string): EndpointsDoc => ({
  versions: [{ name: 'v1', revision: 1, weight: 10_000 }],
  endpoints: [{ address, version: 'v1' }],
});

const pod = await startPod({ POD_NAME: 'streaming-pod' });
t.teardown(() => pod.stop());
const proxy = await spawnProxy(docFor(pod.address));
t.teardown(() => proxy.stop());
const haveProc = existsSync(`/proc/${proxy.child.pid}/status`);

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Samples a process's RSS every 20 ms while `work` runs; returns its result and the peak growth over the baseline. */
async function withRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  if (!haveProc) return { result: await work(), growth: 0 };
  const baseline = rssOf(pid);
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, rssOf(pid));
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(timer);
  }
}

function assertBounded(t: Test, growth: number, what: string): void {
  if (!haveProc) return void t.comment('no /proc: RSS not checked');
  t.ok(growth < RSS_GROWTH_LIMIT, `glidepath RSS grew ${(growth / MB).toFixed(1)} MB during ${what} (limit ${RSS_GROWTH_LIMIT / MB} MB)`);
}

// Warm up (JIT, pools) so that the baselines are honest.
for (let i = 0; i < 20; i++) {
  const res = await request(`${proxy.url}/bytes/${MB}`, { signal: AbortSignal.timeout(5_000) });
  await res.body.arrayBuffer();
}

/** 1 MiB of random bytes; the upload is this block repeated, each copy with its index stamped in. */
const BLOCK = randomBytes(MB);
function* uploadChunks(total: number): Generator<Buffer> {
  for (let sent = 0, i = 0; sent < total; i++) {
    const chunk = Buffer.from(BLOCK.subarray(0, Math.min(MB, total - sent)));
    chunk.writeUInt32BE(i, 0);
    sent += chunk.length;
    yield chunk;
  }
}
function sha256Of(chunks: Iterable<Buffer>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}
const UPLOAD_HASH = sha256Of(uploadChunks(UPLOAD_BYTES));

for (const framing of ['content-length', 'chunked'] as const) {
  t.test(`a ${UPLOAD_BYTES / MB} MB ${framing} upload streams to the pod and back byte for byte`, async (t) => {
    const id = `upload-${framing}`;
    const { result, growth } = await withRss(proxy.child.pid as number, async () => {
      const res = await request(`${proxy.url}/echo`, {
        method: 'POST',
        headers: {
          'x-test-id': id,
          'content-type': 'application/octet-stream',
          ...(framing === 'content-length' ? { 'content-length': String(UPLOAD_BYTES) } : {}),
        },
        body: Readable.from(uploadChunks(UPLOAD_BYTES)),
        signal: AbortSignal.timeout(30_000),
      });
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      return { status: res.statusCode, bytes, hash: hash.digest('hex') };
    });
    t.equal(result.status, 200);
    t.equal(result.bytes, UPLOAD_BYTES, 'every byte came back');
    t.equal(result.hash, UPLOAD_HASH, 'the same bytes, in order');
    const done = pod.ledger().find((e) => e.id === id && e.ev === 'done');
    t.equal(done?.bytes, UPLOAD_BYTES, 'the pod received the whole body');
    t.comment(`glidepath RSS peak growth during the upload: ${(growth / MB).toFixed(1)} MB`);
  });
}

const A_BLOCK = Buffer.alloc(MB, 0x61);
for (const path of [`/bytes/${DOWNLOAD_BYTES}`, `/bytes/${DOWNLOAD_BYTES}?chunked=1`]) {
  t.test(`a ${DOWNLOAD_BYTES / 1e6} MB download (${path.includes('chunked') ? 'chunked' : 'content-length'}) arrives whole`, async (t) => {
    const { result, growth } = await withRss(proxy.child.pid as number, async () => {
      const res = await request(`${proxy.url}${path}`, { signal: AbortSignal.timeout(30_000) });
      let bytes = 0;
      let intact = true;
      for await (const chunk of res.body) {
        const c = chunk as Buffer;
        if (intact && !c.equals(A_BLOCK.subarray(0, c.length))) intact = false;
        bytes += c.length;
      }
      return { status: res.statusCode, bytes, intact, length: res.headers['content-length'] };
    });
    t.equal(result.status, 200);
    t.equal(result.bytes, DOWNLOAD_BYTES, 'every byte arrived');
    t.ok(result.intact, 'the content is what the pod sent');
    t.equal(
      result.length,
      path.includes('chunked') ? undefined : String(DOWNLOAD_BYTES),
      'content-length passed through when the pod sent one',
    );
    t.comment(`glidepath RSS peak growth during the download: ${(growth / MB).toFixed(1)} MB`);
  });
}

t.test('a client that stops reading stalls the pod (backpressure end to end), and the download completes when it resumes', async (t) => {
  const id = 'slow-reader';
  const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let head = '';
  let bodyBytes = 0;
  let headDone = false;
  let onProgress: () => void = () => undefined;
  socket.on('data', (d: Buffer) => {
    if (!headDone) {
      head += d.toString('latin1');
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      headDone = true;
      bodyBytes = Buffer.byteLength(head.slice(at + 4), 'latin1');
      head = head.slice(0, at);
    } else bodyBytes += d.length;
    onProgress();
  });
  const progress = (pred: () => boolean, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (pred()) return resolve(true);
      const timer = setTimeout(() => resolve(pred()), ms);
      onProgress = () => {
        if (pred()) {
          clearTimeout(timer);
          resolve(true);
        }
      };
    });

  socket.write(`GET /bytes/${DOWNLOAD_BYTES} HTTP/1.1\r\nHost: a\r\nX-Test-Id: ${id}\r\nConnection: close\r\n\r\n`);
  t.ok(await progress(() => headDone, 5_000), 'response head arrived');
  socket.pause();
  // The reader is paused: a bounded wait is the point.
  const { growth } = await withRss(proxy.child.pid as number, () => sleep(1_500));
  const pausedAt = bodyBytes;
  const podEvents = pod
    .ledger()
    .filter((e) => e.id === id)
    .map((e) => e.ev);
  t.same(podEvents, ['recv'], 'after 1.5 s the pod has still not finished writing: its writes are stalled');
  t.ok(pausedAt < DOWNLOAD_BYTES / 2, `the paused client holds ${(pausedAt / MB).toFixed(1)} MB, far from all of it`);
  assertBounded(t, growth, 'the stall');

  socket.resume();
  t.ok(await progress(() => bodyBytes >= DOWNLOAD_BYTES, 20_000), 'after resuming, the whole body arrives');
  t.equal(bodyBytes, DOWNLOAD_BYTES, 'exactly the promised bytes');
  t.match(head, /^HTTP\/1\.1 200 /);
  const deadline = performance.now() + 2_000;
  while (!pod.ledger().some((e) => e.id === id && e.ev === 'done') && performance.now() < deadline) await sleep(20);
  t.ok(
    pod.ledger().some((e) => e.id === id && e.ev === 'done'),
    'the pod finished once the client read',
  );
});

t.test('a pod that stops reading stalls the client upload (backpressure end to end), in bounded memory', async (t) => {
  // The pod accepts the connection and never reads: only buffers between it and the client can fill.
  const sockets = new Set<net.Socket>();
  const deaf = net.createServer((s) => {
    sockets.add(s);
    s.pause();
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        deaf.close(() => resolve());
      }),
  );
  const p = await spawnProxy(docFor(`127.0.0.1:${(deaf.address() as net.AddressInfo).port}`));
  t.teardown(() => p.stop());

  const client = net.connect({ port: p.port, host: '127.0.0.1' });
  t.teardown(() => client.destroy());
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  client.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${UPLOAD_BYTES}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let handedOver = 0;
  let stop = false;
  const pump = (): void => {
    while (!stop && handedOver < UPLOAD_BYTES) {
      handedOver += chunk.length;
      if (!client.write(chunk)) return void client.once('drain', pump);
    }
  };
  const { growth } = await withRss(p.child.pid as number, async () => {
    pump();
    await sleep(1_500); // the pod is not reading: a bounded wait is the point
  });
  stop = true;
  t.ok(handedOver < UPLOAD_BYTES / 2, `the client could hand over only ${(handedOver / MB).toFixed(1)} MB of ${UPLOAD_BYTES / MB} MB`);
  t.ok(handedOver > MB, 'the upload did start (the stall is backpressure, not a refusal)');
  assertBounded(t, growth, 'the stalled upload');
});

/** Raw bytes in, everything until close out (bounded). */
function exchange(bytes: (string | Buffer)[], options: { waitFor100?: boolean } = {}): Promise<{ text: string; before100: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    let before100 = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), before100 });
    }, 5_000);
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), before100 });
    });
    socket.on('connect', async () => {
      const [first, ...rest] = bytes;
      socket.write(first as string | Buffer);
      if (options.waitFor100) {
        const deadline = performance.now() + 2_000;
        while (!Buffer.concat(chunks).toString('latin1').includes('\r\n\r\n') && performance.now() < deadline) await sleep(5);
        before100 = Buffer.concat(chunks).toString('latin1');
      }
      for (const part of rest) socket.write(part);
    });
  });
}

function headsOf(text: string): string[] {
  return text.split('\r\n\r\n').filter((s) => s.startsWith('HTTP/1.1 '));
}
function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', i);
    if (lineEnd < 0) throw new Error('truncated chunked body');
    const size = parseInt(body.subarray(i, lineEnd).toString('latin1').split(';')[0] as string, 16);
    if (size === 0) return Buffer.concat(out);
    out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
}

t.test('HEAD gets the head only: the next response on the connection follows it directly', async (t) => {
  for (const path of ['/bytes/1000', '/bytes/1000?chunked=1']) {
    const { text } = await exchange([
      `HEAD ${path} HTTP/1.1\r\nHost: a\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    ]);
    const [headHead, rest] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
    t.match(headHead, /^HTTP\/1\.1 200 /, `HEAD ${path}: 200`);
    if (!path.includes('chunked')) t.match(headHead, /\r\ncontent-length: 1000(\r\n|$)/i, `HEAD ${path}: the pod's content-length`);
    t.match(rest, /^HTTP\/1\.1 204 /, `HEAD ${path}: no body bytes before the next response`);
  }
});

t.test('Expect: 100-continue: the client gets 100 before it sends the body, then the answer', async (t) => {
  const { text, before100 } = await exchange(
    [
      'POST /echo HTTP/1.1\r\nHost: a\r\nX-Test-Id: expect-100\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n',
      'hello',
    ],
    { waitFor100: true },
  );
  t.equal(before100, 'HTTP/1.1 100 Continue\r\n\r\n', 'exactly an interim 100 before the body was sent');
  const final = text.slice(before100.length);
  t.match(final, /^HTTP\/1\.1 200 /, 'then the final response');
  t.equal(dechunk(Buffer.from(final.slice(final.indexOf('\r\n\r\n') + 4), 'latin1')).toString(), 'hello', 'the body made it through');
  t.equal(pod.ledger().find((e) => e.id === 'expect-100' && e.ev === 'done')?.bytes, 5, 'the pod received the 5 bytes');
});

t.test('a chunked request body reaches the pod with its exact bytes', async (t) => {
  const all = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
  const parts = [all.subarray(0, 1), all.subarray(1, 17), all.subarray(17, 17 + 3000), all.subarray(3017)];
  const body = Buffer.concat([
    ...parts.flatMap((p, i) => [Buffer.from(`${p.length.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n`), p, Buffer.from('\r\n')]),
    Buffer.from('0\r\nX-Trailer: t\r\n\r\n'),
  ]);
  const head = 'POST /echo HTTP/1.1\r\nHost: a\r\nX-Test-Id: chunked-exact\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
  // Sent in pieces that cut through chunk-size lines and data alike.
  const { text } = await exchange([head, body.subarray(0, 5), body.subarray(5, 700), body.subarray(700)]);
  t.match(text, /^HTTP\/1\.1 200 /);
  const echoed = dechunk(Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1'));
  t.equal(echoed.length, all.length, 'same length');
  t.ok(echoed.equals(all), 'same bytes');
  t.equal(pod.ledger().find((e) => e.id === 'chunked-exact' && e.ev === 'done')?.bytes, all.length, 'the pod counted the same bytes');
});

t.test('204 and 304 carry no body: pipelined responses stay aligned', async (t) => {
  const { text } = await exchange([
    'GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/200 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  ]);
  const heads = headsOf(text);
  t.same(
    heads.map((h) => h.slice(0, 12)),
    ['HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200'],
    'three responses, in order',
  );
  for (const h of heads.slice(0, 2)) {
    t.notMatch(h, /\r\ntransfer-encoding:/i, `${h.slice(9, 12)}: no Transfer-Encoding`);
    t.notMatch(h, /\r\ncontent-length: [1-9]/i, `${h.slice(9, 12)}: no non-zero Content-Length`);
  }
  t.match(text, /^HTTP\/1\.1 204 [^]*?\r\n\r\nHTTP\/1\.1 304 [^]*?\r\n\r\nHTTP\/1\.1 200 /, 'no bytes between the heads');
});
