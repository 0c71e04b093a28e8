// The demo app: the one program behind every fake pod (tests, the simulated cluster, the demo),
// a real HTTP server whose behaviour and faults come from its environment and a control route.

import http from 'node:http';
import { createHash } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';

/** Behaviour that can change at run time through `POST /__pod/config`. */
export interface Behaviour {
  /** Share of requests (0..1) answered with `failStatus`. */
  failRate: number;
  failStatus: number;
  /** Methods that `failRate` applies to; empty means every method. */
  failMethods: string[];
  /** Added to every response, in milliseconds. */
  latencyMs: number;
  /** Accept requests and never answer them. */
  hang: boolean;
  /** Exit abruptly (code 1) when request number crashAfter + 1 arrives; 0 disables. */
  crashAfter: number;
}

export interface DemoAppOptions extends Behaviour {
  host: string;
  port: number;
  version: string;
  podName: string;
  /** /readyz answers 503 until this long after start. */
  readyDelayMs: number;
  /** On SIGTERM: 'drain' keeps serving for drainMs with `Connection: close`, then closes gracefully; 'exit' exits at once. */
  onSigterm: 'drain' | 'exit';
  drainMs: number;
  /** Node's keepAliveTimeout (sends a `Keep-Alive: timeout=` hint). Ignored when idleCloseMs is set. */
  keepAliveTimeoutMs: number;
  /** Close idle keep-alive sockets after this long with no hint at all (the race the proxy must survive); 0 disables. */
  idleCloseMs: number;
  /** Append one JSON line per request event here (survives SIGKILL: written synchronously). */
  ledgerFile: string;
}

/** Reads options from environment variables (the pod's container env). */
export function demoAppOptionsFromEnv(env: NodeJS.ProcessEnv): DemoAppOptions {
  const num = (name: string, dflt: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`demo app: ${name} must be a number, got "${raw}"`);
    return n;
  };
  const onSigterm = env.ON_SIGTERM ?? 'drain';
  if (onSigterm !== 'drain' && onSigterm !== 'exit') throw new Error(`demo app: ON_SIGTERM must be "drain" or "exit", got "${onSigterm}"`);
  return {
    host: env.HOST ?? '0.0.0.0',
    port: num('PORT', 8080),
    version: env.APP_VERSION ?? 'v1',
    podName: env.POD_NAME ?? hostname(),
    failRate: num('FAIL_RATE', 0),
    failStatus: num('FAIL_STATUS', 500),
    failMethods: (env.FAIL_METHODS ?? '')
      .split(',')
      .map((m) => m.trim().toUpperCase())
      .filter(Boolean),
    latencyMs: num('LATENCY_MS', 0),
    hang: env.HANG === '1' || env.HANG === 'true',
    crashAfter: num('CRASH_AFTER', 0),
    readyDelayMs: num('READY_DELAY_MS', 0),
    onSigterm,
    drainMs: num('DRAIN_MS', 0),
    keepAliveTimeoutMs: num('KEEPALIVE_TIMEOUT_MS', 5_000),
    idleCloseMs: num('IDLE_CLOSE_MS', 0),
    ledgerFile: env.LEDGER_FILE ?? '',
  };
}

/** One line of the pod ledger. */
export interface LedgerEntry {
  /** `x-test-id` of the request, else its `x-request-id`, else ''. */
  id: string;
  method: string;
  path: string;
  /**
   * recv: headers arrived; sent: the handler ended its response (written before those last bytes
   * go out, so a pod SIGKILLed right after answering still shows it answered); done: the response
   * finished; aborted: the connection closed first.
   */
  ev: 'recv' | 'sent' | 'done' | 'aborted';
  status?: number;
  /** Request body bytes received. */
  bytes?: number;
  version: string;
  pod: string;
  t: number;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface DemoApp {
  readonly server: http.Server;
  readonly options: DemoAppOptions;
  /** Starts the SIGTERM behaviour without a signal (tests in one process). */
  terminate(): Promise<void>;
  close(): Promise<void>;
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const behaviour: Behaviour = {
    failRate: options.failRate,
    failStatus: options.failStatus,
    failMethods: options.failMethods,
    latencyMs: options.latencyMs,
    hang: options.hang,
    crashAfter: options.crashAfter,
  };
  const startedAt = Date.now();
  const ledger: LedgerEntry[] = [];
  const ledgerFd = options.ledgerFile ? openSync(options.ledgerFile, 'a') : -1;
  const sockets = new Set<Duplex>();
  const webSockets = new Set<Duplex>();
  let served = 0;
  let draining = false;
  let inFlight = 0;
  const served5xx = { count: 0 };

  const record = (entry: LedgerEntry): void => {
    if (ledgerFd >= 0) writeSync(ledgerFd, `${JSON.stringify(entry)}\n`);
    else ledger.push(entry);
  };

  const server = http.createServer({ keepAliveTimeout: options.idleCloseMs > 0 ? 0 : options.keepAliveTimeoutMs });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (options.idleCloseMs > 0) armIdleClose(socket, options.idleCloseMs);
  });

  server.on('request', (req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] as string;
    if (options.idleCloseMs > 0) disarmIdleClose(req.socket);
    if (path === '/healthz') return void res.end('ok');
    if (path === '/readyz') {
      const ready = !draining && Date.now() - startedAt >= options.readyDelayMs;
      res.statusCode = ready ? 200 : 503;
      return void res.end(ready ? 'ready' : 'not ready');
    }
    if (path.startsWith('/__pod/')) return void control(req, res, path);

    served++;
    if (behaviour.crashAfter > 0 && served > behaviour.crashAfter) process.exit(1);

    const id = headerValue(req, 'x-test-id') || headerValue(req, 'x-request-id');
    const entry: LedgerEntry = {
      id,
      method: req.method ?? '',
      path: url,
      ev: 'recv',
      version: options.version,
      pod: options.podName,
      t: Date.now(),
    };
    record(entry);
    inFlight++;
    let bytes = 0;
    let finished = false;
    res.on('finish', () => {
      finished = true;
      inFlight--;
      if (res.statusCode >= 500) served5xx.count++;
      record({ ...entry, ev: 'done', status: res.statusCode, bytes, t: Date.now() });
      if (options.idleCloseMs > 0 && !req.socket.destroyed) armIdleClose(req.socket, options.idleCloseMs);
    });
    // 'finish' fires a tick after the last write: a SIGKILL in between would leave a response the
    // client read in full with no line in the ledger, so end() itself records 'sent' first.
    const end = res.end as (...args: unknown[]) => http.ServerResponse;
    let sent = false;
    res.end = ((...args: unknown[]) => {
      if (!sent) {
        sent = true;
        record({ ...entry, ev: 'sent', status: res.statusCode, bytes, t: Date.now() });
      }
      return end.apply(res, args);
    }) as typeof res.end;
    res.on('close', () => {
      if (!finished) {
        inFlight--;
        record({ ...entry, ev: 'aborted', bytes, t: Date.now() });
      }
    });
    if (draining) res.setHeader('connection', 'close');
    res.setHeader('x-pod-version', options.version);
    res.setHeader('x-pod-name', options.podName);

    if (behaviour.hang) {
      req.resume();
      return;
    }
    if (path === '/echo') {
      // Stream the body straight back with backpressure; the framing follows Node's choice (chunked).
      res.setHeader('content-type', req.headers['content-type'] ?? 'application/octet-stream');
      req.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      req.pipe(res);
      return;
    }
    const answer = (): void => {
      if (shouldFail(req.method ?? 'GET')) {
        res.statusCode = behaviour.failStatus;
        res.setHeader('content-type', 'application/json');
        return void res.end(JSON.stringify({ error: 'injected failure', version: options.version, pod: options.podName }));
      }
      route(req, res, path, url, bytes);
    };
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      if (behaviour.latencyMs > 0) setTimeout(answer, behaviour.latencyMs);
      else answer();
    });
  });

  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const path = (req.url ?? '/').split('?', 1)[0];
    const key = headerValue(req, 'sec-websocket-key');
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || !key) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (path === '/ws/refuse') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nconnection: close\r\ncontent-length: 7\r\n\r\nrefused');
      return;
    }
    const accept =
      path === '/ws/bad-accept'
        ? 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='
        : createHash('sha1')
            .update(key + WS_GUID)
            .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nx-pod-version: ${options.version}\r\n\r\n`,
    );
    webSockets.add(socket);
    socket.on('close', () => webSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const echo = new WebSocketEcho(socket);
    if (head.length > 0) echo.push(head);
    socket.on('data', (chunk: Buffer) => echo.push(chunk));
  });

  function shouldFail(method: string): boolean {
    if (behaviour.failRate <= 0) return false;
    if (behaviour.failMethods.length > 0 && !behaviour.failMethods.includes(method)) return false;
    return Math.random() < behaviour.failRate;
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse, path: string, url: string, bytes: number): void {
    const parts = path.split('/');
    if (parts[1] === 'bytes') {
      // Download of N bytes, content-length framed unless ?chunked=1.
      const n = Math.min(Number(parts[2]) || 0, 1 << 30);
      res.setHeader('content-type', 'application/octet-stream');
      if (!url.includes('chunked=1')) res.setHeader('content-length', n);
      return void writeBytes(res, n);
    }
    if (parts[1] === 'status') {
      res.statusCode = Number(parts[2]) || 200;
      return void res.end();
    }
    if (parts[1] === 'headers') {
      res.setHeader('content-type', 'application/json');
      return void res.end(
        JSON.stringify({
          rawHeaders: req.rawHeaders,
          url: req.url,
          method: req.method,
          httpVersion: req.httpVersion,
          remoteAddress: req.socket.remoteAddress,
        }),
      );
    }
    if (parts[1] === 'slow') {
      const ms = Number(parts[2]) || 0;
      setTimeout(() => res.end(JSON.stringify({ slept: ms })), ms);
      return;
    }
    if (parts[1] === 'stream') {
      // N chunks, one every `every` ms: a long streaming response for drain tests.
      const n = Number(parts[2]) || 10;
      const every = Number(parts[3]) || 100;
      let i = 0;
      res.setHeader('content-type', 'text/plain');
      const timer = setInterval(() => {
        if (res.destroyed) return void clearInterval(timer);
        res.write(`chunk ${i}\n`);
        if (++i >= n) {
          clearInterval(timer);
          res.end();
        }
      }, every);
      return;
    }
    if (parts[1] === 'truncate') {
      // Promise more than we send, then die: the proxy must never make this look complete.
      const chunked = url.includes('chunked=1');
      const socket = req.socket;
      socket.write(
        chunked
          ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'
          : 'HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nhello',
      );
      setTimeout(() => socket.destroy(), 20);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ version: options.version, pod: options.podName, method: req.method, path: url, bytes }));
  }

  function control(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    res.setHeader('content-type', 'application/json');
    if (path === '/__pod/info') {
      return void res.end(
        JSON.stringify({
          version: options.version,
          pod: options.podName,
          served,
          inFlight,
          served5xx: served5xx.count,
          draining,
          pid: process.pid,
          behaviour,
        }),
      );
    }
    if (path === '/__pod/ledger') return void res.end(JSON.stringify(ledger));
    if (path === '/__pod/config' && req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        try {
          Object.assign(behaviour, JSON.parse(body) as Partial<Behaviour>);
          res.end(JSON.stringify(behaviour));
        } catch (err) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: String(err) }));
        }
      });
      return;
    }
    res.statusCode = 404;
    res.end('{"error":"no such control route"}');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });

  let terminating: Promise<void> | undefined;
  function terminate(): Promise<void> {
    terminating ??= (async () => {
      if (options.onSigterm === 'exit') process.exit(0);
      draining = true;
      // Close tunnels with "going away" so clients reconnect elsewhere.
      for (const ws of webSockets) ws.end(closeFrame(1001));
      if (options.drainMs > 0) await new Promise((r) => setTimeout(r, options.drainMs));
      await close();
    })();
    return terminating;
  }

  function close(): Promise<void> {
    return new Promise<void>((resolve) => {
      server.close(() => {
        if (ledgerFd >= 0) closeSync(ledgerFd);
        resolve();
      });
      server.closeIdleConnections();
      // In-flight requests finish; their sockets close after the response (Connection: close above).
      const poll = setInterval(() => {
        if (inFlight === 0) {
          for (const s of sockets) s.destroy();
          clearInterval(poll);
        }
      }, 10);
    });
  }

  return { server, options, terminate, close };
}

function headerValue(req: http.IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

const BLOCK = Buffer.alloc(64 * 1024, 0x61);

/** Writes n bytes with backpressure. */
function writeBytes(res: http.ServerResponse, n: number): void {
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const size = Math.min(left, BLOCK.length);
      left -= size;
      if (!res.write(size === BLOCK.length ? BLOCK : BLOCK.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

const kIdleTimer = Symbol('idleTimer');
type IdleSocket = Duplex & { [kIdleTimer]?: NodeJS.Timeout | undefined };

function armIdleClose(socket: IdleSocket, ms: number): void {
  disarmIdleClose(socket);
  socket[kIdleTimer] = setTimeout(() => socket.destroy(), ms);
}

function disarmIdleClose(socket: IdleSocket): void {
  const timer = socket[kIdleTimer];
  if (timer) clearTimeout(timer);
  socket[kIdleTimer] = undefined;
}

function closeFrame(code: number): Buffer {
  return Buffer.from([0x88, 0x02, code >> 8, code & 0xff]);
}

/** A minimal RFC 6455 echo: unmasks client frames and sends them back; answers ping and close. */
class WebSocketEcho {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #socket: Duplex;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = (b[0] as number) & 0x0f;
      const masked = ((b[1] as number) & 0x80) !== 0;
      let len = (b[1] as number) & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const maskOffset = offset;
      if (masked) offset += 4;
      if (b.length < offset + len) return;
      const payload = Buffer.from(b.subarray(offset, offset + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (b[maskOffset + (i % 4)] as number);
      this.#buffer = b.subarray(offset + len);
      if (opcode === 0x8) {
        this.#socket.end(closeFrame(payload.length >= 2 ? payload.readUInt16BE(0) : 1000));
        return;
      }
      if (opcode === 0x9) this.#socket.write(frame(0xa, payload));
      else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) this.#socket.write(frame(opcode, payload));
    }
  }
}

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLength(len)]);
  return Buffer.concat([head, payload]);
}

function bigLength(len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(len));
  return b;
}

/**
 * Process entry: start from the environment, handle SIGTERM as configured, print one ready line.
 * EXIT_WITH_PARENT=1 makes the process exit when its parent goes away.
 */
export async function runDemoApp(env: NodeJS.ProcessEnv): Promise<void> {
  const app = await startDemoApp(demoAppOptionsFromEnv(env));
  const addr = app.server.address();
  process.stdout.write(
    `${JSON.stringify({ msg: 'demo app listening', version: app.options.version, pod: app.options.podName, address: addr })}\n`,
  );
  process.on('SIGTERM', () => {
    void app.terminate().then(() => process.exit(0));
  });
  process.on('SIGINT', () => process.exit(0));
  if (env.EXIT_WITH_PARENT === '1') {
    // Tests and the simulated cluster start pods as children; if the parent dies without
    // stopping them (a killed test run), they must not linger holding ports and pipes.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) process.exit(1);
    }, 500).unref();
  }
}
