// Time and port helpers for everything that drives glidepath from outside (tests, load tests, the
// bench): a pause, a bounded wait that names what it waited for, a race against a deadline, and a
// free loopback port.

import net from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `fn` every `everyMs` until it returns a truthy value and resolves with that value; rejects
 * after `timeoutMs` with `what` in the message. A throw from `fn` counts as "not yet" (a server
 * still starting refuses connections); the last one is quoted if time runs out.
 */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await sleep(everyMs);
  }
}

/** `promise`, or `fallback` if it takes longer than `ms` (the timer never outlives the race). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => {
        timer = setTimeout(() => resolve(fallback), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A loopback port nobody listens on right now (bound, then closed): a dead upstream, or a port to
 * hand a child process that cannot report the one it bound.
 */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
