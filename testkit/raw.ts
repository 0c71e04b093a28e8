// Raw bytes on a real socket: for inputs no well-behaved client library would send.

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
export function rawRequest(port: number, bytes: string | Buffer | (string | Buffer)[], options: { waitMs?: number; gapMs?: number; host?: string } = {}): Promise<RawResponse> {
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
    socket.on('end', () => { closed = true; finish(); });
    socket.on('close', () => { closed = true; finish(); });
    socket.on('error', () => { closed = true; finish(); });
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
