// A loopback port where connect() hangs, for connect-timeout tests that must not depend on the
// machine's routes: a listener whose accept queue is full and that never accepts. Linux then drops
// every new SYN (tcp_conn_request: "if (sk_acceptq_is_full(sk)) goto drop"), so a client sees
// neither a refusal nor a handshake, only SYN retransmits, until its own timeout.

import net from 'node:net';
import { Worker } from 'node:worker_threads';

// The listener lives in a worker thread that blocks in Atomics.wait right after listening: its
// event loop never runs again, so nothing ever calls accept() on the socket, whatever arrives.
const LISTENER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(workerData), 0, 0);
  server.close();
});
`;

export interface Blackhole {
  readonly port: number;
  /** Fill connections that completed their handshake (the kernel queued them, nobody accepted). */
  readonly queued: number;
  close(): Promise<void>;
}

/**
 * Listens with a backlog of 1, never accepts, and fills the accept queue with connections of its
 * own (Linux queues backlog + 1); connecting to `port` afterwards hangs in SYN-SENT.
 */
export async function blackhole(): Promise<Blackhole> {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(LISTENER, { eval: true, workerData: flag });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fill: net.Socket[] = [];
  // Three attempts for a queue of two: the third one's SYN is dropped, which shows the queue is full.
  const connected = await Promise.all(
    Array.from(
      { length: 3 },
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect({ port, host: '127.0.0.1' });
          fill.push(s);
          const timer = setTimeout(() => resolve(false), 300);
          s.once('connect', () => {
            clearTimeout(timer);
            resolve(true);
          });
          s.once('error', () => {
            clearTimeout(timer);
            resolve(false);
          });
        }),
    ),
  );
  return {
    port,
    queued: connected.filter(Boolean).length,
    async close() {
      for (const s of fill) s.destroy();
      const view = new Int32Array(flag);
      Atomics.store(view, 0, 1);
      Atomics.notify(view, 0);
      await worker.terminate();
    },
  };
}
