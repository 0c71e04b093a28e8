// Raw bytes on a real socket: for inputs no well-behaved client library would send, and a real
// server to see what Node's parser makes of them.

import { createServer, type IncomingMessage, type ServerOptions } from 'node:http';
import net from 'node:net';
import { sleep } from './wait.ts';

export interface RawResponse {
  /** Everything the server sent. */
  readonly text: string;
  /** Status of the first response, 0 if none. */
  readonly status: number;
  /** Header lines of the first response, lower-cased names. */
  readonly headers: Record<string, string>;
  /** True if the server closed the connection within the wait. */
  readonly closed: boolean;
}

/**
 * Writes `bytes` (string or chunks written `gapMs` apart) and collects the answer until the server
 * closes or `waitMs` passes. Never hangs: the socket is destroyed at the end either way.
 */
export function rawRequest(
  port: number,
  bytes: string | Buffer | (string | Buffer)[],
  options: { waitMs?: number; gapMs?: number; host?: string } = {},
): Promise<RawResponse> {
  const waitMs = options.waitMs ?? 2_000;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: options.host ?? '127.0.0.1' });
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.split('\r\n\r\n', 1)[0] ?? '';
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
      resolve({ text, status: m ? Number(m[1]) : 0, headers, closed });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => {
      closed = true;
      finish();
    });
    socket.on('connect', async () => {
      const parts = Array.isArray(bytes) ? bytes : [bytes];
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        if (options.gapMs) await sleep(options.gapMs);
      }
    });
  });
}

export interface InspectingServer<T> {
  readonly port: number;
  /** Sends raw request bytes and returns what `inspect` made of the parsed request. */
  ask(bytes: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * A real node:http server that answers each request with the JSON of `inspect(req)`, then closes
 * the connection: runs code that takes an IncomingMessage on exactly what Node's parser made of
 * the bytes sent, rather than on a hand-built imitation.
 */
export async function inspectingServer<T>(inspect: (req: IncomingMessage) => T, options: ServerOptions = {}): Promise<InspectingServer<T>> {
  const server = createServer(options, (req, res) => {
    let body: string;
    try {
      body = JSON.stringify({ value: inspect(req) });
    } catch (err) {
      body = JSON.stringify({ error: String(err) });
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async ask(bytes) {
      const r = await rawRequest(port, bytes);
      // Past any interim response (Node answers Expect: 100-continue itself).
      const text = r.text.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      if (!text.startsWith('HTTP/1.1 200 '))
        throw new Error(`Node's parser refused the request (${r.status || 'no answer'}): ${JSON.stringify(bytes)}`);
      // The body is UTF-8 JSON; rawRequest reads bytes as latin1.
      const answer = JSON.parse(Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8')) as
        { value: T } | { error: string };
      if ('error' in answer) throw new Error(answer.error);
      return answer.value;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
